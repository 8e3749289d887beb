// Speaking instead of typing, through the browser's own speech recognition when it has one.
// Without it (or without a microphone) the mic button says why and typing keeps working.

const MESSAGES = {
  "not-allowed": "Microphone access was refused — you can keep typing.",
  "service-not-allowed": "Speech recognition is not allowed here — you can keep typing.",
  "audio-capture": "No microphone was found — you can keep typing.",
  network: "Speech recognition needs a connection it could not make — you can keep typing.",
  "no-speech": "No speech was heard.",
};

export class SpeechInput {
  /** ``onText(text)``: a finished utterance; ``onState(listening, message)``. */
  constructor({ onText, onState, lang = "en-US" }) {
    this.onText = onText;
    this.onState = onState;
    this.lang = lang;
    this.recognition = null;
    this.listening = false;
    const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
    this.Recognition = typeof Recognition === "function" ? Recognition : null;
  }

  /** Whether this browser can turn speech into text at all. */
  get available() {
    return this.Recognition !== null && Boolean(navigator.mediaDevices || window.isSecureContext);
  }

  get unavailableReason() {
    return "Speech input isn't available in this browser — type your answer instead.";
  }

  toggle() {
    if (this.listening) this.stop();
    else this.start();
  }

  start() {
    if (!this.available || this.listening) return;
    const recognition = new this.Recognition();
    recognition.lang = this.lang;
    recognition.continuous = true;
    recognition.interimResults = false;
    recognition.onresult = (event) => {
      for (let i = event.resultIndex; i < event.results.length; i++) {
        const result = event.results[i];
        if (result.isFinal) {
          const text = result[0].transcript.trim();
          if (text) this.onText(text);
        }
      }
    };
    recognition.onerror = (event) => {
      this._set(false, MESSAGES[event.error] || `Speech input stopped (${event.error}).`);
    };
    recognition.onend = () => {
      if (this.recognition === recognition) this._set(false, null);
    };
    this.recognition = recognition;
    try {
      recognition.start();
      this._set(true, null);
    } catch (error) {
      this._set(false, `Speech input could not start: ${error.message}`);
    }
  }

  stop() {
    const recognition = this.recognition;
    this.recognition = null;
    if (recognition) recognition.abort();
    this._set(false, null);
  }

  _set(listening, message) {
    this.listening = listening;
    if (!listening) this.recognition = null;
    this.onState(listening, message);
  }
}

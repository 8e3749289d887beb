// The microphone: captured in the browser (echo cancellation, noise suppression and auto gain
// on), resampled to 16 kHz PCM16 by an AudioWorklet and sent to the server as 20 ms binary
// frames (docs/protocol.md, "Microphone frames"). The server recognizes the speech: no cloud
// recognizer is involved. Hands-free once the microphone is allowed; hold Space to talk while
// it is off (push-to-talk). Without a microphone the button says why and typing keeps working.

const FRAME_SAMPLES = 320; // 20 ms at 16 kHz
const HEADER_BYTES = 8;
const PREFERENCE_KEY = "visavis.mic";

const FAILURES = {
  NotAllowedError: "Microphone access was refused — you can keep typing.",
  SecurityError: "Microphone access was refused — you can keep typing.",
  NotFoundError: "No microphone was found — you can keep typing.",
  OverconstrainedError: "No usable microphone was found — you can keep typing.",
  NotReadableError: "The microphone is busy in another application — you can keep typing.",
  AbortError: "The microphone could not start — you can keep typing.",
};

/** A microphone frame: the ``M1`` header (magic, reserved, sequence number), then PCM16 LE. */
export function micFrame(seq, pcm) {
  const buffer = new ArrayBuffer(HEADER_BYTES + pcm.length * 2);
  const view = new DataView(buffer);
  view.setUint8(0, 0x4d); // "M"
  view.setUint8(1, 0x31); // "1"
  view.setUint16(2, 0);
  view.setUint32(4, seq >>> 0);
  for (let i = 0; i < pcm.length; i++) view.setInt16(HEADER_BYTES + i * 2, pcm[i], true);
  return buffer;
}

function storedPreference() {
  try {
    return window.localStorage.getItem(PREFERENCE_KEY);
  } catch {
    return null;
  }
}

function storePreference(value) {
  try {
    window.localStorage.setItem(PREFERENCE_KEY, value);
  } catch {
    // not kept across visits
  }
}

export class SpeechInput {
  /**
   * ``send(ArrayBuffer)``: a frame to the server (false when not connected);
   * ``end()``: the microphone stopped sending (push-to-talk released);
   * ``onState({listening, handsFree, talking, message})``; ``onLevel(0..1)``.
   */
  constructor({ send, end, onState, onLevel }) {
    this.send = send;
    this.endAudio = end;
    this.onState = onState;
    this.onLevel = onLevel;
    this.accepted = false; // the server takes our audio (ready.audio_in.accepted)
    this.handsFree = false;
    this.held = false; // push-to-talk key down
    this.stream = null;
    this.context = null;
    this.node = null;
    this.starting = null;
    this.seq = 0;
    this.framesSent = 0;
    this.level = 0;
    this.failure = null;
  }

  /** Whether this browser can capture the microphone at all. */
  get available() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) && typeof AudioWorkletNode === "function";
  }

  get unavailableReason() {
    if (this.failure) return this.failure;
    if (!window.isSecureContext) return "The microphone needs a secure page (https) — type your answer instead.";
    return "This browser cannot capture the microphone — type your answer instead.";
  }

  get listening() {
    return this.stream !== null;
  }

  /** The server's ``ready``: start hands-free unless the person switched the mic off before. */
  serverReady(audioIn) {
    this.accepted = Boolean(audioIn && audioIn.accepted);
    if (!this.accepted) {
      this.failure = "The server does not take voice here — type your answer instead.";
      this.stop();
      return;
    }
    if (this.available && storedPreference() !== "off") this.start({ handsFree: true });
    else this._changed(null);
  }

  toggle() {
    if (this.handsFree) {
      storePreference("off");
      this.stop();
    } else {
      storePreference("on");
      this.start({ handsFree: true });
    }
  }

  /** Push-to-talk: frames flow while the key is held, and the end is told on release. */
  hold(down) {
    if (down === this.held) return;
    this.held = down;
    if (down && !this.listening) this.start({ handsFree: false });
    if (!down && !this.handsFree) this.endAudio();
    this._changed(null);
  }

  async start({ handsFree }) {
    this.handsFree = this.handsFree || handsFree;
    if (!this.available || !this.accepted) {
      this.handsFree = false;
      this._changed(this.available ? this.unavailableReason : null);
      return;
    }
    if (this.listening) {
      this._changed(null);
      return;
    }
    if (!this.starting) this.starting = this._open();
    await this.starting;
    this.starting = null;
  }

  async _open() {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      const context = new AudioContext();
      await context.audioWorklet.addModule(new URL("./mic-worklet.js", import.meta.url));
      const source = context.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(context, "mic-capture", {
        processorOptions: { frameSamples: FRAME_SAMPLES },
      });
      const sink = context.createGain();
      sink.gain.value = 0; // keeps the graph pulling without playing the mic back
      source.connect(node).connect(sink).connect(context.destination);
      node.port.onmessage = (event) => this._frame(event.data.pcm, event.data.level);
      await context.resume();
      this.stream = stream;
      this.context = context;
      this.node = node;
      this.failure = null;
      this._changed(null);
    } catch (error) {
      this.handsFree = false;
      this.failure = FAILURES[error && error.name] || `The microphone could not start (${error && error.message}) — you can keep typing.`;
      this._changed(this.failure);
    }
  }

  _frame(pcm, level) {
    this.level = level;
    const live = this.handsFree || this.held;
    this.onLevel(live ? Math.min(1, level * 4) : 0);
    if (!live) return;
    this.seq = (this.seq + 1) >>> 0;
    if (this.send(micFrame(this.seq, pcm))) this.framesSent += 1;
  }

  stop() {
    this.handsFree = false;
    if (this.node) this.node.port.onmessage = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.context) this.context.close().catch(() => {});
    const wasLive = this.stream !== null;
    this.stream = null;
    this.context = null;
    this.node = null;
    this.onLevel(0);
    if (wasLive) this.endAudio();
    this._changed(null);
  }

  _changed(message) {
    this.onState({
      listening: this.listening && (this.handsFree || this.held),
      handsFree: this.handsFree,
      talking: this.held,
      message,
    });
  }
}

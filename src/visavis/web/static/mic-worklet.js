// The microphone's audio thread: downmix to mono, resample to 16 kHz (averaging the input
// samples that fall into each output sample, which also filters what 16 kHz cannot hold), and
// post 20 ms frames of PCM16 with their level to the page.

const TARGET_RATE = 16000;

class MicCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const frameSamples = (options.processorOptions && options.processorOptions.frameSamples) || 320;
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.frame = new Int16Array(frameSamples);
    this.filled = 0;
    this.sum = 0;
    this.count = 0;
    this.phase = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const length = channels[0].length;
    for (let i = 0; i < length; i++) {
      let value = 0;
      for (const channel of channels) value += channel[i];
      this.sum += value / channels.length;
      this.count += 1;
      this.phase += 1;
      if (this.phase >= this.step) {
        this.phase -= this.step;
        this._emit(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  _emit(sample) {
    const clipped = Math.max(-1, Math.min(1, sample));
    this.energy += clipped * clipped;
    this.frame[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    if (this.filled === this.frame.length) {
      const level = Math.sqrt(this.energy / this.frame.length);
      const pcm = this.frame.slice();
      this.port.postMessage({ pcm, level }, [pcm.buffer]);
      this.filled = 0;
      this.energy = 0;
    }
  }
}

registerProcessor("mic-capture", MicCapture);

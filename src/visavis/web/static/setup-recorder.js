// Recording one voice sample: countdown, level meter, MediaRecorder (WebM/Opus), stop early.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SampleRecorder {
  constructor(meter) {
    this.meter = meter;
    this.stream = null;
    this.context = null;
    this.analyser = null;
    this.recorder = null;
    this.stopEarly = null;
  }

  async open() {
    if (this.stream) return;
    // Raw sound: the cloning service wants the voice, not the browser's processing of it.
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    this.context = new AudioContext();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.context.createMediaStreamSource(this.stream).connect(this.analyser);
    const samples = new Float32Array(this.analyser.fftSize);
    const draw = () => {
      this.analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const dbfs = 20 * Math.log10(Math.sqrt(sum / samples.length) || 1e-6);
      // -60 dBFS .. 0 dBFS on the meter.
      const level = Math.max(0, Math.min(1, (dbfs + 60) / 60));
      this.meter.value = level;
      this.meter.dataset.level = level.toFixed(2);
      requestAnimationFrame(draw);
    };
    draw();
  }

  // Records up to `seconds` (or until stop()); `tick(phase, secondsLeft)` reports progress.
  async record(seconds, countdown, tick) {
    await this.open();
    if (this.context.state === "suspended") await this.context.resume();
    for (let n = countdown; n > 0; n -= 1) {
      tick("countdown", n);
      await sleep(1000);
    }
    const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus")
      ? "audio/webm;codecs=opus" : "";
    const recorder = new MediaRecorder(this.stream, type ? { mimeType: type } : {});
    const parts = [];
    recorder.ondataavailable = (event) => { if (event.data.size) parts.push(event.data); };
    const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
    recorder.start(250);
    this.recorder = recorder;
    const started = performance.now();
    let left = seconds;
    let early = false;
    this.stopEarly = () => { early = true; };
    while (left > 0 && !early) {
      tick("recording", Math.ceil(left));
      await sleep(Math.min(250, left * 1000));
      left = seconds - (performance.now() - started) / 1000;
    }
    recorder.stop();
    await stopped;
    this.recorder = null;
    this.stopEarly = null;
    return new Blob(parts, { type: recorder.mimeType || "audio/webm" });
  }

  stop() {
    if (this.stopEarly) this.stopEarly();
  }
}

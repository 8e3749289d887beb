// The agent's voice: PCM frames played back to back through Web Audio with a small jitter
// buffer. Every utterance keeps the map from its own audio clock (0 = its first sample) to the
// AudioContext clock, so the mouth cues can be placed exactly where their sound plays, even
// when a late frame leaves a gap. Reports playback to the server (docs/protocol.md).

const HEADER_BYTES = 12;
const MAGIC0 = 0x56; // "V"
const MAGIC1 = 0x31; // "1"
// How far ahead of "now" a reply's first frame is scheduled: room for the next frames to
// arrive (the server sends a reply's first ~1.5 s in one burst), small enough not to be heard.
const JITTER_S = 0.025;
const MAX_PENDING_CLOSURES = 1000;
// A frame due sooner than this is late: the utterance pauses and restarts after the buffer.
const MIN_LEAD_S = 0.005;
const REPORT_EVERY_MS = 250;
const TICK_MS = 40;

/** Parse a binary audio frame: ``{utteranceId, seq, samples}`` or ``null`` if it isn't one. */
export function parseFrame(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < HEADER_BYTES) return null;
  const view = new DataView(buffer);
  if (view.getUint8(0) !== MAGIC0 || view.getUint8(1) !== MAGIC1) return null;
  const count = (buffer.byteLength - HEADER_BYTES) >> 1;
  return {
    utteranceId: view.getUint32(4, false),
    seq: view.getUint32(8, false),
    samples: new Int16Array(buffer.slice(HEADER_BYTES, HEADER_BYTES + count * 2)),
  };
}

class Utterance {
  constructor(id) {
    this.id = id;
    this.turnId = null;
    this.cues = [];
    this.durationS = null; // from its visemes; the frames say the same
    this.segments = []; // [{ctx, audio}]: audio time `audio` plays at context time `ctx`
    this.receivedS = 0;
    this.endCtx = 0; // context time at which the audio received so far ends
    this.complete = false; // utterance_end seen: every frame has arrived
    this.sources = new Set();
    this.lastReportMs = -Infinity;
    this.endReported = false;
    this.silenced = false; // stopped before its end (an interruption): the rest is never heard
    this.silencedAt = Infinity; // context time it was stopped at
  }

  get startCtx() {
    return this.segments.length ? this.segments[0].ctx : null;
  }

  /** Its own audio time at context time ``t`` (clamped to what has been received). */
  audioTimeAt(t) {
    let time = 0;
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i];
      if (t < seg.ctx) break;
      const limit = i + 1 < this.segments.length ? this.segments[i + 1].audio : this.receivedS;
      time = Math.min(seg.audio + (t - seg.ctx), limit);
    }
    return time;
  }

  /** Context time at which its own audio time ``a`` plays. */
  contextTimeOf(a) {
    let found = this.segments[0];
    for (const seg of this.segments) if (seg.audio <= a) found = seg;
    return found.ctx + (a - found.audio);
  }

  /** The index of the last cue starting at or before its own audio time ``a`` (-1: none). */
  lastCueStartingBy(a) {
    const cues = this.cues;
    let lo = 0;
    let hi = cues.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cues[mid].t <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The cue index at its own audio time ``a`` (-1 when none covers it). */
  cueIndexAt(a) {
    const found = this.lastCueStartingBy(a);
    if (found < 0 || a >= this.cues[found].t + this.cues[found].d) return -1;
    return found;
  }
}

export class AudioPlayer {
  /**
   * ``onReport(message)`` receives each ``playback`` message to send; ``onTurnAudio(info)``
   * is told when a turn's first audio is scheduled; ``onUtteranceStart(utterance)`` fires
   * when an utterance starts being heard.
   */
  constructor({ sampleRate = 24000, onReport, onTurnAudio, onUtteranceStart } = {}) {
    this.requestedRate = sampleRate;
    this.onReport = onReport || (() => {});
    this.onTurnAudio = onTurnAudio || (() => {});
    this.onUtteranceStart = onUtteranceStart || (() => {});
    this.context = null;
    this.gain = null;
    this.analyser = null;
    this.sampleRate = sampleRate;
    this.utterances = new Map();
    this.turnOfUtterance = new Map();
    this.discardedTurns = -1; // turns up to this id are dropped (interrupted)
    this.turnsWithAudio = new Set();
    this.playhead = 0;
    this.muted = false;
    this.timer = null;
    this.underruns = 0; // frames that arrived after the sound before them had run out
    this.closureCues = 0; // shut-lips (A) cues received
    this.closuresSilenced = 0; // of those, cues an interruption stopped before they were heard
    this.pendingClosures = []; // those not shown yet: {u, index}
  }

  /** Create the AudioContext (call from a user gesture when autoplay is not allowed). */
  ensureContext() {
    if (this.context) return this.context;
    const Context = window.AudioContext || window.webkitAudioContext;
    try {
      this.context = new Context({ sampleRate: this.requestedRate, latencyHint: "interactive" });
    } catch {
      this.context = new Context({ latencyHint: "interactive" });
    }
    this.gain = this.context.createGain();
    this.gain.gain.value = this.muted ? 0 : 1;
    // The analyser passes the sound through unchanged; it lets the page (and its tests) see
    // that sound is really coming out.
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 512;
    this.gain.connect(this.analyser);
    this.analyser.connect(this.context.destination);
    return this.context;
  }

  /** Whether audio can play right now without a user gesture. */
  get running() {
    return this.context !== null && this.context.state === "running";
  }

  async resume() {
    this.ensureContext();
    if (this.context.state !== "running") await this.context.resume();
  }

  /** The sample rate to ask the server for (one the protocol allows). */
  get wantedRate() {
    const rate = this.context ? this.context.sampleRate : this.requestedRate;
    return [16000, 22050, 24000, 48000].includes(rate) ? rate : 24000;
  }

  setSampleRate(rate) {
    this.sampleRate = rate;
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.gain) this.gain.gain.setTargetAtTime(muted ? 0 : 1, this.context.currentTime, 0.01);
  }

  /** Loudness (RMS, 0–1) of what is being played right now, after mute. */
  outputLevel() {
    if (!this.analyser) return 0;
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    return Math.sqrt(sum / samples.length);
  }

  /** Context time being heard at performance time ``perfMs`` (output latency included). */
  contextTimeAt(perfMs) {
    const ctx = this.context;
    if (!ctx) return 0;
    const stamp = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
    if (stamp && stamp.performanceTime > 0) {
      return stamp.contextTime + (perfMs - stamp.performanceTime) / 1000;
    }
    return ctx.currentTime - (ctx.outputLatency || 0) + (perfMs - performance.now()) / 1000;
  }

  /** Performance time (ms) at which context time ``t`` is heard. */
  performanceTimeOf(t) {
    const now = performance.now();
    return now + (t - this.contextTimeAt(now)) * 1000;
  }

  _utterance(id) {
    let u = this.utterances.get(id);
    if (!u) {
      u = new Utterance(id);
      u.turnId = this.turnOfUtterance.get(id) ?? null;
      this.utterances.set(id, u);
    }
    return u;
  }

  /** A ``sentence`` message: which turn the utterance belongs to. */
  setTurn(utteranceId, turnId) {
    this.turnOfUtterance.set(utteranceId, turnId);
    const u = this.utterances.get(utteranceId);
    if (u) u.turnId = turnId;
  }

  /** A ``visemes`` message: the utterance's mouth cues on its own clock. */
  setCues(utteranceId, durationMs, cues) {
    const turnId = this.turnOfUtterance.get(utteranceId);
    if (turnId !== undefined && turnId <= this.discardedTurns) return;
    const u = this._utterance(utteranceId);
    u.cues = Array.isArray(cues) ? cues : [];
    u.durationS = durationMs / 1000;
    u.cues.forEach((cue, index) => {
      if (cue.s !== "A") return;
      this.closureCues += 1;
      this.pendingClosures.push({ u, index });
    });
    // A page that draws no frames (hidden) keeps only the latest closures to show.
    if (this.pendingClosures.length > MAX_PENDING_CLOSURES) {
      this.pendingClosures.splice(0, this.pendingClosures.length - MAX_PENDING_CLOSURES);
    }
  }

  /**
   * The shut-lips cues that start before context time ``t`` and were not shown yet, each
   * returned once: ``[{at, key}]``. A frame shows every one of them, however short: one that
   * fell between two frames, and one whose audio came late and was placed in time a frame
   * had already looked past. Cues an interruption silenced before their time are dropped
   * (never heard) and counted in ``closuresSilenced``.
   */
  closuresDue(t) {
    const due = [];
    this.pendingClosures = this.pendingClosures.filter(({ u, index }) => {
      const cue = u.cues[index];
      // Its place in time is known once its first sample has arrived.
      const placed = u.startCtx !== null && cue.t < u.receivedS;
      const at = placed ? u.contextTimeOf(cue.t) : Infinity;
      if (u.silenced && at >= u.silencedAt) {
        this.closuresSilenced += 1;
        return false;
      }
      if (at >= t) return true;
      due.push({ at, key: `${u.id}:${index}` });
      return false;
    });
    return due;
  }

  _dropped(u) {
    return u.turnId !== null && u.turnId <= this.discardedTurns;
  }

  /** A binary frame from the server. */
  pushFrame(buffer) {
    const frame = parseFrame(buffer);
    if (!frame || !this.context) return;
    const u = this._utterance(frame.utteranceId);
    if (this._dropped(u) || frame.samples.length === 0) return;
    const ctx = this.context;
    const data = new Float32Array(frame.samples.length);
    for (let i = 0; i < data.length; i++) data[i] = frame.samples[i] / 32768;
    const buffer2 = ctx.createBuffer(1, data.length, this.sampleRate);
    buffer2.copyToChannel(data, 0);
    const now = ctx.currentTime;
    let start;
    if (u.segments.length === 0) {
      start = Math.max(this.playhead, now + JITTER_S);
      u.segments.push({ ctx: start, audio: 0 });
      this._firstAudio(u, start);
    } else if (u.endCtx < now + MIN_LEAD_S) {
      start = now + JITTER_S; // a late frame: pause, then go on from where the sound stopped
      u.segments.push({ ctx: start, audio: u.receivedS });
      this.underruns += 1;
    } else {
      start = u.endCtx;
    }
    const source = ctx.createBufferSource();
    source.buffer = buffer2;
    source.connect(this.gain);
    source.onended = () => u.sources.delete(source);
    source.start(start);
    u.sources.add(source);
    u.receivedS += buffer2.duration;
    u.endCtx = start + buffer2.duration;
    this.playhead = Math.max(this.playhead, u.endCtx);
    this._startTicking();
  }

  _firstAudio(u, start) {
    const startPerf = this.performanceTimeOf(start);
    setTimeout(() => this.onUtteranceStart(u), Math.max(0, startPerf - performance.now()));
    if (u.turnId !== null && !this.turnsWithAudio.has(u.turnId)) {
      this.turnsWithAudio.add(u.turnId);
      this.onTurnAudio({ turnId: u.turnId, utteranceId: u.id, startCtx: start, startPerf });
    }
  }

  /** An ``utterance_end`` message: nothing more will arrive for it. */
  endUtterance(utteranceId) {
    const u = this.utterances.get(utteranceId);
    if (u) u.complete = true;
  }

  /** Stop every sound now and drop whatever still arrives for turns up to ``turnId``. */
  stopAll(turnId = null) {
    const heard = this.contextTimeAt(performance.now());
    let highest = this.discardedTurns;
    for (const u of this.utterances.values()) {
      if (u.turnId !== null) highest = Math.max(highest, u.turnId);
      this._silence(u, heard);
    }
    if (turnId !== null) highest = Math.max(highest, turnId);
    this.discardedTurns = highest;
    this.utterances.clear();
    this.playhead = this.context ? this.context.currentTime : 0;
  }

  /** Stop and drop one turn's audio (the server says it was interrupted). */
  stopTurn(turnId) {
    const heard = this.contextTimeAt(performance.now());
    this.discardedTurns = Math.max(this.discardedTurns, turnId);
    for (const [id, u] of this.utterances) {
      if (u.turnId !== null && u.turnId <= turnId) {
        this._silence(u, heard);
        this.utterances.delete(id);
      }
    }
    this._recomputePlayhead();
  }

  _silence(u, heard) {
    u.silenced = true;
    u.silencedAt = heard;
    if (u.startCtx !== null && heard >= u.startCtx && !u.endReported) {
      const position = Math.round(u.audioTimeAt(heard) * 1000);
      this.onReport({ type: "playback", utterance_id: u.id, position_ms: position, ended: false });
      u.endReported = true;
    }
    for (const source of u.sources) {
      try {
        source.stop();
      } catch {
        // already stopped
      }
    }
    u.sources.clear();
  }

  _recomputePlayhead() {
    let end = this.context ? this.context.currentTime : 0;
    for (const u of this.utterances.values()) end = Math.max(end, u.endCtx);
    this.playhead = end;
  }

  /** A new connection: forget every utterance (ids start again at 1). */
  reset() {
    this.stopAll();
    this.discardedTurns = -1;
    this.turnOfUtterance.clear();
    this.turnsWithAudio.clear();
  }

  /** What is heard at context time ``t``: ``{utterance, audioTime}`` or ``null``. */
  at(t) {
    for (const u of this.utterances.values()) {
      const start = u.startCtx;
      if (start === null || t < start) continue;
      if (t < u.endCtx) return { utterance: u, audioTime: u.audioTimeAt(t) };
    }
    return null;
  }

  /** The mouth at context time ``t``: ``{shape, cueStartCtx, key}``; rest (X) between cues. */
  mouthAt(t) {
    const heard = this.at(t);
    if (!heard) return { shape: "X", cueStartCtx: null, key: null };
    const u = heard.utterance;
    const index = u.cueIndexAt(heard.audioTime);
    if (index < 0) return { shape: "X", cueStartCtx: null, key: null };
    const cue = u.cues[index];
    return { shape: cue.s, cueStartCtx: u.contextTimeOf(cue.t), key: `${u.id}:${index}` };
  }

  /**
   * The shut-lips cues (A) that lie wholly after context time ``t0`` and before ``t1`` — ones
   * that looking once per frame would never show: ``[{at, key}]``, ``at`` when each starts.
   * Every utterance heard in between counts (a closure may end one, or start the next).
   */
  closuresBetween(t0, t1) {
    const found = [];
    if (t1 <= t0) return found;
    for (const u of this.utterances.values()) {
      const start = u.startCtx;
      if (start === null || start >= t1 || u.endCtx <= t0) continue;
      const from = t0 < start ? -Infinity : u.audioTimeAt(t0);
      const to = t1 >= u.endCtx ? Infinity : u.audioTimeAt(t1);
      const cues = u.cues;
      for (let i = u.lastCueStartingBy(from) + 1; i < cues.length && cues[i].t < to; i++) {
        if (cues[i].s === "A" && cues[i].t + cues[i].d <= to) {
          found.push({ at: u.contextTimeOf(cues[i].t), key: `${u.id}:${i}` });
        }
      }
    }
    return found;
  }

  /** Whether any audio is playing or waiting to play. */
  get busy() {
    return this.utterances.size > 0 && this.context !== null && this.playhead > this.context.currentTime;
  }

  _startTicking() {
    if (this.timer === null) this.timer = setInterval(() => this._tick(), TICK_MS);
  }

  _tick() {
    const nowMs = performance.now();
    const heard = this.contextTimeAt(nowMs);
    for (const [id, u] of this.utterances) {
      const start = u.startCtx;
      if (start === null || heard < start || u.endReported) continue;
      if (u.complete && heard >= u.endCtx) {
        const duration = Math.round((u.durationS ?? u.receivedS) * 1000);
        this.onReport({ type: "playback", utterance_id: id, position_ms: duration, ended: true });
        u.endReported = true;
      } else if (nowMs - u.lastReportMs >= REPORT_EVERY_MS) {
        const position = Math.round(u.audioTimeAt(heard) * 1000);
        this.onReport({ type: "playback", utterance_id: id, position_ms: position, ended: false });
        u.lastReportMs = nowMs;
      }
    }
    // Forget utterances that have been heard to the end.
    for (const [id, u] of this.utterances) {
      if (u.endReported && heard > u.endCtx + 0.5) this.utterances.delete(id);
    }
    if (this.utterances.size === 0) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  close() {
    this.stopAll();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close();
  }
}

// Drives the face from the audio clock, once per display frame.
//
// Each frame asks the player what will be heard when this frame reaches the screen (the rAF
// time plus one frame, mapped onto the AudioContext clock through its output timestamp) and
// shows the mouth shape whose cue covers that moment. Half a frame of look-ahead centres the
// frame grid on the cue times; the visible mouth also leads slightly so its blend toward a
// shape is under way when the sound begins (a mouth that trails the sound is noticed sooner
// than one that leads it). A closure (P, B, M) shorter than a frame, which that look would
// skip, is shown on the frame after it: lips that never meet on "bob" are seen at once.

const VISUAL_LEAD_S = 0.02;
const LOG_LIMIT = 5000;

function pushBounded(list, item) {
  list.push(item);
  if (list.length > LOG_LIMIT) list.splice(0, list.length - LOG_LIMIT);
}

export class LipsyncDriver {
  constructor({ face, avatarEl, player }) {
    this.face = face;
    this.avatarEl = avatarEl;
    this.player = player;
    this.shape = "X";
    this.frameMs = 1000 / 60;
    this.lastTs = null;
    this.frameCount = 0;
    this.lowFrameRate = false;
    this.visible = true;
    this.running = false;
    this.changes = []; // {shape, at, cueAt, errorMs}: times on the audio clock (s)
    this.closuresShown = 0; // shut-lips cues shown on at least one frame
    this.lastFaceAt = null; // the audio-clock time the face last looked at
    this.frames = []; // {t, speaking}: rAF timestamps (ms)
    this._onFrame = (ts) => this._frame(ts);
  }

  start() {
    if (this.running) return;
    this.running = true;
    requestAnimationFrame(this._onFrame);
  }

  stop() {
    this.running = false;
  }

  /** ``low`` quality draws the face at half the display rate. */
  setQuality(level) {
    this.lowFrameRate = level === "low";
    this.face.setDetail(level);
  }

  setVisible(visible) {
    this.visible = visible;
  }

  clearLogs() {
    this.changes = [];
    this.frames = [];
    this.closuresShown = 0;
  }

  _frame(ts) {
    if (!this.running) return;
    requestAnimationFrame(this._onFrame);
    const dt = this.lastTs === null ? this.frameMs : ts - this.lastTs;
    this.lastTs = ts;
    if (dt > 4 && dt < 50) this.frameMs += (dt - this.frameMs) * 0.05;
    const shownAt = this.player.contextTimeAt(ts + this.frameMs);
    const half = this.frameMs / 2000;
    let mouth = this.player.mouthAt(shownAt + half);
    // Closures not shown yet that start by this frame: it shows them (a slow frame may hold
    // several, a closure shorter than a frame is one of them).
    const due = this.player.closuresDue(shownAt + half);
    this.closuresShown += due.length;
    if (mouth.shape !== "A" && due.length) {
      mouth = { shape: "A", cueStartCtx: due[0].at, key: due[0].key };
    }
    const speaking = this.player.at(shownAt) !== null;
    if (mouth.shape !== this.shape) {
      this.shape = mouth.shape;
      this.avatarEl.dataset.mouth = mouth.shape;
      if (mouth.cueStartCtx !== null) {
        pushBounded(this.changes, {
          shape: mouth.shape,
          at: shownAt,
          cueAt: mouth.cueStartCtx,
          errorMs: (shownAt - mouth.cueStartCtx) * 1000,
        });
      }
    }
    pushBounded(this.frames, { t: ts, speaking });
    this.frameCount += 1;
    if (!this.visible || (this.lowFrameRate && this.frameCount % 2 === 1)) return;
    this.face.setTarget(this._faceShape(shownAt + VISUAL_LEAD_S, this.lastFaceAt));
    this.lastFaceAt = shownAt + VISUAL_LEAD_S;
    this.face.setSpeaking(speaking);
    this.face.render(ts, this.lowFrameRate ? dt * 2 : dt);
  }

  /** The face's shape for audio-clock time ``t``: A if a closure was skipped since ``previous``. */
  _faceShape(t, previous) {
    const shape = this.player.mouthAt(t).shape;
    if (shape === "A" || previous === null) return shape;
    return this.player.closuresBetween(previous, t).length ? "A" : shape;
  }

  /** Frames per second over the frames drawn while speech was heard. */
  speakingFps() {
    let frames = 0;
    let spanMs = 0;
    for (let i = 1; i < this.frames.length; i++) {
      const a = this.frames[i - 1];
      const b = this.frames[i];
      if (a.speaking && b.speaking) {
        frames += 1;
        spanMs += b.t - a.t;
      }
    }
    return { fps: spanMs > 0 ? (frames * 1000) / spanMs : null, frames };
  }
}

// The page's elements and how they change: which avatar view is showing, which controls are
// usable, notices, and the start / retry / restart prompts.

const $ = (id) => document.getElementById(id);

export class Page {
  constructor() {
    this.enabled = false;
    this.avatarAvailable = false;
    this.canRestart = true;
    this.app = $("app");
    this.stage = $("stage");
    this.avatar = $("avatar");
    this.providerBox = $("provider-box");
    this.audioOnly = $("audio-only");
    this.audioOnlyText = $("audio-only-text");
    this.status = $("status");
    this.statusText = $("status-text");
    this.badge = $("degraded-badge");
    this.live = $("live");
    this.liveLabel = $("live-label");
    this.transcript = $("transcript");
    this.composer = $("composer");
    this.input = $("chat-input");
    this.send = $("send");
    this.mic = $("mic");
    this.micHint = $("mic-hint");
    this.mute = $("mute");
    this.toggleAvatar = $("toggle-avatar");
    this.interrupt = $("interrupt");
    this.end = $("end");
    this.quality = $("quality");
    this.noticeEl = $("notice");
    this.startOverlay = $("start-overlay");
    this.startButton = $("start");
    this.startText = $("start-text");
    this.retryButton = $("retry");
    this.restartButton = $("restart");
  }

  /** Conversation controls usable (connected) or not; typing stays possible meanwhile. */
  setEnabled(enabled) {
    this.enabled = enabled;
    for (const control of [this.send, this.interrupt, this.end]) control.disabled = !enabled;
    this.toggleAvatar.disabled = !enabled || !this.avatarAvailable;
    this.app.dataset.connected = String(enabled);
  }

  /** The conversation is over: nothing more can be sent. */
  setEnded() {
    this.setEnabled(false);
    this.input.disabled = true;
    this.mic.disabled = true;
  }

  /** ``local`` (the drawn face), ``provider`` / ``provider-pending`` (video), ``audio``. */
  setAvatarMode(mode, { available, enabled }) {
    this.app.dataset.avatarMode = mode;
    this.avatar.hidden = mode !== "local";
    this.providerBox.hidden = mode !== "provider";
    this.audioOnly.hidden = mode === "local" || mode === "provider";
    this.audioOnlyText.textContent =
      mode === "provider-pending" ? "Connecting the avatar…" : "Audio only";
    this.toggleAvatar.setAttribute("aria-pressed", String(enabled));
    this.toggleAvatar.querySelector(".label").textContent = enabled ? "Avatar on" : "Avatar off";
    this.avatarAvailable = available;
    this.toggleAvatar.disabled = !available || !this.enabled;
    this.toggleAvatar.title = available
      ? "Show or hide the avatar (Alt+V)"
      : "This conversation has no avatar";
  }

  /** The provider's video is playing (or no longer). */
  setProviderPlaying(playing) {
    this.providerBox.dataset.playing = String(playing);
  }

  setMuted(muted) {
    this.mute.setAttribute("aria-pressed", String(muted));
    this.mute.querySelector(".label").textContent = muted ? "Sound off" : "Sound on";
  }

  setMic({ available, listening, reason, talking = false }) {
    this.mic.disabled = !available;
    this.mic.setAttribute("aria-pressed", String(listening));
    this.mic.querySelector(".label").textContent = talking ? "Talking" : listening ? "Mic on" : "Mic off";
    this.mic.title = available ? "Speak hands-free (or hold Space to talk)" : reason;
    this.micHint.textContent = available ? "" : reason;
  }

  /** The microphone's level, 0..1, on a small meter in the mic button. */
  setMicLevel(level) {
    if (!this.micMeter) {
      this.micMeter = document.createElement("span");
      this.micMeter.className = "mic-level";
      this.micMeter.setAttribute("aria-hidden", "true");
      this.mic.appendChild(this.micMeter);
    }
    this.micMeter.style.setProperty("--level", level.toFixed(2));
  }

  notice(text) {
    this.noticeEl.textContent = text;
    this.noticeEl.hidden = !text;
  }

  /** The start prompt, shown when the browser needs a click before it may play sound. */
  showStart(text) {
    this.startOverlay.hidden = false;
    if (text) this.startText.textContent = text;
    this.startButton.focus();
  }

  hideStart() {
    this.startOverlay.hidden = true;
  }

  showRetry(shown) {
    this.retryButton.hidden = !shown;
  }

  showRestart(shown) {
    this.restartButton.hidden = !shown || !this.canRestart;
  }
}

// The status overlay on the avatar (with a human message, read out by screen readers through
// its aria-live region) and the live indicator in the top bar.

const MESSAGES = {
  starting: "Press Start to begin the conversation",
  connecting: "Connecting…",
  reconnecting: "Connection lost — reconnecting…",
  listening: "Listening — your turn",
  thinking: "AI is thinking…",
  speaking: "Speaking",
  degraded: "The avatar video could not be shown — continuing with voice only",
  audio_only: "Audio only",
  ended: "The conversation has ended",
  error: "Something went wrong",
};

const REASONS = {
  connection_failed: "the avatar video could not connect",
  timeout: "the avatar video took too long to start",
  provider_error: "the avatar service reported an error",
  quota_exceeded: "the avatar minutes for this month are used up",
  media_lost: "the avatar video was lost",
};

/** A sentence for an avatar fallback reason code. */
export function reasonText(reason, detail) {
  if (detail) return detail;
  return REASONS[reason] || (reason ? reason.replaceAll("_", " ") : "");
}

export class StatusView {
  constructor({ statusEl, textEl, liveEl, liveLabelEl, badgeEl }) {
    this.statusEl = statusEl;
    this.textEl = textEl;
    this.liveEl = liveEl;
    this.liveLabelEl = liveLabelEl;
    this.badgeEl = badgeEl;
    this.state = null;
  }

  /** Show ``state`` (a key of MESSAGES or a server state) with an optional message. */
  show(state, message = null) {
    this.state = state;
    this.statusEl.dataset.state = state;
    const text = message || MESSAGES[state] || state;
    if (this.textEl.textContent !== text) this.textEl.textContent = text;
    this.statusEl.classList.toggle("quiet", state === "listening" || state === "speaking");
  }

  /** The small persistent badge for a degraded conversation (``null`` hides it). */
  degraded(reason, detail) {
    if (!reason) {
      this.badgeEl.hidden = true;
      this.badgeEl.textContent = "";
      return;
    }
    this.badgeEl.hidden = false;
    this.badgeEl.textContent = `Voice only: ${reasonText(reason, detail)}`;
  }

  /** ``live`` | ``connecting`` | ``offline``. */
  live(kind) {
    this.liveEl.dataset.live = kind;
    this.liveLabelEl.textContent = kind === "live" ? "Live" : kind === "connecting" ? "Connecting" : "Offline";
  }
}

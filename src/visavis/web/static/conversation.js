// One conversation on the page: server messages in (docs/protocol.md), user actions out, and
// what the page shows in between (avatar mode, status, transcript, audio).

import { reasonText } from "./status.js";

const DEGRADED_NOTICE_MS = 4000;
const NOTICE_MS = 6000;
const ERROR_MESSAGES = {
  avatar_unavailable: "This conversation has no avatar to show.",
  text_too_long: "That answer is too long — please shorten it.",
  agent_unavailable: "The AI could not answer just now — please try again.",
  internal: "The reply failed unexpectedly — please try again.",
};
const CLOSE_MESSAGES = {
  unauthorized: "This conversation link is no longer valid. Ask for a new link.",
  not_found: "This conversation does not exist.",
  ended: "The conversation has ended.",
  replaced: "The conversation was opened in another window.",
  refused: "The server refused this page's connection.",
  unreachable: "The server cannot be reached. Check your connection and try again.",
};

export class Conversation {
  constructor({ ui, player, driver, transcript, status, media }) {
    this.ui = ui;
    this.player = player;
    this.driver = driver;
    this.transcript = transcript;
    this.status = status;
    this.media = media;
    this.connection = null;
    this.connectionState = "idle";
    this.serverState = null;
    this.avatar = null;
    this.wantAvatar = true; // the user's choice, asked for again on a reconnection
    this.mode = "local";
    this.mediaState = null;
    this.degradedAt = -Infinity;
    this.degradedReason = null;
    this.ended = false;
    this.closeInfo = null;
    this.maxTurn = 0;
    this.sentences = new Map(); // utterance id -> {turnId, text}
    this.pendingSend = null;
    this.turns = []; // {turnId, sentAt, firstAudioAt, latencyMs}
    this.metrics = [];
    this.statusHistory = [];
    this.noticeTimer = null;
    this.statusTimer = null;
  }

  attach(connection) {
    this.connection = connection;
  }

  // --- the connection -----------------------------------------------------------------

  connectionChanged(kind, detail) {
    this.connectionState = kind;
    if (kind === "closed") {
      this.closeInfo = detail;
      this.status.live("offline");
      if (detail.reason === "ended") this._ended(null);
      this.player.stopAll();
      this.media.leave();
      this.ui.setEnabled(false);
      this.ui.showRetry(detail.reason === "unreachable");
    } else if (kind === "open") {
      this.status.live("live");
      this.ui.setEnabled(true);
      this.ui.showRetry(false);
    } else {
      this.status.live("connecting");
    }
    this.render();
  }

  handle(message) {
    switch (message.type) {
      case "ready":
        return this._ready(message);
      case "state":
        return this._state(message);
      case "agent_delta":
        this._turnSeen(message.turn_id);
        return undefined;
      case "sentence":
        return this._sentence(message);
      case "visemes":
        return this.player.setCues(message.utterance_id, message.duration_ms, message.cues);
      case "utterance_end":
        return this.player.endUtterance(message.utterance_id);
      case "turn_end":
        this._turnSeen(message.turn_id);
        if (message.interrupted) this.player.stopTurn(message.turn_id);
        return undefined;
      case "transcript":
        return this.transcript.settle(message.entry);
      case "metrics":
        this.metrics.push(message);
        return undefined;
      case "provider_message":
        if (!this.media.relay(message.data)) console.warn("provider message with no provider media to relay it");
        return undefined;
      case "avatar":
        return this._applyAvatar(message);
      case "error":
        return this.notice(ERROR_MESSAGES[message.code] || message.message);
      case "end":
        return this._ended(message.reason);
      default:
        return undefined;
    }
  }

  audio(buffer) {
    this.player.pushFrame(buffer);
  }

  _ready(message) {
    this.player.reset();
    this.player.setSampleRate(message.audio.sample_rate);
    this.sentences.clear();
    this.serverState = message.state;
    if (message.resumed || (message.transcript && message.transcript.length)) {
      this.transcript.rebuild(message.transcript || []);
    }
    this._applyAvatar(message.avatar);
    this.render();
  }

  _state(message) {
    this.serverState = message.state;
    if (message.degraded && this.degradedReason === null) this._degrade(message.reason, null);
    this.render();
  }

  _turnSeen(turnId) {
    if (typeof turnId === "number") this.maxTurn = Math.max(this.maxTurn, turnId);
  }

  _sentence(message) {
    this._turnSeen(message.turn_id);
    this.player.setTurn(message.utterance_id, message.turn_id);
    if (this.media.active) {
      this.transcript.addAgentSentence(message.turn_id, message.text); // the provider speaks it
    } else {
      this.sentences.set(message.utterance_id, { turnId: message.turn_id, text: message.text });
    }
  }

  /** The player started playing an utterance: its sentence joins the transcript. */
  utteranceStarted(utterance) {
    const sentence = this.sentences.get(utterance.id);
    if (!sentence || utterance.turnId === null || utterance.turnId <= this.player.discardedTurns) return;
    this.sentences.delete(utterance.id);
    this.transcript.addAgentSentence(sentence.turnId, sentence.text);
  }

  /** The player scheduled a turn's first audio: the reply latency of the last send. */
  turnAudio({ turnId, startPerf }) {
    const send = this.pendingSend;
    if (!send || turnId <= send.afterTurn) return;
    this.pendingSend = null;
    this.turns.push({ turnId, sentAt: send.sentAt, firstAudioAt: startPerf, latencyMs: startPerf - send.sentAt });
  }

  // --- the avatar ---------------------------------------------------------------------

  _applyAvatar(avatar) {
    this.avatar = avatar || null;
    if (avatar && avatar.fallback === "audio") this._degrade(avatar.reason, avatar.detail);
    let mode = "audio";
    if (avatar && avatar.enabled) {
      if (avatar.media) mode = "provider";
      else if (!avatar.provider || avatar.provider === "local") mode = "local";
      else mode = "provider-pending";
    }
    this.mode = mode;
    if (mode === "provider" && this.degradedReason !== null) {
      this.degradedReason = null; // the avatar is back
      this.status.degraded(null);
    }
    if (mode === "provider") {
      this.media.join(avatar.media);
    } else if (this.media.active || this.mediaState === "connecting") {
      this.mediaState = null;
      this.media.leave();
    }
    this.ui.setAvatarMode(mode, {
      available: Boolean(avatar && avatar.provider),
      enabled: Boolean(avatar && avatar.enabled),
    });
    this.driver.setVisible(mode === "local");
    this.render();
  }

  /** The provider's media changed: tell the server, which falls back on ``failed``. */
  mediaChanged(status, reason, detail) {
    this.mediaState = status;
    if (status === "connected") {
      this.connection.send({ type: "avatar_status", status: "connected" });
      this.ui.setProviderPlaying(true);
    } else if (status === "failed") {
      this.ui.setProviderPlaying(false);
      this.connection.send({ type: "avatar_status", status: "failed", reason: reason || "connection_failed" });
      if (detail) console.warn(`avatar media: ${detail}`);
    }
    this.render();
  }

  _degrade(reason, detail) {
    const code = reason || "degraded";
    if (this.degradedReason === code && performance.now() - this.degradedAt < 10000) return;
    this.degradedReason = code;
    this.degradedAt = performance.now();
    this.status.degraded(this.degradedReason, detail);
    this.transcript.note(`Continuing with voice only: ${reasonText(reason, detail)}.`);
    clearTimeout(this.statusTimer);
    this.statusTimer = setTimeout(() => this.render(), DEGRADED_NOTICE_MS + 50);
  }

  // --- user actions ---------------------------------------------------------------------

  get agentBusy() {
    return this.serverState === "thinking" || this.serverState === "speaking" || this.player.busy;
  }

  /** Send the user's text; ``sentAt`` is the performance time of the click or key press. */
  sendText(text, sentAt = performance.now()) {
    const clean = text.trim();
    if (!clean || this.ended) return false;
    if (!this.connection || !this.connection.isOpen) {
      this.notice("Not connected — your answer was not sent. Reconnecting…");
      return false;
    }
    if (this.agentBusy) this.player.stopAll(this.maxTurn); // barge-in: the server stops too
    this.connection.send({ type: "user_text", text: clean });
    this.pendingSend = { sentAt, afterTurn: this.maxTurn };
    this.transcript.addUser(clean);
    return true;
  }

  interrupt() {
    if (this.ended || !this.connection) return;
    this.player.stopAll(this.maxTurn);
    this.connection.send({ type: "interrupt" });
  }

  toggleAvatar() {
    if (this.ended || !this.connection || !this.avatar || !this.avatar.provider) return;
    this.wantAvatar = !this.avatar.enabled;
    this.connection.send({ type: "avatar_toggle", enabled: this.wantAvatar });
  }

  setQuality(level) {
    this.media.setQuality(level);
    this.driver.setQuality(level);
  }

  setMuted(muted) {
    this.player.setMuted(muted);
    this.media.setMuted(muted);
  }

  end() {
    if (this.ended) return;
    if (this.connection && this.connection.send({ type: "end" })) return; // the server confirms
    this._ended("ended_by_client");
  }

  _ended(reason) {
    if (this.ended) return;
    this.ended = true;
    this.player.stopAll(this.maxTurn);
    this.media.leave();
    this.ui.setEnded();
    this.ui.showRestart(true);
    this.transcript.note(reason === "agent_closed" ? "The interviewer closed the conversation." : "The conversation has ended.");
    this.render();
  }

  notice(text) {
    this.ui.notice(text);
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => this.ui.notice(""), NOTICE_MS);
  }

  // --- status -------------------------------------------------------------------------

  render() {
    const [state, message] = this._status();
    if (this.statusHistory[this.statusHistory.length - 1] !== state) {
      this.statusHistory.push(state);
      if (this.statusHistory.length > 200) this.statusHistory.shift();
    }
    this.status.show(state, message);
  }

  _status() {
    if (this.ended) return ["ended", null];
    if (this.connectionState === "closed") {
      return ["error", CLOSE_MESSAGES[this.closeInfo.reason] || "The connection was closed."];
    }
    if (this.connectionState === "reconnecting") return ["reconnecting", null];
    if (this.connectionState !== "open") return ["connecting", null];
    if (this.mediaState === "connecting") return ["connecting", "Connecting the avatar video…"];
    if (performance.now() - this.degradedAt < DEGRADED_NOTICE_MS) return ["degraded", null];
    switch (this.serverState) {
      case "thinking":
        return ["thinking", null];
      case "speaking":
        return ["speaking", this.degradedReason ? "Speaking (voice only)" : null];
      case "error":
        return ["error", "Something went wrong with the last reply — please try again."];
      case "listening":
      case "ready":
        return ["listening", null];
      default:
        return ["connecting", null];
    }
  }
}

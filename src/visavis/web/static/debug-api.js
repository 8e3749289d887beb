// ``window.visavis``: a small, stable read-out of the page for tests, benchmarks and embedders
// (documented in docs/browser.md). Times are milliseconds on the page's performance clock
// unless a name says otherwise; audio-clock times are AudioContext seconds.

export function installDebugApi({ conversation, player, driver, speech = null }) {
  const api = {
    version: 1,
    /** The microphone: ``{available, accepted, listening, handsFree, framesSent, level, failure}``. */
    mic() {
      if (!speech) return null;
      return {
        available: speech.available,
        accepted: speech.accepted,
        listening: speech.listening,
        handsFree: speech.handsFree,
        framesSent: speech.framesSent,
        level: speech.level,
        failure: speech.failure,
      };
    },
    /** Connection, server state, avatar view and controls at a glance. */
    state() {
      return {
        connection: conversation.connectionState,
        conversationState: conversation.serverState,
        status: conversation.statusHistory[conversation.statusHistory.length - 1] || null,
        avatarMode: conversation.mode,
        avatar: conversation.avatar,
        mediaState: conversation.mediaState,
        degradedReason: conversation.degradedReason,
        ended: conversation.ended,
        mouth: driver.shape,
      };
    },
    /** Every status the overlay has shown, oldest first (bounded). */
    statusHistory() {
      return conversation.statusHistory.slice();
    },
    /** Per reply to a send: ``{turnId, sentAt, firstAudioAt, latencyMs}``; ``firstAudioAt`` is
     * when the reply's first sample is heard (its Web Audio start time, output latency included). */
    turns() {
      return conversation.turns.map((turn) => ({ ...turn }));
    },
    /** Per mouth change: ``{shape, at, cueAt, errorMs}``; ``at`` is when the first frame with
     * the new shape is shown, ``cueAt`` when its cue's sound plays (audio clock, seconds). */
    mouthChanges() {
      return driver.changes.map((change) => ({ ...change }));
    },
    /** Shut-lips (A) cues: ``{received, shown, silenced}``; ``shown`` counts those the mouth
     * showed on at least one frame (one shorter than a frame is shown on the frame after it),
     * ``silenced`` those an interruption stopped before they were heard. */
    closures() {
      return {
        received: player.closureCues,
        shown: driver.closuresShown,
        silenced: player.closuresSilenced,
      };
    },
    /** Face frame rate while speech is heard: ``{fps, frames}``. */
    fps() {
      return driver.speakingFps();
    },
    /** The audio engine: ``{running, busy, level, underruns, contextTime, sampleRate}``;
     * ``level`` is the loudness (RMS) of the sound output now, after mute; ``underruns`` counts
     * frames that arrived after the sound before them had run out. */
    audio() {
      const ctx = player.context;
      return {
        running: player.running,
        busy: player.busy,
        level: player.outputLevel(),
        underruns: player.underruns,
        contextTime: ctx ? ctx.currentTime : null,
        sampleRate: ctx ? ctx.sampleRate : null,
      };
    },
    /** Server metrics messages received (``first_audio_ms`` and so on). */
    metrics() {
      return conversation.metrics.map((m) => ({ ...m }));
    },
    /** Forget the logs above (turns, mouth changes, frames, metrics). */
    clear() {
      conversation.turns = [];
      conversation.metrics = [];
      player.closureCues = 0;
      player.closuresSilenced = 0;
      driver.clearLogs();
    },
    /** Drop the WebSocket as a network failure would (the page reconnects and resumes). */
    dropConnection() {
      if (conversation.connection) conversation.connection.drop();
    },
  };
  window.visavis = Object.freeze(api);
  return api;
}

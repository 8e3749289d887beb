// The page's entry point: build the pieces, find the conversation (the built-in interview at
// ``/``, or a tenant's conversation at ``/c/{id}?token=…``), and connect.

import { AudioPlayer } from "./audio-player.js";
import { Connection } from "./connection.js";
import { bindControls } from "./controls.js";
import { Conversation } from "./conversation.js";
import { installDebugApi } from "./debug-api.js";
import { Face } from "./face.js";
import { LipsyncDriver } from "./lipsync-driver.js";
import { Page } from "./page.js";
import { ProviderMedia } from "./provider-media.js";
import { SpeechInput } from "./speech-input.js";
import { StatusView } from "./status.js";
import { Transcript } from "./transcript.js";

/** Where this page's conversation comes from. */
function conversationSource() {
  const params = new URLSearchParams(location.search);
  const match = location.pathname.match(/^\/c\/([0-9a-fA-F-]{36})\/?$/);
  if (match) return { kind: "tenant", id: match[1], token: params.get("token") || "" };
  // The built-in page (development): a new interview through the local door.
  const body = { avatar: params.get("avatar") !== "off" };
  if (params.get("provider")) {
    body.avatar = { provider: params.get("provider") };
    if (params.get("avatar_id")) body.avatar.avatar_id = params.get("avatar_id");
  }
  if (params.get("agent")) body.agent = params.get("agent");
  if (params.get("twin")) body.twin = params.get("twin");
  return { kind: "local", body };
}

async function openLocalConversation(body) {
  const response = await fetch("/v1/local/conversations", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(answer.detail || "The server could not start a conversation for this page.");
  }
  return { id: answer.conversation.id, token: answer.token };
}

function boot() {
  const page = new Page();
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const face = new Face(page.avatar, { reducedMotion: reducedMotion.matches });
  reducedMotion.addEventListener("change", (event) => face.setReducedMotion(event.matches));
  const transcript = new Transcript(page.transcript);
  const status = new StatusView({
    statusEl: page.status,
    textEl: page.statusText,
    liveEl: page.live,
    liveLabelEl: page.liveLabel,
    badgeEl: page.badge,
  });
  let conversation = null;
  const player = new AudioPlayer({
    sampleRate: 24000,
    onReport: (message) => conversation.connection && conversation.connection.send(message),
    onTurnAudio: (info) => conversation.turnAudio(info),
    onUtteranceStart: (utterance) => conversation.utteranceStarted(utterance),
  });
  const driver = new LipsyncDriver({ face, avatarEl: page.avatar, player });
  const media = new ProviderMedia({
    box: page.providerBox,
    onStatus: (state, reason, detail) => conversation.mediaChanged(state, reason, detail),
    onWarning: (text) => console.warn(`avatar media: ${text}`),
    // The provider room's own timing of its speech, relayed to the server unchanged.
    onProviderEvent: (data) => conversation.connection && conversation.connection.send({ type: "provider_event", data }),
    onQuality: (quality, reason) =>
      conversation.connection && conversation.connection.send({ type: "avatar_quality", quality, reason }),
  });
  conversation = new Conversation({ ui: page, player, driver, transcript, status, media });
  const speech = new SpeechInput({
    send: (frame) => Boolean(conversation.connection) && conversation.connection.sendBinary(frame),
    end: () => conversation.connection && conversation.connection.send({ type: "audio_in_end" }),
    onState: ({ listening, talking, message }) => {
      const available = speech.available && speech.failure === null;
      page.setMic({ available, listening, talking, reason: speech.unavailableReason });
      if (message) conversation.notice(message);
    },
    onLevel: (level) => page.setMicLevel(level),
  });
  // What the microphone adds to the conversation: the ready answer, live words, barge-in.
  const heard = (message) => {
    if (message.type === "ready") speech.serverReady(message.audio_in);
    else if (message.type === "user_partial") transcript.partial(message.text);
    else if (message.type === "voice" && message.event === "barge_in") player.stopAll(conversation.maxTurn);
    else if (message.type === "voice" && ["utterance_cut", "transcription_failed"].includes(message.event)) {
      conversation.notice(message.message);
    }
  };
  bindControls(page, conversation, speech);
  installDebugApi({ conversation, player, driver, speech });
  page.setEnabled(false);
  page.setAvatarMode("local", { available: false, enabled: false });
  status.live("offline");
  conversation.render();
  driver.start();

  const source = conversationSource();
  page.canRestart = source.kind === "local"; // a tenant's link opens one conversation only
  page.restartButton.addEventListener("click", () => location.reload());
  page.retryButton.addEventListener("click", () => conversation.connection && conversation.connection.retry());

  const start = async () => {
    page.hideStart();
    let target = source;
    if (source.kind === "local") {
      try {
        target = await openLocalConversation(source.body);
      } catch (error) {
        conversation.connectionChanged("closed", { reason: "refused", error: null });
        status.show("error", error.message);
        return;
      }
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const connection = new Connection({
      url: `${scheme}//${location.host}/v1/conversations/${target.id}/ws`,
      hello: () => ({
        type: "hello",
        token: target.token,
        protocol: 1,
        avatar: conversation.wantAvatar,
        quality: page.quality.value,
        sample_rate: player.wantedRate,
        ...(speech.available ? { audio_in: { format: "pcm_s16le", sample_rate: 16000 } } : {}),
      }),
      onMessage: (message) => {
        conversation.handle(message);
        heard(message);
      },
      onAudio: (buffer) => conversation.audio(buffer),
      onStatus: (kind, detail) => conversation.connectionChanged(kind, detail),
    });
    conversation.attach(connection);
    window.addEventListener("pagehide", () => connection.close());
    connection.open();
  };

  // Browsers let a page play sound only after a click, unless the user allowed autoplay:
  // ask for a click before the greeting when the audio does not start on its own.
  player.ensureContext();
  const allowed = Promise.race([
    player.resume().then(() => player.running),
    new Promise((resolve) => setTimeout(() => resolve(false), 300)),
  ]);
  allowed.then((running) => {
    if (running) {
      start();
      return;
    }
    status.show("starting");
    page.showStart();
    page.startButton.addEventListener(
      "click",
      async () => {
        await player.resume();
        start();
      },
      { once: true },
    );
  });
}

boot();

// A provider's avatar video in the avatar frame: LiveAvatar and Simli through LiveKit, Akool
// through Agora, Tavus through Daily. Their web SDKs are vendored (static/vendor/) and loaded
// only when a conversation needs one. Text-driven faces take their sentences from the server as
// ``provider_message``s, which the page publishes unchanged in the provider's room: LiveAvatar
// FULL on the LiveKit topic ``media.control_topic``, Akool on Agora's data stream, Tavus as a
// Daily app message.
// The browser's view of the media goes back to the server as ``avatar_status``; a failure
// makes the server carry on with the local voice (docs/protocol.md). Packets on LiveAvatar
// FULL's ``media.response_topic`` go back as ``provider_event`` (the avatar's own timing of its
// speech), and changes of the media's quality as ``avatar_quality``.

const VENDOR = "/static/vendor/";
const SCRIPTS = {
  livekit: `${VENDOR}livekit-client.min.js`,
  agora: `${VENDOR}agora-rtc-sdk-ng.min.js`,
  daily: `${VENDOR}daily.js`,
};
const CONNECT_TIMEOUT_MS = 10000;
const RELAY_QUEUE_LIMIT = 64;

const loading = new Map();

function loadScript(src) {
  if (!loading.has(src)) {
    loading.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.async = true;
        script.onload = () => resolve();
        script.onerror = () => {
          loading.delete(src);
          reject(new Error(`could not load ${src}`));
        };
        document.head.appendChild(script);
      }),
    );
  }
  return loading.get(src);
}

function withTimeout(promise, ms, reason) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(reason), { mediaReason: reason })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class LiveKitSession {
  constructor(media, box, events) {
    this.media = media;
    this.box = box;
    this.events = events;
    this.room = null;
    this.publications = [];
    this.elements = [];
    this.playing = false;
    this.left = false;
    this.connected = false;
    this.queue = [];
    this.qualities = new Map();
  }

  async join() {
    await loadScript(SCRIPTS.livekit);
    const lk = window.LivekitClient;
    lk.setLogLevel("silent"); // failures are reported to the server and shown on the page
    const room = new lk.Room({ adaptiveStream: true, dynacast: true });
    this.room = room;
    const playing = new Promise((resolve) => {
      room.on(lk.RoomEvent.TrackSubscribed, (track, publication) => {
        this.publications.push(publication);
        const element = track.attach();
        element.classList.add(track.kind === "video" ? "provider-video" : "provider-audio");
        if (track.kind === "video") {
          element.playsInline = true;
          element.addEventListener("playing", () => resolve(), { once: true });
        }
        this.elements.push(element);
        this.box.appendChild(element);
        this.events.applyMuted(element);
      });
    });
    room.on(lk.RoomEvent.DataReceived, (payload, participant, kind, topic) => {
      // LiveAvatar FULL's speak_started/ended: the avatar's own timing of our sentences.
      if (topic && topic === this.media.response_topic) this.events.providerEvent(new TextDecoder().decode(payload));
    });
    room.on(lk.RoomEvent.ConnectionQualityChanged, (quality, participant) => {
      // Ours (what we receive) and the avatar's (what it sends) both shape the video.
      if (participant && (participant.isLocal || participant.identity === this.media.avatar_identity)) {
        this.qualities.set(participant.isLocal ? "local" : "avatar", quality);
        this.events.quality(worstQuality([...this.qualities.values()]), "connection_quality");
      }
    });
    room.on(lk.RoomEvent.Disconnected, () => {
      // Before the video plays, a disconnection is the failed join itself (reported by join).
      if (this.playing && !this.left) this.events.lost("media_lost");
    });
    await room.connect(this.media.url, this.media.access_token);
    this.connected = true;
    for (const data of this.queue.splice(0)) this.relay(data);
    await playing;
    this.playing = true;
  }

  setQuality(level) {
    const lk = window.LivekitClient;
    if (!lk || level === "auto") return;
    const quality = { high: lk.VideoQuality.HIGH, medium: lk.VideoQuality.MEDIUM, low: lk.VideoQuality.LOW }[level];
    for (const publication of this.publications) {
      if (publication.kind === "video") publication.setVideoQuality(quality);
    }
  }

  /** Publish a provider_message's data, reliable, on the room's control topic (LiveAvatar FULL;
   *  queued until connected). Faces driven by the server's audio have no topic: nothing to do. */
  relay(data) {
    const topic = this.media.control_topic;
    if (!topic) return false;
    if (!this.connected) {
      if (this.queue.length < RELAY_QUEUE_LIMIT) this.queue.push(data);
      return true;
    }
    const bytes = new TextEncoder().encode(data);
    this.room.localParticipant
      .publishData(bytes, { reliable: true, topic })
      .catch((error) => this.events.warn(`data channel: ${error.message}`));
    return true;
  }

  async leave() {
    this.left = true;
    for (const element of this.elements) element.remove();
    if (this.room) await this.room.disconnect();
  }
}

class AgoraSession {
  constructor(media, box, events) {
    this.media = media;
    this.box = box;
    this.events = events;
    this.client = null;
    this.users = [];
    this.joined = false;
    this.queue = [];
    this.playing = false;
    this.left = false;
  }

  async join() {
    await loadScript(SCRIPTS.agora);
    const AgoraRTC = window.AgoraRTC;
    AgoraRTC.setLogLevel(4); // none: failures are reported to the server and shown on the page
    AgoraRTC.disableLogUpload();
    const client = AgoraRTC.createClient({ mode: "rtc", codec: "vp8" });
    this.client = client;
    const playing = new Promise((resolve) => {
      client.on("user-published", async (user, mediaType) => {
        await client.subscribe(user, mediaType);
        this.users.push(user);
        if (mediaType === "video") {
          const holder = document.createElement("div");
          holder.className = "provider-video";
          this.box.appendChild(holder);
          user.videoTrack.on("first-frame-decoded", () => resolve());
          user.videoTrack.play(holder, { fit: "cover" });
        } else if (mediaType === "audio") {
          user.audioTrack.play();
          this.events.applyMuted(user.audioTrack);
        }
      });
    });
    client.on("network-quality", (stats) => {
      // Agora grades 1 (excellent) … 6 (down); 0 is unknown.
      const grade = stats && stats.downlinkNetworkQuality;
      const quality = [null, "excellent", "good", "poor", "poor", "lost", "lost"][grade] || null;
      if (quality) this.events.quality(quality, "network_quality");
    });
    client.on("connection-state-change", (state) => {
      if (state === "DISCONNECTED" && this.playing && !this.left) this.events.lost("media_lost");
    });
    await client.join(this.media.app_id, this.media.channel, this.media.token || null, this.media.uid ?? null);
    this.joined = true;
    for (const data of this.queue.splice(0)) this.relay(data);
    await playing;
    this.playing = true;
  }

  setQuality(level) {
    if (!this.client || level === "auto") return;
    for (const user of this.users) this.client.setRemoteVideoStreamType(user.uid, level === "high" ? 0 : 1);
  }

  /** Send a provider_message's data unchanged on the data stream (queued until joined). */
  relay(data) {
    if (!this.joined) {
      if (this.queue.length < RELAY_QUEUE_LIMIT) this.queue.push(data);
      return true;
    }
    this.client.sendStreamMessage(data, false).catch((error) => this.events.warn(`data stream: ${error.message}`));
    return true;
  }

  async leave() {
    this.left = true;
    this.box.querySelectorAll(".provider-video").forEach((node) => node.remove());
    if (this.client) await this.client.leave();
  }
}

class DailySession {
  constructor(media, box, events) {
    this.media = media;
    this.box = box;
    this.events = events;
    this.call = null;
    this.elements = [];
    this.joined = false;
    this.queue = [];
    this.playing = false;
    this.left = false;
  }

  async join() {
    await loadScript(SCRIPTS.daily);
    // Daily's call machine comes from its CDN (docs/providers.md): as a script element, which
    // the page's CSP allows from that host, rather than fetched and eval'd.
    const call = window.Daily.createCallObject({
      subscribeToTracksAutomatically: true,
      dailyConfig: { avoidEval: true },
    });
    this.call = call;
    const playing = new Promise((resolve) => {
      call.on("track-started", (event) => {
        if (!event || !event.participant || event.participant.local) return;
        const track = event.track;
        const element = document.createElement(track.kind === "video" ? "video" : "audio");
        element.classList.add(track.kind === "video" ? "provider-video" : "provider-audio");
        element.autoplay = true;
        element.playsInline = true;
        element.srcObject = new MediaStream([track]);
        if (track.kind === "video") element.addEventListener("playing", () => resolve(), { once: true });
        this.elements.push(element);
        this.box.appendChild(element);
        this.events.applyMuted(element);
      });
    });
    call.on("network-quality-change", (event) => {
      const quality = { good: "good", low: "poor", "very-low": "lost" }[event && event.threshold];
      if (quality) this.events.quality(quality, "network_quality");
    });
    call.on("left-meeting", () => {
      if (this.playing && !this.left) this.events.lost("media_lost");
    });
    call.on("error", () => {
      if (this.playing && !this.left) this.events.lost("media_lost");
    });
    await call.join({ url: this.media.url, startVideoOff: true, startAudioOff: true });
    this.joined = true;
    for (const data of this.queue.splice(0)) this.relay(data);
    await playing;
    this.playing = true;
  }

  setQuality() {} // Tavus sends one layer

  /** Send a provider_message's data (a JSON interaction) as a Daily app message. */
  relay(data) {
    if (!this.joined) {
      if (this.queue.length < RELAY_QUEUE_LIMIT) this.queue.push(data);
      return true;
    }
    try {
      this.call.sendAppMessage(JSON.parse(data), "*");
    } catch (error) {
      this.events.warn(`app message: ${error.message}`);
    }
    return true;
  }

  async leave() {
    this.left = true;
    for (const element of this.elements) element.remove();
    if (this.call) {
      await this.call.leave().catch(() => {});
      this.call.destroy();
    }
  }
}

const SESSIONS = { livekit: LiveKitSession, agora: AgoraSession, daily: DailySession };
const QUALITY_ORDER = ["lost", "poor", "good", "excellent"];

/** The worst of LiveKit connection qualities (``unknown`` ones are left out), or null. */
function worstQuality(qualities) {
  const known = qualities.filter((q) => QUALITY_ORDER.includes(q));
  if (!known.length) return null;
  return known.reduce((a, b) => (QUALITY_ORDER.indexOf(a) <= QUALITY_ORDER.indexOf(b) ? a : b));
}

export class ProviderMedia {
  /** ``onStatus(status, reason)``: ``connecting`` | ``connected`` | ``failed``. */
  constructor({ box, onStatus, onWarning, onProviderEvent, onQuality }) {
    this.box = box;
    this.onStatus = onStatus;
    this.onWarning = onWarning || (() => {});
    // What the provider's room says back (LiveAvatar FULL's ``agent-response`` packets).
    this.onProviderEvent = onProviderEvent || (() => {});
    this.providerEvents = [];
    // ``onQuality(quality, reason)`` on each change of the media's quality (``avatar_quality``).
    this.onQuality = onQuality || (() => {});
    this.qualityChanges = [];
    this.session = null;
    this.muted = false;
    this.quality = "auto";
  }

  get active() {
    return this.session !== null;
  }

  /** Join ``media`` (from ``avatar.media``); a renewal joins the new room, then leaves the old. */
  async join(media) {
    const Session = SESSIONS[media.kind] || null;
    if (!Session) {
      this.onStatus("failed", "unsupported_media");
      return;
    }
    const previous = this.session;
    const events = {
      lost: (reason) => {
        if (this.session === session) this._fail(reason);
      },
      applyMuted: (target) => this._applyMuted(target),
      warn: (text) => this.onWarning(text),
      quality: (quality, reason) => {
        if (this.session !== session || !quality || quality === session.mediaQuality) return;
        session.mediaQuality = quality;
        if (this.qualityChanges.length < RELAY_QUEUE_LIMIT) this.qualityChanges.push({ quality, reason });
        this.onQuality(quality, reason);
      },
      providerEvent: (data) => {
        if (this.session !== session) return;
        if (this.providerEvents.length < RELAY_QUEUE_LIMIT) this.providerEvents.push(data);
        this.onProviderEvent(data);
      },
    };
    const session = new Session(media, this.box, events);
    this.session = session;
    this.onStatus("connecting", null);
    try {
      await withTimeout(session.join(), CONNECT_TIMEOUT_MS, "timeout");
    } catch (error) {
      if (this.session === session) {
        this.session = null;
        await session.leave().catch(() => {});
        if (previous) await previous.leave().catch(() => {});
        this.onStatus("failed", error.mediaReason || "connection_failed", error.message);
      }
      return;
    }
    if (this.session !== session) return; // left meanwhile
    session.setQuality(this.quality);
    this.onStatus("connected", null);
    if (previous) await previous.leave().catch((error) => this.onWarning(error.message));
  }

  _fail(reason, detail) {
    const session = this.session;
    this.session = null;
    if (session) session.leave().catch(() => {});
    this.onStatus("failed", reason, detail);
  }

  async leave() {
    const session = this.session;
    this.session = null;
    if (session) await session.leave().catch((error) => this.onWarning(error.message));
  }

  relay(data) {
    return this.session ? this.session.relay(data) : false;
  }

  setQuality(level) {
    this.quality = level;
    if (this.session) this.session.setQuality(level);
  }

  setMuted(muted) {
    this.muted = muted;
    this.box.querySelectorAll("audio, video").forEach((node) => this._applyMuted(node));
    if (this.session && this.session.users) {
      for (const user of this.session.users) if (user.audioTrack) this._applyMuted(user.audioTrack);
    }
  }

  _applyMuted(target) {
    if (target instanceof HTMLMediaElement) target.muted = this.muted;
    else if (target && typeof target.setVolume === "function") target.setVolume(this.muted ? 0 : 100);
  }
}

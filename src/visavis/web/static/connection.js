// The conversation WebSocket (protocol v1, docs/protocol.md): hello, heartbeat, and
// reconnection with backoff after a drop. The server resumes the conversation on a new
// connection (``ready.resumed`` with the transcript so far).

const PING_EVERY_MS = 15000;
const SILENCE_LIMIT_MS = 45000;
const MAX_ATTEMPTS = 8;
// Closes after which trying again cannot help.
const FINAL_CLOSES = new Map([
  [1000, "ended"],
  [4400, "refused"],
  [4401, "unauthorized"],
  [4404, "not_found"],
  [4409, "replaced"],
  [4410, "ended"],
]);

/** Delay before reconnection attempt ``n`` (0-based): 0.5 s doubling to 8 s, ±25 % jitter. */
export function backoffMs(n) {
  const base = Math.min(8000, 500 * 2 ** n);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export class Connection {
  /**
   * ``url``: the ws(s) URL; ``hello()``: the hello message to send (built at each attempt);
   * callbacks: ``onMessage(obj)``, ``onAudio(ArrayBuffer)``, ``onStatus(status, detail)`` with
   * status ``connecting`` | ``open`` | ``reconnecting`` | ``closed``.
   */
  constructor({ url, hello, onMessage, onAudio, onStatus }) {
    this.url = url;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onAudio = onAudio;
    this.onStatus = onStatus;
    this.ws = null;
    this.attempt = 0;
    this.finished = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.lastError = null;
  }

  open() {
    if (this.finished) return;
    clearTimeout(this.retryTimer);
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting", { attempt: this.attempt });
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = performance.now();
      ws.send(JSON.stringify(this.hello()));
      this._startHeartbeat();
    };
    ws.onmessage = (event) => {
      this.lastHeard = performance.now();
      if (typeof event.data !== "string") {
        this.onAudio(event.data);
        return;
      }
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to understand; the protocol only sends JSON objects
      }
      if (message.type === "ready") {
        this.attempt = 0;
        this.onStatus("open", { resumed: Boolean(message.resumed) });
      } else if (message.type === "error") {
        this.lastError = message;
      }
      this.onMessage(message);
    };
    ws.onclose = (event) => this._closed(ws, event.code);
  }

  _closed(ws, code) {
    if (ws !== this.ws) return;
    this._stopHeartbeat();
    this.ws = null;
    if (this.finished) return;
    const final = FINAL_CLOSES.get(code);
    if (final) {
      this.finished = true;
      this.onStatus("closed", { code, reason: final, error: this.lastError });
      return;
    }
    if (this.attempt >= MAX_ATTEMPTS) {
      this.onStatus("closed", { code, reason: "unreachable", error: this.lastError });
      return;
    }
    const delay = backoffMs(this.attempt);
    this.attempt += 1;
    this.onStatus("reconnecting", { attempt: this.attempt, delayMs: delay, code });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** Try again now (after giving up, or from a "retry" button). */
  retry() {
    if (this.finished) return;
    this.attempt = 0;
    this.open();
  }

  /** Send a JSON message; false when the socket is not open (it is not queued). */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Send a binary frame (the microphone's audio); false when the socket is not open. */
  sendBinary(buffer) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    if (this.ws.bufferedAmount > 64 * 1024) return false; // a stalled link: drop, don't queue
    this.ws.send(buffer);
    return true;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Drop the socket as a network failure would: the reconnection logic takes over. */
  drop() {
    if (this.ws) {
      const ws = this.ws;
      ws.onclose = null;
      ws.close();
      this._closed(ws, 1006);
    }
  }

  /** Close for good (the page is leaving or the conversation ended). */
  close() {
    this.finished = true;
    clearTimeout(this.retryTimer);
    this._stopHeartbeat();
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.ws) return;
      if (performance.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this.drop(); // the server went silent: the connection is dead even if TCP says not
        return;
      }
      this.send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  _stopHeartbeat() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}

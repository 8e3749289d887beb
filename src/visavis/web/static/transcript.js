// The transcript: who said what. The user's lines appear when sent; the agent's sentences
// appear as they start being heard, and the server's stored entry (``transcript``) has the
// last word (an interrupted reply keeps only what was heard).

const SPEAKERS = { user: "You", agent: "Interviewer" };

export class Transcript {
  constructor(listEl, { agentName = "Interviewer" } = {}) {
    this.list = listEl;
    this.agentName = agentName;
    this.agentEntries = new Map(); // turn id -> entry being spoken
    this.pendingUser = [];
    this.partialItem = null;
  }

  setAgentName(name) {
    this.agentName = name;
  }

  _entry(role, text) {
    const item = document.createElement("div");
    item.className = `entry entry-${role}`;
    item.dataset.role = role;
    const speaker = document.createElement("span");
    speaker.className = "speaker";
    speaker.textContent = role === "user" ? SPEAKERS.user : this.agentName;
    const body = document.createElement("p");
    body.className = "text";
    body.textContent = text;
    item.append(speaker, body);
    this.list.appendChild(item);
    this._scroll();
    return item;
  }

  _scroll() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** The user sent ``text``: shown at once, confirmed when the server records it. */
  addUser(text) {
    const item = this._entry("user", text);
    item.dataset.pending = "true";
    this.pendingUser.push(item);
    return item;
  }

  /** A sentence of turn ``turnId`` is being heard. */
  addAgentSentence(turnId, text) {
    let item = this.agentEntries.get(turnId);
    if (!item) {
      item = this._entry("agent", "");
      item.dataset.turn = String(turnId);
      item.dataset.pending = "true";
      this.agentEntries.set(turnId, item);
    }
    const body = item.querySelector(".text");
    body.textContent = body.textContent ? `${body.textContent} ${text}` : text;
    this._scroll();
  }

  /** The person's words so far while they speak (replaced by the stored entry). */
  partial(text) {
    if (!this.partialItem) {
      this.partialItem = this._entry("user", "");
      this.partialItem.dataset.partial = "true";
    }
    this.partialItem.querySelector(".text").textContent = text;
    this._scroll();
  }

  _clearPartial() {
    if (this.partialItem) this.partialItem.remove();
    this.partialItem = null;
  }

  /** The server stored an entry: settle the matching line, or add it. */
  settle(entry) {
    if (entry.role === "user") {
      this._clearPartial();
      const index = this.pendingUser.findIndex((item) => item.querySelector(".text").textContent.trim() === entry.text);
      if (index >= 0) {
        const [item] = this.pendingUser.splice(index, 1);
        delete item.dataset.pending;
        return;
      }
      this._entry("user", entry.text);
      return;
    }
    // Stored lines come in order, possibly after the next turn has begun: the oldest is theirs.
    const pending = [...this.agentEntries.entries()];
    let item = null;
    if (pending.length) {
      const [turnId, oldest] = pending[0];
      item = oldest;
      this.agentEntries.delete(turnId);
    }
    if (!entry.text && !entry.interrupted && !item) return;
    if (!item) item = this._entry("agent", entry.text);
    item.querySelector(".text").textContent = entry.text;
    delete item.dataset.pending;
    if (entry.interrupted) this._markInterrupted(item);
    this._scroll();
  }

  _markInterrupted(item) {
    item.dataset.interrupted = "true";
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = " (interrupted)";
    item.querySelector(".text").appendChild(note);
  }

  /** Rebuild from the server's stored entries (a resumed conversation). */
  rebuild(entries) {
    this.list.replaceChildren();
    this.partialItem = null;
    this.agentEntries.clear();
    this.pendingUser = [];
    for (const entry of entries) {
      if (!entry.text && !entry.interrupted) continue;
      const item = this._entry(entry.role === "user" ? "user" : "agent", entry.text);
      if (entry.interrupted) this._markInterrupted(item);
    }
  }

  /** Add a system note (the conversation ended, the avatar fell back to audio…). */
  note(text) {
    const item = document.createElement("div");
    item.className = "entry entry-system";
    item.dataset.role = "system";
    item.textContent = text;
    this.list.appendChild(item);
    this._scroll();
  }
}

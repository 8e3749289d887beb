// The console pages' one way to call the server: a bearer key kept for this tab only
// (sessionStorage: gone when the tab closes, never sent anywhere but this server), JSON in and
// out, and every problem+json answer turned into an ``ApiError`` a page can show as it is.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class ConsoleApi {
  /** ``storageKey`` names where this page keeps its key in sessionStorage. */
  constructor(storageKey) {
    this.storageKey = storageKey;
    this.key = sessionStorage.getItem(storageKey) || "";
  }

  get signedIn() {
    return this.key !== "";
  }

  remember(key) {
    this.key = key;
    sessionStorage.setItem(this.storageKey, key);
  }

  forget() {
    this.key = "";
    sessionStorage.removeItem(this.storageKey);
  }

  async get(path) {
    return this.request("GET", path);
  }

  async request(method, path, body = undefined) {
    const headers = { Authorization: `Bearer ${this.key}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let answer;
    try {
      answer = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "the server cannot be reached: check your connection and try again");
    }
    if (answer.status === 204) return null;
    const text = await answer.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!answer.ok) {
      const detail = parsed && typeof parsed.detail === "string" ? parsed.detail : answer.statusText;
      throw new ApiError(answer.status, detail || `the server answered ${answer.status}`);
    }
    return parsed;
  }
}

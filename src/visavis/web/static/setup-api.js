// The REST API with the tenant's key; a refusal becomes an Error carrying its problem document.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function makeApi(getKey) {
  async function request(method, path, { json, body, type } = {}) {
    const headers = { Authorization: `Bearer ${getKey()}` };
    let payload = body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    } else if (type) {
      headers["Content-Type"] = type;
    }
    const response = await fetch(path, { method, headers, body: payload });
    if (!response.ok) {
      let problem;
      try {
        problem = await response.json();
      } catch {
        problem = { detail: response.statusText };
      }
      throw new ApiError(response.status, problem);
    }
    return response;
  }

  return {
    async get(path) { return (await request("GET", path)).json(); },
    async post(path, json) { return (await request("POST", path, { json })).json(); },
    async patch(path, json) { return (await request("PATCH", path, { json })).json(); },
    async put(path, json) { return (await request("PUT", path, { json })).json(); },
    async remove(path) { await request("DELETE", path); },
    async upload(path, body, type) { return (await request("POST", path, { body, type })).json(); },
    // NDJSON lines as they come (a cloning job's events).
    async *lines(path) {
      const response = await request("GET", path);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, cut).trim();
          pending = pending.slice(cut + 1);
          if (line) yield JSON.parse(line);
        }
      }
      if (pending.trim()) yield JSON.parse(pending);
    },
  };
}

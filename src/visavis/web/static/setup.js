// The twin setup page: key → twin → five samples → consent → memory → cloning → talk.
// Everything goes through the public REST API with the tenant's key (kept for the tab only).

import { makeApi } from "./setup-api.js";
import { SampleRecorder } from "./setup-recorder.js";

const SAMPLES = 5;
const PROMPTS = [
  "Tell us where you grew up, and one thing you remember about the place.",
  "Describe what you do for work on an ordinary day, from the morning on.",
  "Talk about a trip that surprised you: where, with whom, and what happened.",
  "What do you cook, read or listen to when you have a free evening?",
  "Give a piece of advice you were given once, and why it stuck with you.",
];

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const bounded = (name, low, high, fallback) => {
  const value = Number(params.get(name));
  return Number.isFinite(value) && value >= low && value <= high && params.has(name)
    ? value : fallback;
};
const SAMPLE_S = bounded("sample_s", 10, 60, 30);
const COUNTDOWN_S = bounded("countdown_s", 0, 5, 3);

const state = { key: sessionStorage.getItem("visavis.key") || "", twin: null, voice: null };
const api = makeApi(() => state.key);
const recorder = new SampleRecorder($("level"));

function say(id, text, kind = "") {
  const element = $(id);
  element.textContent = text;
  element.dataset.kind = kind;
}

function show(...ids) {
  for (const id of ids) $(id).hidden = false;
}

// --- 1. key ----------------------------------------------------------------------------

async function connect(event) {
  event?.preventDefault();
  state.key = $("api-key").value.trim() || state.key;
  try {
    const twins = await api.get("/v1/twins");
    sessionStorage.setItem("visavis.key", state.key);
    say("key-status", "Connected.", "ok");
    const select = $("twin-select");
    select.replaceChildren(new Option("A new twin", ""));
    for (const twin of twins.items) select.add(new Option(twin.name, twin.id));
    show("step-twin");
    const wanted = params.get("twin");
    if (wanted && twins.items.some((t) => t.id === wanted)) {
      select.value = wanted;
      await chooseTwin();
    }
  } catch (error) {
    say("key-status", error.status === 401 ? "This key was refused." : error.message, "error");
  }
}

// --- 2. twin ---------------------------------------------------------------------------

async function chooseTwin() {
  const id = $("twin-select").value;
  if (!id) {
    state.twin = null;
    $("twin-form").reset();
    return;
  }
  await useTwin(await api.get(`/v1/twins/${id}`));
}

async function saveTwin(event) {
  event.preventDefault();
  const body = {
    name: $("twin-name").value.trim(),
    persona: { bio: $("twin-bio").value.trim(), speaking_style: $("twin-style").value.trim() },
  };
  try {
    const twin = state.twin
      ? await api.patch(`/v1/twins/${state.twin.id}`, body)
      : await api.post("/v1/twins", body);
    if (!state.twin) $("twin-select").add(new Option(twin.name, twin.id, true, true));
    await useTwin(twin);
    say("twin-status", `Saved: ${twin.name}.`, "ok");
  } catch (error) {
    say("twin-status", error.message, "error");
  }
}

async function useTwin(twin) {
  state.twin = twin;
  $("twin-name").value = twin.name;
  $("twin-bio").value = twin.persona?.bio || "";
  $("twin-style").value = twin.persona?.speaking_style || "";
  history.replaceState(null, "", `?${new URLSearchParams({ ...Object.fromEntries(params), twin: twin.id })}`);
  if (twin.voice && twin.voice !== "bundled") {
    state.voice = await api.get(`/v1/voices/${twin.voice}`);
  } else {
    state.voice = await api.post("/v1/voices", { name: `Voice of ${twin.name}` });
    state.twin = await api.patch(`/v1/twins/${twin.id}`, { voice: state.voice.id });
  }
  renderSamples();
  renderVoice();
  show("step-voice", "step-consent", "step-memory", "step-clone", "step-talk");
}

// --- 3. samples ------------------------------------------------------------------------

function problemsList(report) {
  const list = document.createElement("ul");
  list.className = "problems";
  for (const problem of report?.problems || []) {
    const item = document.createElement("li");
    item.dataset.severity = problem.severity;
    item.dataset.code = problem.code;
    item.textContent = `${problem.severity === "error" ? "✗" : "!"} ${problem.message}`;
    list.append(item);
  }
  return list;
}

function renderSamples() {
  const list = $("samples");
  list.replaceChildren();
  $("sample-seconds").textContent = String(SAMPLE_S);
  for (let n = 0; n < SAMPLES; n += 1) {
    const sample = state.voice.samples[n];
    const item = document.createElement("li");
    item.className = "sample";
    item.setAttribute("data-testid", `sample-${n + 1}`);
    item.dataset.state = sample ? "usable" : "empty";
    const prompt = document.createElement("p");
    prompt.className = "prompt";
    prompt.textContent = PROMPTS[n];
    const info = document.createElement("p");
    info.className = "sample-info";
    info.setAttribute("role", "status");
    info.textContent = sample
      ? `Kept: ${sample.duration_s.toFixed(0)} s, ${Math.round(sample.report.speech_share * 100)}% speech, SNR ${sample.report.snr_db} dB.`
      : "Not recorded yet.";
    const record = document.createElement("button");
    record.type = "button";
    record.className = "primary";
    record.setAttribute("data-testid", `record-${n + 1}`);
    record.textContent = sample ? "Record again" : "Record";
    record.addEventListener("click", () => recordSample(n, item, info, record));
    const stop = document.createElement("button");
    stop.type = "button";
    stop.setAttribute("data-testid", `stop-${n + 1}`);
    stop.textContent = "Stop";
    stop.hidden = true;
    stop.addEventListener("click", () => recorder.stop());
    item.append(prompt, info, record, stop);
    if (sample) item.append(problemsList(sample.report));
    list.append(item);
  }
}

async function recordSample(n, item, info, button) {
  const buttons = document.querySelectorAll("[data-testid^=record-]");
  buttons.forEach((b) => { b.disabled = true; });
  const stop = item.querySelector("[data-testid^=stop-]");
  try {
    const previous = state.voice.samples[n];
    const blob = await recorder.record(SAMPLE_S, COUNTDOWN_S, (phase, left) => {
      item.dataset.state = phase;
      stop.hidden = phase !== "recording";
      info.textContent = phase === "countdown" ? `Starting in ${left}…` : `Recording… ${left} s left`;
    });
    stop.hidden = true;
    item.dataset.state = "uploading";
    info.textContent = "Checking the recording…";
    item.querySelector(".problems")?.remove();
    if (previous) await api.remove(`/v1/voices/${state.voice.id}/samples/${previous.id}`);
    await api.upload(`/v1/voices/${state.voice.id}/samples`, blob, blob.type || "audio/webm");
    state.voice = await api.get(`/v1/voices/${state.voice.id}`);
    renderSamples();
    renderVoice();
  } catch (error) {
    item.dataset.state = "unusable";
    info.textContent = error.message;
    item.append(problemsList(error.problem?.report));
    button.textContent = "Record again";
    if (error.status && error.problem) {
      state.voice = await api.get(`/v1/voices/${state.voice.id}`);
    }
  } finally {
    stop.hidden = true;
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// --- 4. consent ------------------------------------------------------------------------

async function saveConsent(event) {
  event.preventDefault();
  try {
    const consent = await api.put(`/v1/voices/${state.voice.id}/consent`, {
      person_name: $("consent-name").value.trim(),
      text: $("consent-text").textContent.replace(/\s+/g, " ").trim(),
    });
    state.voice.consent = consent;
    renderVoice();
  } catch (error) {
    say("consent-status", error.message, "error");
  }
}

// --- 5. memory -------------------------------------------------------------------------

function memoryResult(text, errors = []) {
  say("memory-status", text, errors.length ? "error" : "ok");
  $("memory-errors").replaceChildren(...errors.map((e) => {
    const item = document.createElement("li");
    item.textContent = e.line ? `Line ${e.line}: ${e.message}` : e.message;
    return item;
  }));
}

async function addFact(event) {
  event.preventDefault();
  try {
    await api.post(`/v1/twins/${state.twin.id}/facts`, { statement: $("fact-text").value.trim() });
    $("fact-form").reset();
    memoryResult("The fact was added.");
  } catch (error) {
    memoryResult(error.message, error.problem?.errors || []);
  }
}

async function addStory(event) {
  event.preventDefault();
  try {
    await api.post(`/v1/twins/${state.twin.id}/stories`, {
      title: $("story-title").value.trim(),
      text: $("story-text").value.trim(),
    });
    $("story-form").reset();
    memoryResult("The story was added.");
  } catch (error) {
    memoryResult(error.message, error.problem?.errors || []);
  }
}

async function importFile(event) {
  event.preventDefault();
  const file = $("import-file").files[0];
  if (!file) return;
  const markdown = /\.(md|markdown)$/i.test(file.name);
  try {
    const result = await api.upload(
      `/v1/twins/${state.twin.id}/memory/import`,
      file,
      markdown ? "text/markdown" : "application/x-ndjson",
    );
    memoryResult(
      `Imported ${result.facts} facts and ${result.stories} stories` +
      (result.duplicates ? ` (${result.duplicates} already known)` : "") + ".",
    );
  } catch (error) {
    memoryResult(error.message, error.problem?.errors || []);
  }
}

// --- 6. cloning ------------------------------------------------------------------------

function renderVoice() {
  const voice = state.voice;
  if (!voice) return;
  const usable = voice.samples.length;
  say("consent-status", voice.consent
    ? `Consent recorded for ${voice.consent.person_name}.` : "No consent recorded yet.",
  voice.consent ? "ok" : "");
  $("clone-progress").value = voice.progress;
  const status = $("clone-status");
  status.dataset.status = voice.status;
  const missing = [];
  if (usable < SAMPLES) missing.push(`${SAMPLES - usable} more recording${SAMPLES - usable > 1 ? "s" : ""}`);
  if (!voice.consent) missing.push("your consent");
  const text = {
    collecting: missing.length ? `Still needed: ${missing.join(" and ")}.` : "Ready to clone.",
    queued: "Queued…",
    running: `Cloning… ${voice.stage || ""}`,
    ready: "Your voice is ready: the twin speaks with it.",
    failed: `Cloning failed: ${voice.error || "unknown error"}. Start it again (nothing to record again).`,
  }[voice.status] || voice.status;
  say("clone-status", text, voice.status === "failed" ? "error" : voice.status === "ready" ? "ok" : "");
  status.dataset.status = voice.status;
  $("clone-start").disabled = ["queued", "running"].includes(voice.status);
  $("clone-start").textContent = voice.status === "failed" ? "Retry cloning" : "Start cloning";
}

async function startCloning() {
  try {
    state.voice = await api.post(`/v1/voices/${state.voice.id}/clone`, {
      backend: $("clone-backend").value,
    });
    renderVoice();
    for await (const event of api.lines(`/v1/voices/${state.voice.id}/jobs/latest/events`)) {
      Object.assign(state.voice, {
        status: event.status, progress: event.progress, stage: event.stage,
        error: event.error ?? null,
      });
      renderVoice();
    }
  } catch (error) {
    say("clone-status", error.message, "error");
  }
}

// --- 7. talk ---------------------------------------------------------------------------

async function talk() {
  try {
    const conversation = await api.post("/v1/conversations", { agent: "twin", twin: state.twin.id });
    const { token } = await api.post(`/v1/conversations/${conversation.id}/client-token`);
    const url = `/c/${conversation.id}?token=${encodeURIComponent(token)}`;
    $("talk-link").href = url;
    $("talk-frame").src = url;
    show("talk-link", "talk-frame");
  } catch (error) {
    say("twin-status", error.message, "error");
  }
}

$("key-form").addEventListener("submit", connect);
$("twin-select").addEventListener("change", () => chooseTwin().catch((e) => say("twin-status", e.message, "error")));
$("twin-form").addEventListener("submit", saveTwin);
$("consent-form").addEventListener("submit", saveConsent);
$("fact-form").addEventListener("submit", addFact);
$("story-form").addEventListener("submit", addStory);
$("import-form").addEventListener("submit", importFile);
$("clone-start").addEventListener("click", startCloning);
$("talk-start").addEventListener("click", talk);
if (state.key) connect();

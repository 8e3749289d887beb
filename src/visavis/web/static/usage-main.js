// A tenant's usage page: this month against the limits (GET /v1/tenant/usage) and usage per
// day (GET /v1/tenant/usage/daily), signed in with one of the tenant's API keys.

import { ApiError, ConsoleApi } from "./console-api.js";
import { el, minutes, say, usd, when } from "./console-dom.js";
import { chartKey, drawDaily } from "./usage-chart.js";

const api = new ConsoleApi("visavis.tenantKey");
const $ = (id) => document.getElementById(id);
const NEAR = 0.8; // from this share of a limit on, the meter says so

function meter(kind, label, used, limit, shown) {
  const id = `quota-${kind}`;
  const share = limit === null ? null : limit === 0 ? 1 : used / limit;
  const state = share === null ? "unlimited" : share >= 1 ? "reached" : share >= NEAR ? "near" : "ok";
  const words = {
    unlimited: "",
    reached: "limit reached",
    near: "near the limit",
    ok: `${Math.round((share ?? 0) * 100)} % used`,
  }[state];
  return el(
    "div",
    { class: "quota-item", "data-testid": `quota-${kind}`, "data-state": state },
    el("h3", { id: `${id}-label` }, label),
    el("p", { class: "quota-figure" }, `${shown(used)} of ${limit === null ? "no limit" : shown(limit)}`),
    limit === null
      ? el("p", { class: "muted" }, "Unlimited this month.")
      : el("meter", { id, "aria-labelledby": `${id}-label`, min: "0", max: String(limit || 1), value: String(Math.min(used, limit || 1)), low: String(NEAR * (limit || 1)), high: String(0.95 * (limit || 1)), optimum: "0" }),
    state === "unlimited" ? null : el("p", { class: `quota-note ${state}` }, words),
  );
}

function showQuota(usage) {
  const { current, limits } = usage;
  $("period").textContent = `${current.period} (UTC) · resets ${when(current.resets_at)}`;
  $("quota").replaceChildren(
    meter("sessions", "Avatar conversations", current.avatar_sessions, limits.monthly_avatar_session_limit, String),
    meter("seconds", "Avatar time", current.avatar_seconds, limits.monthly_avatar_seconds_limit, minutes),
    meter("cost", "Cost", current.cost_usd, limits.monthly_cost_limit_usd, usd),
  );
}

async function showDaily() {
  const days = Number($("usage-days").value);
  const daily = await api.get(`/v1/tenant/usage/daily?days=${days}`);
  drawDaily($("daily-chart"), "Your usage", daily.days, daily);
}

function showSignIn(message = "") {
  document.body.dataset.signedIn = "false";
  $("report").hidden = true;
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  say($("signin-error"), message, "error");
}

function signInMessage(error) {
  if (error.status === 401) return "That API key was not accepted: it may be mistyped or revoked.";
  if (error.status === 429) return `Too many attempts: ${error.message}`;
  return error.message;
}

async function open() {
  const usage = await api.get("/v1/tenant/usage?months=0");
  document.body.dataset.signedIn = "true";
  $("signin").hidden = true;
  $("report").hidden = false;
  $("sign-out").hidden = false;
  showQuota(usage);
  await showDaily();
  document.body.dataset.ready = "true";
}

function failed(error) {
  api.forget();
  showSignIn(error instanceof ApiError ? signInMessage(error) : String(error));
}

$("usage-key").replaceChildren(chartKey());
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("tenant-key").value.trim();
  if (!key) return;
  api.remember(key);
  say($("signin-error"), "");
  open().then(() => ($("tenant-key").value = ""), failed);
});
$("sign-out").addEventListener("click", () => {
  api.forget();
  document.body.dataset.ready = "false";
  showSignIn();
});
$("usage-days").addEventListener("change", () => showDaily().catch(failed));
if (api.signedIn) open().catch(failed);
else showSignIn();

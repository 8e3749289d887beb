// The admin console: sign in with the admin key, then each section loads from /v1/admin.

import { ApiError, ConsoleApi } from "./console-api.js";
import { say } from "./console-dom.js";
import { FlagsSection } from "./admin-flags.js";
import { KeysSection } from "./admin-keys.js";
import { LiveSection } from "./admin-live.js";
import { PreferencesSection } from "./admin-preferences.js";
import { UsageSection } from "./admin-usage.js";

const api = new ConsoleApi("visavis.adminKey");
const $ = (id) => document.getElementById(id);

function signInMessage(error) {
  if (error.status === 401) {
    return "That admin key was not accepted. Use the server's VISAVIS_ADMIN_API_KEY exactly.";
  }
  if (error.status === 404) {
    return "The admin API is not enabled on this server (VISAVIS_ADMIN_API_KEY is not set).";
  }
  return error.message;
}

function showSignIn(message = "") {
  document.body.dataset.signedIn = "false";
  $("console").hidden = true;
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  say($("signin-error"), message, "error");
  $("admin-key").focus();
}

/**
 * Run a section's work: a key no longer valid sends the operator back to sign in; any other
 * failure is said at the top of the console (sections report what they can themselves).
 */
async function guarded(work) {
  say($("console-error"), "", "error");
  try {
    await work();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      api.forget();
      showSignIn("The admin key is no longer accepted: sign in again.");
      return;
    }
    say($("console-error"), `Could not load: ${error.message}`, "error");
  }
}

const usage = new UsageSection(api, $("usage-charts"), $("usage-days"), $("usage-key"));
const preferences = new PreferencesSection(api);
const keys = new KeysSection(api);
const flags = new FlagsSection(api, $("flag-list"));
const live = new LiveSection(api);

async function openConsole() {
  const tenants = (await api.get("/v1/admin/tenants")).items;
  document.body.dataset.signedIn = "true";
  $("signin").hidden = true;
  $("console").hidden = false;
  $("sign-out").hidden = false;
  const select = $("tenant-select");
  select.replaceChildren(...tenants.map((t) => new Option(t.name, t.name)));
  await Promise.all([
    usage.load(tenants),
    flags.load(tenants),
    live.load(),
    tenants.length ? preferences.show(select.value) : Promise.resolve(),
    tenants.length ? keys.show(select.value) : Promise.resolve(),
  ]);
  document.body.dataset.ready = "true";
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = $("admin-key").value.trim();
  if (!key) return;
  api.remember(key);
  say($("signin-error"), "");
  try {
    await openConsole();
    $("admin-key").value = "";
  } catch (error) {
    api.forget();
    showSignIn(error instanceof ApiError ? signInMessage(error) : String(error));
  }
});

$("sign-out").addEventListener("click", () => {
  api.forget();
  document.body.dataset.ready = "false";
  showSignIn();
});

$("tenant-select").addEventListener("change", (event) =>
  guarded(() => Promise.all([preferences.show(event.target.value), keys.show(event.target.value)])),
);
$("usage-days").addEventListener("change", () => guarded(() => usage.reload()));
$("refresh-live").addEventListener("click", () => guarded(() => live.load()));
for (const section of [preferences, keys, flags]) section.guard = guarded;

if (api.signedIn) {
  openConsole().catch((error) => {
    api.forget();
    showSignIn(error instanceof ApiError ? signInMessage(error) : String(error));
  });
} else {
  showSignIn();
}

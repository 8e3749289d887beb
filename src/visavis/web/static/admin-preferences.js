// A tenant's preferences: avatar on by default, the default provider and avatar picked from the
// providers' catalogues (GET /v1/admin/avatars), and the monthly limits.

import { ApiError } from "./console-api.js";
import { el, say } from "./console-dom.js";

const $ = (id) => document.getElementById(id);
const LOCAL = { provider: "local", id: "", name: "Built-in face", preview_url: null };

function numberOrNull(input) {
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

function choiceValue(avatar) {
  return `${avatar.provider}|${avatar.id}`;
}

export class PreferencesSection {
  constructor(api) {
    this.api = api;
    this.tenant = null;
    this.catalogue = null;
    this.guard = (work) => work();
    $("prefs-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.guard(() => this.save());
    });
  }

  async show(tenant) {
    this.tenant = tenant;
    say($("prefs-status"), "");
    if (this.catalogue === null) this.catalogue = await this.loadCatalogue();
    const prefs = await this.api.get(`/v1/admin/tenants/${encodeURIComponent(tenant)}/preferences`);
    $("pref-avatar-on").checked = prefs.avatar_enabled_default;
    $("limit-sessions").value = prefs.monthly_avatar_session_limit ?? "";
    $("limit-seconds").value = prefs.monthly_avatar_seconds_limit ?? "";
    $("limit-cost").value = prefs.monthly_cost_limit_usd ?? "";
    this.drawGrid(`${prefs.default_provider}|${prefs.default_avatar_id ?? ""}`);
  }

  async loadCatalogue() {
    try {
      const listing = await this.api.get("/v1/admin/avatars");
      const down = listing.unavailable.map((u) => `${u.provider} (${u.detail})`);
      say($("catalogue-note"), down.length ? `Not listed just now: ${down.join("; ")}.` : "", "error");
      return listing.avatars;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      say($("catalogue-note"), `The avatar catalogues could not be read: ${error.message}`, "error");
      return [];
    }
  }

  drawGrid(selected) {
    const choices = [LOCAL, ...this.catalogue];
    const known = choices.some((a) => choiceValue(a) === selected);
    if (!known) {
      const [provider, id] = selected.split("|");
      choices.push({ provider, id, name: id || provider, preview_url: null });
    }
    $("avatar-grid").replaceChildren(
      ...choices.map((avatar) => {
        const value = choiceValue(avatar);
        const inputId = `avatar-${value.replace(/[^A-Za-z0-9_-]/g, "_")}`;
        return el(
          "label",
          { class: "avatar-choice", for: inputId, "data-provider": avatar.provider, "data-avatar": avatar.id },
          el("input", {
            type: "radio",
            name: "avatar-choice",
            id: inputId,
            value,
            checked: value === selected,
          }),
          avatar.preview_url
            ? el("img", { src: avatar.preview_url, alt: "", loading: "lazy", width: "96", height: "96" })
            : el("span", { class: "avatar-placeholder", "aria-hidden": "true" }, avatar.provider.slice(0, 1).toUpperCase()),
          el("span", { class: "avatar-name" }, avatar.name),
          el("span", { class: "avatar-provider muted" }, avatar.provider),
        );
      }),
    );
  }

  async save() {
    const checked = document.querySelector('input[name="avatar-choice"]:checked');
    const [provider, id] = (checked ? checked.value : "local|").split("|");
    const body = {
      avatar_enabled_default: $("pref-avatar-on").checked,
      default_provider: provider,
      default_avatar_id: id || null,
      monthly_avatar_session_limit: numberOrNull($("limit-sessions")),
      monthly_avatar_seconds_limit: numberOrNull($("limit-seconds")),
      monthly_cost_limit_usd: numberOrNull($("limit-cost")),
    };
    try {
      await this.api.request("PUT", `/v1/admin/tenants/${encodeURIComponent(this.tenant)}/preferences`, body);
      say($("prefs-status"), `Saved the preferences of ${this.tenant}.`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      say($("prefs-status"), `Not saved: ${error.message}`, "error");
    }
  }
}

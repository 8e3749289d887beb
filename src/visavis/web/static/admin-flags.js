// Feature flags: the global switch, rollout percentage and kill switch; tenants in beta or
// overridden on/off; the change log (who changed what, when).

import { ApiError } from "./console-api.js";
import { el, say, table, when } from "./console-dom.js";

function describe(change) {
  return Object.entries(change)
    .map(([name, value]) => `${name}: ${JSON.stringify(value)}`)
    .join(", ");
}

export class FlagsSection {
  constructor(api, container) {
    this.api = api;
    this.container = container;
    this.tenants = [];
    this.guard = (work) => work();
  }

  async load(tenants) {
    this.tenants = tenants;
    const flags = (await this.api.get("/v1/admin/flags")).items;
    const cards = await Promise.all(flags.map((flag) => this.card(flag)));
    this.container.replaceChildren(...cards);
  }

  async card(flag) {
    const id = (part) => `flag-${flag.name}-${part}`;
    const status = el("p", { class: "message", role: "status", "data-testid": "flag-status", hidden: true });
    const act = (work, done) =>
      this.guard(async () => {
        try {
          await work();
          await this.load(this.tenants);
          const again = this.container.querySelector(`[data-flag="${flag.name}"] [data-testid=flag-status]`);
          if (again) say(again, done);
        } catch (error) {
          if (!(error instanceof ApiError) || error.status === 401) throw error;
          say(status, `Not changed: ${error.message}`, "error");
        }
      });
    const path = `/v1/admin/flags/${encodeURIComponent(flag.name)}`;
    const settings = el(
      "form",
      {
        class: "flag-settings",
        "data-testid": "flag-form",
        onsubmit: (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          act(
            () =>
              this.api.request("PATCH", path, {
                enabled: form.elements.enabled.checked,
                rollout_percent: Number(form.elements.rollout.value),
                kill_switch: form.elements.kill.checked,
              }),
            `Saved ${flag.name}.`,
          );
        },
      },
      el("div", { class: "check" },
        el("input", { type: "checkbox", id: id("enabled"), name: "enabled", checked: flag.enabled, "data-testid": "flag-enabled" }),
        el("label", { for: id("enabled") }, "Enabled")),
      el("label", { for: id("rollout") }, "Rollout (% of tenants)",
        el("input", { type: "number", id: id("rollout"), name: "rollout", min: "0", max: "100", step: "1", required: true, value: String(flag.rollout_percent), "data-testid": "flag-rollout" })),
      el("div", { class: "check kill" },
        el("input", { type: "checkbox", id: id("kill"), name: "kill", checked: flag.kill_switch, "data-testid": "flag-kill" }),
        el("label", { for: id("kill") }, "Kill switch (off for everyone, at once)")),
      el("button", { type: "submit", class: "primary", "data-testid": "save-flag" }, "Save flag"),
    );
    const members = table(
      `Tenants of ${flag.name}`,
      ["Tenant", "State", "Action"],
      flag.tenants.map((t) => [
        t.tenant,
        t.state,
        el("button", {
          type: "button",
          "aria-label": `Remove ${t.tenant} from ${flag.name}`,
          onclick: () => act(() => this.api.request("DELETE", `${path}/tenants/${encodeURIComponent(t.tenant)}`), `Removed ${t.tenant}.`),
        }, "Remove"),
      ]),
      { empty: "No tenant in beta or overridden.", testid: "flag-tenants" },
    );
    const adding = el(
      "form",
      {
        class: "inline-form",
        onsubmit: (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const tenant = form.elements.tenant.value;
          act(
            () => this.api.request("PUT", `${path}/tenants/${encodeURIComponent(tenant)}`, { state: form.elements.state.value }),
            `${tenant} is now ${form.elements.state.value}.`,
          );
        },
      },
      el("label", { for: id("tenant") }, "Tenant",
        el("select", { id: id("tenant"), name: "tenant", "data-testid": "flag-tenant" }, this.tenants.map((t) => new Option(t.name, t.name)))),
      el("label", { for: id("state") }, "State",
        el("select", { id: id("state"), name: "state", "data-testid": "flag-tenant-state" },
          new Option("beta", "beta"), new Option("on (override)", "on"), new Option("off (override)", "off"))),
      el("button", { type: "submit", "data-testid": "add-flag-tenant" }, "Set"),
    );
    const changes = (await this.api.get(`${path}/changes?limit=20`)).items;
    const names = new Map(this.tenants.map((t) => [t.id, t.name]));
    const log = table(
      `Changes of ${flag.name}`,
      ["When", "Who", "Tenant", "Change"],
      changes.map((c) => [when(c.changed_at), c.actor, c.tenant_id ? names.get(c.tenant_id) || c.tenant_id : "all", describe(c.change)]),
      { empty: "Never changed.", testid: "flag-changes" },
    );
    return el(
      "article",
      { class: "flag", "data-flag": flag.name },
      el("h3", {}, flag.name, " ", el("span", { class: "muted" }, flag.description)),
      settings,
      el("h4", {}, "Beta tenants and overrides"),
      members,
      this.tenants.length ? adding : null,
      el("h4", {}, "Change log"),
      log,
      status,
    );
  }
}

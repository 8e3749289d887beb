// A tenant's API keys: the list (prefixes only), a new key shown once, revocation.

import { ApiError } from "./console-api.js";
import { el, say, table, when } from "./console-dom.js";

const $ = (id) => document.getElementById(id);

export class KeysSection {
  constructor(api) {
    this.api = api;
    this.tenant = null;
    this.guard = (work) => work();
    $("create-key").addEventListener("click", () => this.guard(() => this.create()));
  }

  path(suffix = "") {
    return `/v1/admin/tenants/${encodeURIComponent(this.tenant)}/keys${suffix}`;
  }

  async show(tenant) {
    if (tenant !== this.tenant) {
      $("new-key").hidden = true;
      $("new-key-value").value = "";
      say($("keys-status"), "");
    }
    this.tenant = tenant;
    const keys = (await this.api.get(this.path())).items;
    const rows = keys.map((key) => [
      el("code", {}, key.prefix),
      when(key.created_at),
      key.revoked_at ? `revoked ${when(key.revoked_at)}` : "active",
      key.revoked_at
        ? ""
        : el(
            "button",
            {
              type: "button",
              class: "danger",
              "data-testid": "revoke-key",
              "data-prefix": key.prefix,
              "aria-label": `Revoke key ${key.prefix}`,
              onclick: () => this.guard(() => this.revoke(key.prefix)),
            },
            "Revoke",
          ),
    ]);
    $("keys").replaceChildren(
      table(`API keys of ${tenant}`, ["Prefix", "Created", "State", "Action"], rows, {
        empty: "This tenant has no API keys.",
        testid: "key-table",
      }),
    );
  }

  async create() {
    try {
      const created = await this.api.request("POST", this.path());
      $("new-key-value").value = created.key;
      $("new-key").hidden = false;
      say($("keys-status"), `Created key ${created.prefix}: copy it now, it is not shown again.`);
      await this.show(this.tenant);
      $("new-key-value").select();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      say($("keys-status"), `No key created: ${error.message}`, "error");
    }
  }

  async revoke(prefix) {
    if (!window.confirm(`Revoke key ${prefix}? Calls made with it fail from now on.`)) return;
    try {
      await this.api.request("DELETE", this.path(`/${encodeURIComponent(prefix)}`));
      say($("keys-status"), `Revoked key ${prefix}.`);
      await this.show(this.tenant);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      say($("keys-status"), `Not revoked: ${error.message}`, "error");
    }
  }
}

// What is happening now: live conversations across instances, recent avatar fallbacks, and
// webhook delivery (endpoints with their backlog, the latest deliveries).

import { el, table, when } from "./console-dom.js";

const $ = (id) => document.getElementById(id);

export class LiveSection {
  constructor(api) {
    this.api = api;
  }

  async load() {
    const [live, fallbacks, endpoints, deliveries] = await Promise.all([
      this.api.get("/v1/admin/conversations/live?limit=100"),
      this.api.get("/v1/admin/fallbacks?limit=50"),
      this.api.get("/v1/admin/webhooks"),
      this.api.get("/v1/admin/webhooks/deliveries?limit=50"),
    ]);
    $("live-list").replaceChildren(
      table(
        "Live conversations",
        ["Tenant", "Conversation", "Agent", "Avatar", "Started", "Instance"],
        live.items.map((c) => [
          c.tenant,
          el("code", {}, c.id),
          c.agent,
          c.avatar_enabled ? `${c.avatar_provider}${c.avatar_quality ? ` (${c.avatar_quality})` : ""}` : "audio only",
          when(c.created_at),
          c.instance || "disconnected",
        ]),
        { empty: "No live conversation.", testid: "live-conversations" },
      ),
    );
    $("fallback-list").replaceChildren(
      table(
        "Recent fallbacks",
        ["When", "Tenant", "Conversation", "Provider", "Reason", "Into the conversation"],
        fallbacks.items.map((f) => [
          when(f.occurred_at),
          f.tenant,
          f.conversation_id ? el("code", {}, f.conversation_id) : "—",
          f.provider || "—",
          f.reason || "—",
          f.at_ms === null ? "—" : `${(f.at_ms / 1000).toFixed(1)} s`,
        ]),
        { empty: "No fallback recently.", testid: "fallbacks" },
      ),
    );
    $("endpoint-list").replaceChildren(
      table(
        "Webhook endpoints",
        ["Tenant", "URL", "State", "Failures in a row", "Pending", "Failed"],
        endpoints.items.map((e) => [
          e.tenant,
          el("code", {}, e.url),
          e.enabled ? (e.consecutive_failures ? `failing since ${when(e.failing_since)}` : "healthy") : `disabled: ${e.disabled_reason || "by the tenant"}`,
          String(e.consecutive_failures),
          String(e.pending),
          String(e.failed),
        ]),
        { empty: "No webhook endpoint registered.", testid: "webhook-endpoints" },
      ),
    );
    $("delivery-list").replaceChildren(
      table(
        "Recent webhook deliveries",
        ["Created", "Tenant", "Event", "URL", "Status", "Attempts", "Last answer"],
        deliveries.items.map((d) => [
          when(d.created_at),
          d.tenant,
          d.event_type,
          el("code", {}, d.url),
          d.status,
          String(d.attempts),
          d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error || "—",
        ]),
        { empty: "No delivery yet.", testid: "webhook-deliveries" },
      ),
    );
  }
}

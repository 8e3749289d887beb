// The console's usage section: one chart per tenant of conversations, avatar minutes and cost
// per UTC day (GET /v1/admin/usage/daily), with this month against the limits.

import { el } from "./console-dom.js";
import { chartKey, drawDaily } from "./usage-chart.js";

export class UsageSection {
  constructor(api, container, daysSelect, keyHolder) {
    this.api = api;
    this.container = container;
    this.daysSelect = daysSelect;
    keyHolder.replaceChildren(chartKey());
  }

  async load(tenants) {
    this.tenants = tenants;
    await this.reload();
  }

  async reload() {
    const days = Number(this.daysSelect.value);
    const report = await this.api.get(`/v1/admin/usage/daily?days=${days}`);
    if (report.tenants.length === 0) {
      this.container.replaceChildren(
        el("p", { class: "empty" }, "No tenants yet: create one with `visavis tenants create NAME`."),
      );
      return;
    }
    const figures = report.tenants.map((tenant) => {
      const figure = el("figure", { class: "usage-chart", "data-testid": "usage-chart", "data-tenant": tenant.tenant });
      return { tenant, figure };
    });
    this.container.replaceChildren(...figures.map((f) => f.figure));
    for (const { tenant, figure } of figures) {
      drawDaily(figure, tenant.tenant, report.days, tenant);
    }
  }
}

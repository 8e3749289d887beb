// Usage per day as a chart (uPlot, vendored: /static/vendor/uplot.min.js, loaded by the page
// before its modules) with the figures in a table beside it, for screen readers and checks.

import { el, usd } from "./console-dom.js";

const COLORS = { conversations: "#5aaaff", minutes: "#3ecf8e", cost: "#f5b342" };
const DAY = 86400;
const DAY_STEPS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY];
const dayLabel = (ts) => new Date(ts * 1000).toISOString().slice(5, 10); // MM-DD, UTC
const AXIS = { stroke: "#aab7c5", grid: { stroke: "#2c3b4b", width: 1 }, ticks: { stroke: "#2c3b4b" } };

/** Tick labels with as many decimals as the step between ticks needs (at least cents). */
function dollars(ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const places = (String(Number(step.toFixed(6))).split(".")[1] || "").length;
  const decimals = step >= 1 ? 0 : Math.min(4, Math.max(2, places));
  return ticks.map((t) => `$${t.toFixed(decimals)}`);
}

function totals(series) {
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  return {
    conversations: sum(series.conversations),
    minutes: sum(series.avatar_seconds) / 60,
    cost: sum(series.cost_usd),
  };
}

function figuresTable(days, series) {
  const rows = days.map((day, i) => [
    day,
    String(series.conversations[i]),
    (series.avatar_seconds[i] / 60).toFixed(1),
    usd(series.cost_usd[i]),
  ]);
  return el(
    "details",
    { class: "figures" },
    el("summary", {}, "Figures per day"),
    el(
      "div",
      { class: "table-wrap", role: "region", "aria-label": "Usage per UTC day", tabindex: "0" },
      el(
        "table",
        { "data-testid": "usage-figures" },
        el("caption", { class: "visually-hidden" }, "Usage per UTC day"),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ["Day (UTC)", "Conversations", "Avatar minutes", "Cost"].map((h) =>
              el("th", { scope: "col" }, h),
            ),
          ),
        ),
        el(
          "tbody",
          {},
          rows.filter((_, i) => series.conversations[i] || series.avatar_seconds[i] || series.cost_usd[i])
            .map((cells) => el("tr", { "data-day": cells[0] }, cells.map((c) => el("td", {}, c)))),
        ),
      ),
    ),
  );
}

/**
 * Draw ``series`` (conversations, avatar_seconds, cost_usd: one value per day of ``days``,
 * ISO dates) into ``figure``, replacing what it showed. Returns the uPlot instance.
 */
export function drawDaily(figure, title, days, series) {
  const sum = totals(series);
  const summary =
    `${title}: ${sum.conversations} conversations, ${sum.minutes.toFixed(1)} avatar minutes, ` +
    `${usd(sum.cost)} over ${days.length} days`;
  const plot = el("div", { class: "chart", role: "img", "aria-label": summary });
  figure.replaceChildren(
    el("figcaption", {}, el("strong", {}, title), " ", el("span", { class: "muted" }, summary.slice(title.length + 2))),
    plot,
    figuresTable(days, series),
  );
  figure.dataset.conversations = String(sum.conversations);
  figure.dataset.costUsd = sum.cost.toFixed(6);
  const x = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const data = [x, series.conversations, series.avatar_seconds.map((s) => s / 60), series.cost_usd];
  const width = () => Math.max(260, Math.floor(plot.clientWidth || figure.clientWidth || 600));
  const chart = new window.uPlot(
    {
      width: width(),
      height: 200,
      tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, count: { range: (_u, _min, max) => [0, Math.max(1, max)] }, usd: { range: (_u, _min, max) => [0, Math.max(0.1, max)] } },
      axes: [
        // Whole UTC days only: a tick per day, or per few days when they do not fit.
        { ...AXIS, incrs: DAY_STEPS, values: (_u, ticks) => ticks.map(dayLabel) },
        { ...AXIS, scale: "count", label: "conversations · minutes", labelSize: 18, size: 46 },
        { ...AXIS, scale: "usd", side: 1, label: "USD", labelSize: 18, size: 56, values: (_u, ticks) => dollars(ticks) },
      ],
      series: [
        {},
        { label: "Conversations", scale: "count", stroke: COLORS.conversations, width: 2, fill: "rgba(90,170,255,0.12)", points: { show: true } },
        { label: "Avatar minutes", scale: "count", stroke: COLORS.minutes, width: 2, points: { show: true } },
        { label: "Cost (USD)", scale: "usd", stroke: COLORS.cost, width: 2, dash: [6, 4], points: { show: true } },
      ],
    },
    data,
    plot,
  );
  figure.resizing?.disconnect();
  figure.chart?.destroy();
  figure.resizing = new ResizeObserver(() => chart.setSize({ width: width(), height: 200 }));
  figure.resizing.observe(plot);
  figure.chart = chart;
  return chart;
}

/** The chart's key: which colour is which series (the chart's own legend is off). */
export function chartKey() {
  return el(
    "ul",
    { class: "chart-key", "aria-hidden": "true" },
    [["conversations", "Conversations"], ["minutes", "Avatar minutes"], ["cost", "Cost (USD, right axis)"]].map(
      ([kind, label]) => el("li", {}, el("span", { class: `swatch ${kind}` }), label),
    ),
  );
}

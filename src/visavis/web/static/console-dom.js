// Small DOM and formatting helpers of the console pages (no framework, no innerHTML).

/** An element with attributes (``on*`` functions become listeners) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, { empty = "Nothing yet.", testid = null } = {}) {
  if (rows.length === 0) return el("p", { class: "empty", "data-testid": testid }, empty);
  // A table wider than a phone scrolls: the region takes focus so keyboards can scroll it too.
  return el(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    el(
      "table",
      { "data-testid": testid },
      el("caption", { class: "visually-hidden" }, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
    ),
  );
}

/** Show ``text`` in a status line (``kind``: "ok" or "error"); empty text hides it. */
export function say(node, text, kind = "ok") {
  node.textContent = text;
  node.dataset.kind = kind;
  node.hidden = text === "";
}

export function usd(value) {
  return value === null || value === undefined ? "no limit" : `$${Number(value).toFixed(2)}`;
}

export function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function minutes(seconds) {
  return `${(seconds / 60).toFixed(1)} min`;
}

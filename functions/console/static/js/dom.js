// Building the page from data. Every string from the API (tags, endpoint, key and custom endpoint names)
// goes in as a text node, never as HTML.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(element, ...children) { element.replaceChildren(); append(element, children); return element; }

export function toast(text) {
  const note = h("div", { class: "toast", role: "status" }, text);
  document.body.append(note);
  setTimeout(() => note.remove(), 1800);
}

export function copyable(text, label = text) {
  return h("span", { class: "copy" }, h("code", {}, label),
    h("button", { type: "button", title: `Copy ${text}`, onclick: () => copy(text) }, "Copy"));
}

export async function copy(text) {
  try { await navigator.clipboard.writeText(text); toast("Copied"); }
  catch { toast("Select the text and copy it"); }
}

export function empty(title, ...body) { return h("div", { class: "empty" }, h("b", {}, title), ...body); }

export function errorBox(error) { return h("p", { class: "error", role: "alert" }, error.message || String(error)); }

export function table(columns, rows, { rowClass } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "" }, c.title)));
  const body = rows.map((row) => h("tr", { class: rowClass ? rowClass(row) : "" },
    columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.cell(row)))));
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function bars(items, format) {
  if (!items.length) return null;
  const top = Math.max(...items.map((i) => i.value)) || 1;
  return h("div", { class: "bars" }, items.map((item) => {
    const fill = h("div", { class: "fill" });
    fill.style.width = `${(100 * item.value) / top}%`;
    return h("div", { class: "bar" }, h("span", { class: "label", title: item.label }, item.label),
      h("div", { class: "track" }, fill), h("span", { class: "mono" }, format(item.value)));
  }));
}

const number = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
export const fmt = {
  ms: (v) => (v === null || v === undefined ? "—" : `${number.format(v)} ms`),
  num: (v) => (v === null || v === undefined ? "—" : number.format(v)),
  pct: (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(v && v < 0.01 ? 2 : 1)}%`),
  // Credits (1 credit = 1 USD); small amounts keep their significant digits.
  credits: (v) => (v === null || v === undefined ? "—" : v >= 1 ? `$${v.toFixed(2)}` : `$${Number(v.toPrecision(3))}`),
  // A balance to the micro-credit, as it is kept.
  balance: (v) => `$${v.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`,
  perM: (v) => (v === null || v === undefined || Number.isNaN(v) ? "—" : `$${Number(v.toPrecision(4))}`),
  int: (v) => (v === null || v === undefined ? "—" : Math.round(v).toLocaleString("en")),
  when: (iso) => (iso ? new Date(iso).toLocaleString("en", { dateStyle: "medium", timeStyle: "short" }) : "—"),
  ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 90) return "just now";
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 129600) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  },
};

export function debounce(fn, ms = 150) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

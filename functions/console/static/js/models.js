// Models: the catalog from /v1/models, searched, filtered, sorted and paged in the browser (one request, then
// no more: a catalog of thousands of endpoints filters in a few milliseconds; only a page of rows is drawn).
import { catalog } from "./api.js";
import { clear, copyable, debounce, empty, fmt, h } from "./dom.js";

const PAGE = 50;
const CONTEXTS = [[0, "any context"], [32000, "≥ 32K"], [128000, "≥ 128K"], [200000, "≥ 200K"], [1000000, "≥ 1M"]];

// One row from an OpenAI-style model entry with OpenRouter's fields where the catalog has them.
function fact(entry) {
  const [model, provider] = entry.id.split("@");
  const pricing = entry.pricing || {};
  const params = entry.supported_parameters || [];
  const inputs = entry.architecture?.input_modalities || [];
  const outputs = entry.architecture?.output_modalities || [];
  const perM = (v) => (v === undefined || v === null ? null : Number(v) * 1e6);
  // The catalog lists capabilities by name (["tools", "vision", "reasoning", "prompt_caching", ...]).
  const listed = Array.isArray(entry.capabilities) ? entry.capabilities : null;
  const caps = listed ? { tools: listed.includes("tools"), vision: listed.includes("vision"),
    reasoning: listed.includes("reasoning"), caching: listed.includes("prompt_caching") } : entry.capabilities || {};
  return {
    id: entry.id, model: model || entry.id, provider: provider || entry.owned_by || "",
    type: entry.type || (outputs.includes("embeddings") ? "embedding" : "chat"),
    context: entry.context_length ?? entry.top_provider?.context_length ?? null,
    maxOutput: entry.top_provider?.max_completion_tokens ?? null,
    input: perM(pricing.prompt), output: perM(pricing.completion), cached: perM(pricing.input_cache_read),
    caps: {
      tools: caps.tools ?? (params.includes("tools") || undefined),
      vision: caps.vision ?? (inputs.includes("image") || undefined),
      reasoning: caps.reasoning ?? (params.includes("reasoning") || params.includes("reasoning_effort") || undefined),
      caching: caps.caching ?? (pricing.input_cache_read !== undefined || undefined),
    },
  };
}

export async function render(view) {
  const rows = (await catalog()).map(fact);
  const providers = [...new Set(rows.map((r) => r.provider))].sort();
  const known = Object.fromEntries(["tools", "vision", "reasoning", "caching"].map((c) => [c, rows.some((r) => r.caps[c] !== undefined)]));
  const state = { q: "", provider: "", type: "", context: 0, maxPrice: "", caps: new Set(), sort: "id", desc: false, page: 0 };

  const search = h("input", { type: "search", id: "models-search", placeholder: `Search ${rows.length.toLocaleString("en")} endpoints`, "aria-label": "Search models", autocomplete: "off" });
  const provider = h("select", { id: "models-provider", "aria-label": "Provider" }, h("option", { value: "" }, "all providers"), providers.map((p) => h("option", { value: p }, p)));
  const type = h("select", { id: "models-type", "aria-label": "Type" }, h("option", { value: "" }, "chat and embedding"), h("option", { value: "chat" }, "chat"), h("option", { value: "embedding" }, "embedding"));
  const context = h("select", { "aria-label": "Context length" }, CONTEXTS.map(([v, label]) => h("option", { value: String(v) }, label)));
  const maxPrice = h("input", { type: "number", min: "0", step: "0.01", placeholder: "max input $/1M", "aria-label": "Maximum input price per million tokens" });
  maxPrice.style.width = "150px";
  const caps = Object.keys(known).map((c) => h("label", { title: known[c] ? "" : "The catalog does not state this capability yet" },
    h("input", { type: "checkbox", value: c, disabled: !known[c], onchange: (e) => { e.target.checked ? state.caps.add(c) : state.caps.delete(c); update(); } }), c));
  const count = h("span", { class: "muted" });
  const results = h("div", { id: "models-table" });
  const pager = h("div", { class: "pager" });

  view.append(h("div", { class: "card" }, h("h1", {}, "Models"),
    h("p", { class: "muted" }, "Every endpoint your key may call. Use an endpoint string as the ", h("code", {}, "model"),
      " of a request, or ", h("code", {}, "<model>@lowest-input-cost"), ", ", h("code", {}, "@lowest-ttft"), "… to let the gateway choose."),
    h("div", { class: "toolbar" }, search, provider, type, context, maxPrice), h("div", { class: "toolbar" }, caps, h("span", { class: "grow" }), count)),
  h("div", { class: "card" }, results, pager));
  search.style.flex = "1";

  // The cached-input column only once the catalog prices cached reads.
  const cachedPrices = rows.some((r) => r.cached !== null);
  const columns = [
    ["id", "Endpoint"], ["type", "Type"], ["context", "Context"], ["maxOutput", "Max output"],
    ["input", "Input $/1M"], ...(cachedPrices ? [["cached", "Cached $/1M"]] : []), ["output", "Output $/1M"], [null, "Capabilities"], [null, ""],
  ];

  function filtered() {
    const words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    const limit = state.maxPrice === "" ? Infinity : Number(state.maxPrice);
    const found = rows.filter((r) => (!state.provider || r.provider === state.provider) && (!state.type || r.type === state.type)
      && (!state.context || (r.context ?? 0) >= state.context) && (limit === Infinity || (r.input !== null && r.input <= limit))
      && [...state.caps].every((c) => r.caps[c]) && words.every((w) => r.id.toLowerCase().includes(w)));
    const key = state.sort;
    const sign = state.desc ? -1 : 1;
    return found.sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === y) return a.id.localeCompare(b.id);
      if (x === null) return 1;
      if (y === null) return -1;
      return sign * (typeof x === "number" ? x - y : String(x).localeCompare(String(y)));
    });
  }

  function update() { state.page = 0; draw(); }

  function draw() {
    const found = filtered();
    const pages = Math.max(1, Math.ceil(found.length / PAGE));
    state.page = Math.min(state.page, pages - 1);
    count.textContent = `${found.length.toLocaleString("en")} of ${rows.length.toLocaleString("en")} endpoints`;
    if (!found.length) {
      clear(results, empty("No endpoint matches these filters", h("p", {}, "Clear the search or loosen a filter.")));
      clear(pager);
      return;
    }
    const head = h("tr", {}, columns.map(([key, title]) => h("th", {
      class: `${key ? "sortable" : ""} ${["context", "maxOutput", "input", "cached", "output"].includes(key) ? "num" : ""}`,
      onclick: key ? () => { state.desc = state.sort === key ? !state.desc : false; state.sort = key; draw(); } : undefined,
    }, title, state.sort === key ? (state.desc ? " ↓" : " ↑") : "")));
    const body = found.slice(state.page * PAGE, (state.page + 1) * PAGE).map((r) => h("tr", {},
      h("td", {}, copyable(r.id)),
      h("td", {}, r.type),
      h("td", { class: "num" }, r.context ? fmt.int(r.context) : "—"),
      h("td", { class: "num" }, r.maxOutput && r.type === "chat" ? fmt.int(r.maxOutput) : "—"),
      h("td", { class: "num" }, fmt.perM(r.input)),
      cachedPrices ? h("td", { class: "num" }, fmt.perM(r.cached)) : null,
      h("td", { class: "num" }, fmt.perM(r.output)),
      h("td", {}, Object.entries(r.caps).filter(([, v]) => v).map(([c]) => h("span", { class: "chip cap" }, c))),
      h("td", {}, r.type === "chat" ? h("a", { href: `#/benchmarks?model=${encodeURIComponent(r.model)}`, class: "small" }, "Benchmarks →") : ""),
    ));
    clear(results, h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body))));
    clear(pager, h("button", { type: "button", class: "light small", disabled: state.page === 0, onclick: () => { state.page--; draw(); } }, "Previous"),
      `page ${state.page + 1} of ${pages}`,
      h("button", { type: "button", class: "light small", disabled: state.page >= pages - 1, onclick: () => { state.page++; draw(); } }, "Next"));
  }

  search.addEventListener("input", debounce(() => { state.q = search.value; update(); }, 80));
  provider.addEventListener("change", () => { state.provider = provider.value; update(); });
  type.addEventListener("change", () => { state.type = type.value; update(); });
  context.addEventListener("change", () => { state.context = Number(context.value); update(); });
  maxPrice.addEventListener("input", debounce(() => { state.maxPrice = maxPrice.value; update(); }, 150));
  draw();
}

// Benchmarks: a model's endpoints side by side, as measured from this gateway's own traffic.
import { api, BASE_URL, catalog } from "./api.js";
import { clear, copyable, empty, errorBox, fmt, h, table } from "./dom.js";
import { navigate } from "./app.js";
import { scatter, timeSeries } from "./charts.js";

const RANGES = { "24h": { since: "24h", step: "30m" }, "7d": { since: "7d", step: "3h" } };

function perMillion(price) { return price === undefined || price === null ? null : Number(price) * 1e6; }

function curlFor(endpoint) {
  return `curl ${BASE_URL}/v0/chat/completions -H "Authorization: Bearer $UNIGATE_API_KEY" \\\n` +
    `  -H 'Content-Type: application/json' \\\n` +
    `  -d '{"model": "${endpoint}", "stream": true, "messages": [{"role": "user", "content": "Hello"}]}'`;
}

export async function render(view, params) {
  const model = params.get("model") || "";
  const models = await api("/v0/models");
  const list = h("datalist", { id: "model-list" }, models.map((m) => h("option", { value: m })));
  const input = h("input", { type: "search", id: "model-search", list: "model-list", value: model,
    placeholder: "Search a model, e.g. gpt-4o or llama-3.1-70b-chat", "aria-label": "Model", autocomplete: "off" });
  const form = h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); navigate("benchmarks", { model: input.value.trim() }); } },
    input, list, h("button", { type: "submit" }, "Show benchmarks"));
  input.style.flex = "1";
  view.append(h("div", { class: "card" }, h("h1", {}, "Benchmarks"),
    h("p", { class: "muted" }, "Time to first token, inter-token latency, throughput and errors of every endpoint of a model, " +
      "measured from this gateway's own traffic, next to its prices."), form));
  if (!model) {
    const suggestions = ["echo", "gpt-4o", "claude-3.5-sonnet", "llama-3.1-70b-chat"].filter((m) => models.includes(m));
    view.append(h("div", { class: "card" }, empty("Pick a model to compare its endpoints",
      h("p", {}, "Try ", suggestions.map((m) => h("a", { href: `#/benchmarks?model=${encodeURIComponent(m)}`, class: "chip" }, m))))));
    return;
  }
  const [rows, choices, entries] = await Promise.all([
    api("/v0/endpoint-metrics", { query: { model } }),
    api("/v0/endpoint-metrics/choices", { query: { model } }).catch(() => null),
    catalog().catch(() => []),
  ]);
  const byId = new Map(entries.map((e) => [e.id, e]));
  if (!rows.length) {
    view.append(h("div", { class: "card" }, empty(`${model} has no chat endpoints to measure`)));
    return;
  }
  const measured = rows.filter((r) => r.samples > 0);
  const fastest = Math.min(...measured.map((r) => r.ttft ?? Infinity));
  view.append(h("div", { class: "card", id: "endpoints" }, h("h2", {}, `${model}: ${rows.length} endpoint${rows.length > 1 ? "s" : ""}`),
    table([
      { title: "Endpoint", cell: (r) => copyable(r.endpoint) },
      { title: "TTFT p50", num: true, cell: (r) => fmt.ms(r.ttft) },
      { title: "TTFT p90", num: true, cell: (r) => fmt.ms(r.ttft_p90) },
      { title: "ITL p50", num: true, cell: (r) => fmt.ms(r.itl) },
      { title: "ITL p90", num: true, cell: (r) => fmt.ms(r.itl_p90) },
      { title: "Tok/s", num: true, cell: (r) => fmt.num(r.tks_per_sec) },
      { title: "In $/1M", num: true, cell: (r) => fmt.perM(r.input_cost) },
      { title: "Cached $/1M", num: true, cell: (r) => fmt.perM(r.cached_input_cost ?? perMillion(byId.get(r.endpoint)?.pricing?.input_cache_read)) },
      { title: "Out $/1M", num: true, cell: (r) => fmt.perM(r.output_cost) },
      { title: "Errors", num: true, cell: (r) => (r.samples ? h("span", { class: r.error_rate > 0.05 ? "chip bad" : "" }, fmt.pct(r.error_rate)) : "—") },
      { title: "Samples", num: true, cell: (r) => fmt.int(r.samples) },
      { title: "Measured", cell: (r) => h("span", { title: r.measured_at || "" }, fmt.ago(r.measured_at)) },
    ], rows, { rowClass: (r) => (r.samples && r.ttft === fastest ? "best" : "") }),
    measured.length ? h("p", { class: "muted small" }, "Latency and speed over the last hour of traffic; prices in credits (USD) per million tokens.") :
      empty("No traffic measured yet", h("p", {}, "Send a streamed request to one of these endpoints and reload:"),
        h("pre", {}, curlFor(rows[0].endpoint)))));

  if (choices) {
    view.append(h("div", { class: "card", id: "choices" }, h("h2", {}, "What each meta-provider would choose now"),
      h("div", { class: "choices" }, choices.choices.map((c) => h("div", { class: "choice" },
        h("b", {}, `${model}${c.meta_provider}`),
        c.endpoint ? h("span", {}, "→ ", h("code", {}, c.endpoint)) : h("span", { class: "muted small" }, c.reason)))),
      h("p", { class: "muted small" }, "Endpoints with fewer than the routing minimum of samples are ranked by a prior; ties go to the cheaper.")));
  }

  const chartCard = h("div", { class: "card" }, h("h2", {}, "Price against time to first token"));
  view.append(chartCard);
  const points = measured.filter((r) => r.ttft !== null).map((r) => ({
    x: r.ttft, y: (3 * r.input_cost + r.output_cost) / 4, label: r.endpoint.split("@")[1] }));
  if (points.length) {
    const box = h("div", { class: "chart", id: "price-chart" });
    chartCard.append(box, h("p", { class: "muted small" }, "Blended price: 3 parts input to 1 part output, $ per 1M tokens. Lower left is better."));
    await scatter(box, points, { xLabel: "TTFT p50 (ms)", yLabel: "$ / 1M tokens", yFormat: (v) => `$${Number(v.toPrecision(3))}` });
  } else {
    chartCard.append(empty("Nothing to plot yet", h("p", {}, "The chart fills in once an endpoint has streamed responses.")));
  }

  const endpointPick = h("select", { "aria-label": "Endpoint" }, rows.map((r) => h("option", { value: r.endpoint }, r.endpoint)));
  endpointPick.value = (measured[0] || rows[0]).endpoint;
  let range = "24h";
  const rangeButtons = Object.keys(RANGES).map((name) => h("button", { type: "button", "aria-selected": String(name === range),
    onclick: () => { range = name; rangeButtons.forEach((b) => b.setAttribute("aria-selected", String(b.textContent === name))); draw(); } }, name));
  const seriesBox = h("div", { class: "chart", id: "history-chart" });
  const seriesCard = h("div", { class: "card", id: "history" }, h("h2", {}, "Over time"),
    h("div", { class: "toolbar" }, endpointPick, h("div", { class: "tabs" }, rangeButtons)), seriesBox);
  endpointPick.addEventListener("change", () => draw());
  view.append(seriesCard);

  async function draw() {
    try {
      const history = await api("/v0/endpoint-metrics/history", { query: { endpoint: endpointPick.value, ...RANGES[range] } });
      const x = history.points.map((p) => new Date(p.start).getTime() / 1000);
      clear(seriesBox);
      if (!history.points.some((p) => p.samples)) {
        seriesBox.append(empty(`No traffic on ${history.endpoint} in the last ${range}`, h("pre", {}, curlFor(history.endpoint))));
        return;
      }
      const latest = history.points.filter((p) => p.samples).pop();
      const note = (h("p", { class: "muted small" }, `Latest measured step (${fmt.when(latest.start)}): `,
        `TTFT ${fmt.ms(latest.ttft)} (p90 ${fmt.ms(latest.ttft_p90)}), ITL ${fmt.ms(latest.itl)}, `,
        `${fmt.num(latest.tks_per_sec)} tokens/s, ${fmt.int(latest.samples)} samples. Point at the chart for any step.`));
      await timeSeries(seriesBox, x, [
        { label: "TTFT p50", scale: "ms", values: history.points.map((p) => p.ttft) },
        { label: "ITL p50", scale: "ms", values: history.points.map((p) => p.itl) },
        { label: "Output tok/s", scale: "tps", values: history.points.map((p) => p.tks_per_sec), dash: [6, 4] },
      ]);
      seriesBox.append(note);
    } catch (error) {
      clear(seriesBox, errorBox(error));
    }
  }
  await draw();
}

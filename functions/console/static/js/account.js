// Account: balance, spend, the query log, the account's own provider keys and custom endpoints, snippets.
import { allQueries, api, BASE_URL } from "./api.js";
import { bars, clear, copy, copyable, empty, errorBox, fmt, h, table, toast } from "./dom.js";
import { dailyBars } from "./charts.js";

const WINDOWS = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

function isoAgo(seconds) { return new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z"); }

function firstRequest() {
  return `curl ${BASE_URL}/v0/chat/completions -H "Authorization: Bearer $UNIGATE_API_KEY" \\\n` +
    `  -H 'Content-Type: application/json' \\\n` +
    `  -d '{"model": "echo@echo", "tags": ["first"], "messages": [{"role": "user", "content": "Hello"}]}'`;
}

const SNIPPETS = {
  openai: () => `import os

from openai import OpenAI

client = OpenAI(base_url="${BASE_URL}/v1", api_key=os.environ["UNIGATE_API_KEY"])
reply = client.chat.completions.create(
    model="gpt-4o-mini@openai",   # or "<model>@lowest-input-cost", "echo@echo", ...
    messages=[{"role": "user", "content": "Hello"}],
    extra_body={"tags": ["docs"]},
)
print(reply.choices[0].message.content, reply.usage.cost)`,
  anthropic: () => `import os

from anthropic import Anthropic

client = Anthropic(base_url="${BASE_URL}", api_key=os.environ["UNIGATE_API_KEY"])
message = client.messages.create(
    model="claude-3.5-haiku@anthropic", max_tokens=256,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text)`,
  curl: () => `curl ${BASE_URL}/v1/chat/completions \\
  -H "Authorization: Bearer $UNIGATE_API_KEY" -H 'Content-Type: application/json' \\
  -d '{"model": "echo@echo", "messages": [{"role": "user", "content": "Hello"}]}'`,
};

export async function render(view) {
  const credits = await api("/v0/credits");
  const balance = h("div", { class: "card", id: "balance" }, h("h3", {}, "Balance"),
    h("div", { class: "big", id: "balance-value" }, fmt.balance(credits.credits)),
    h("p", { class: "muted small" }, `Account ${credits.id}. 1 credit = 1 USD; every request holds its worst case and settles the real cost.`),
    h("div", { class: "stats", id: "balance-stats" }));
  const snippetCard = h("div", { class: "card", id: "snippets" });
  view.append(h("div", { class: "grid" }, balance, snippetCard));
  drawSnippets(snippetCard);

  const spendCard = h("div", { class: "card", id: "spend" }, h("h2", {}, "Spend, last 7 days"), h("p", { class: "muted" }, "Loading…"));
  view.append(spendCard);
  const logCard = h("div", { class: "card", id: "querylog" });
  view.append(logCard);
  const keysCard = h("div", { class: "card", id: "keys" });
  const endpointsCard = h("div", { class: "card", id: "custom-endpoints" });
  view.append(h("div", { class: "grid" }, keysCard, endpointsCard));

  await Promise.all([drawSpend(spendCard, balance.querySelector("#balance-stats")), drawLog(logCard), drawKeys(keysCard, endpointsCard)]);
}

function drawSnippets(card) {
  let current = "openai";
  const pre = h("pre", { id: "snippet-code" });
  const tabs = Object.keys(SNIPPETS).map((name) => h("button", { type: "button", "aria-selected": String(name === current),
    onclick: () => { current = name; show(); } }, name));
  function show() {
    tabs.forEach((t) => t.setAttribute("aria-selected", String(t.textContent === current)));
    pre.textContent = SNIPPETS[current]();
  }
  clear(card, h("h3", {}, "Call the API"), h("p", { class: "muted small" }, "Base URL ", copyable(BASE_URL),
    " · export your key as UNIGATE_API_KEY"), h("div", { class: "tabs" }, tabs),
  h("div", { class: "snippet" }, pre, h("button", { type: "button", onclick: () => copy(pre.textContent) }, "Copy")));
  show();
}

async function drawSpend(card, stats) {
  const since = isoAgo(WINDOWS["7d"]);
  let found;
  try {
    found = await allQueries({ start_time: since });
  } catch (error) {
    clear(card, h("h2", {}, "Spend, last 7 days"), errorBox(error));
    return;
  }
  const { queries, truncated } = found;
  const total = queries.reduce((sum, q) => sum + (q.cost || 0), 0);
  const failed = queries.filter((q) => q.failed).length;
  const stat = (value, label) => h("div", {}, h("b", {}, value), h("span", {}, label));
  clear(stats, stat(fmt.credits(total), "spent in 7 days"), stat(queries.length.toLocaleString("en"), "requests"),
    stat(queries.length ? fmt.pct(failed / queries.length) : "—", "failed"));
  clear(card, h("div", { class: "row" }, h("h2", { class: "grow" }, "Spend, last 7 days"),
    h("span", { class: "mono" }, `${fmt.credits(total)} over ${queries.length.toLocaleString("en")} requests${truncated ? " (the latest 2,000)" : ""}`)));
  if (!queries.length) {
    card.append(empty("No requests in the last 7 days", h("p", {}, "Send one and it shows up here and in the query log:"), h("pre", {}, firstRequest())));
    return;
  }
  const days = new Map();
  const today = Math.floor(Date.now() / 86400000);
  for (let d = today - 6; d <= today; d++) days.set(d, 0);
  const byEndpoint = new Map();
  const byTag = new Map();
  for (const q of queries) {
    const day = Math.floor(new Date(q.created_at).getTime() / 86400000);
    if (days.has(day)) days.set(day, days.get(day) + (q.cost || 0));
    byEndpoint.set(q.endpoint, (byEndpoint.get(q.endpoint) || 0) + (q.cost || 0));
    for (const tag of q.tags?.length ? q.tags : ["(untagged)"]) byTag.set(tag, (byTag.get(tag) || 0) + (q.cost || 0));
  }
  const top = (map) => [...map].map(([label, value]) => ({ label, value })).sort((a, b) => b.value - a.value).slice(0, 8);
  const daily = h("div", { class: "chart", id: "spend-chart" });
  card.append(h("h3", {}, "Per day (UTC)"), daily,
    h("div", { class: "grid" }, h("div", { id: "spend-endpoints" }, h("h3", {}, "By endpoint"), bars(top(byEndpoint), fmt.credits)),
      h("div", { id: "spend-tags" }, h("h3", {}, "By tag"), bars(top(byTag), fmt.credits))));
  await dailyBars(daily, [...days.keys()].map((d) => d * 86400), [...days.values()], { format: (v) => fmt.credits(v) });
}

async function drawLog(card) {
  const filters = { tags: "", endpoints: "", window: "7d", failures: false };
  const cursors = [undefined];
  let page = 0;
  const tag = h("input", { type: "text", id: "log-tag", placeholder: "tag", "aria-label": "Tag" });
  const endpoint = h("input", { type: "text", id: "log-endpoint", placeholder: "endpoint, e.g. echo@echo", "aria-label": "Endpoint" });
  const windowPick = h("select", { id: "log-window", "aria-label": "Time window" }, Object.keys(WINDOWS).map((w) => h("option", { value: w }, `last ${w}`)), h("option", { value: "" }, "all time"));
  windowPick.value = filters.window;
  const failures = h("input", { type: "checkbox", id: "log-failures" });
  const results = h("div", { id: "log-results" });
  const pager = h("div", { class: "pager" });
  const form = h("form", { class: "toolbar", id: "log-filters", onsubmit: (e) => { e.preventDefault(); apply(); } },
    tag, endpoint, windowPick, h("label", {}, failures, "failures only"), h("button", { type: "submit" }, "Filter"));
  clear(card, h("h2", {}, "Query log"), form, results, pager);

  function apply() {
    Object.assign(filters, { tags: tag.value.trim(), endpoints: endpoint.value.trim(), window: windowPick.value, failures: failures.checked });
    cursors.length = 1; page = 0;
    load();
  }

  async function load() {
    let found;
    try {
      found = await api("/v0/queries", { query: { tags: filters.tags, endpoints: filters.endpoints, limit: 20, cursor: cursors[page],
        start_time: filters.window ? isoAgo(WINDOWS[filters.window]) : "", failures: filters.failures ? "true" : "" } });
    } catch (error) {
      clear(results, errorBox(error)); clear(pager);
      return;
    }
    cursors[page + 1] = found.next_cursor || undefined;
    const filtered = filters.tags || filters.endpoints || filters.failures;
    if (!found.queries.length) {
      clear(results, filtered ? empty("No request matches these filters", h("p", {}, "Clear a filter or widen the time window."))
        : empty("No requests yet", h("p", {}, "Every request made with this account's keys is logged here. Send one:"), h("pre", {}, firstRequest())));
      clear(pager);
      return;
    }
    clear(results, table([
      { title: "Time", cell: (q) => h("span", { title: q.created_at }, fmt.when(q.created_at)) },
      { title: "Endpoint", cell: (q) => h("code", {}, q.endpoint) },
      { title: "Outcome", cell: (q) => h("span", { class: `chip ${q.failed ? "bad" : "ok"}` }, q.outcome || (q.failed ? "failed" : "ok")) },
      { title: "In", num: true, cell: (q) => fmt.int(q.prompt_tokens) },
      { title: "Out", num: true, cell: (q) => fmt.int(q.completion_tokens) },
      { title: "Latency", num: true, cell: (q) => fmt.ms(q.latency_ms) },
      { title: "Cost", num: true, cell: (q) => fmt.credits(q.cost) },
      { title: "Tags", cell: (q) => (q.tags || []).map((t) => h("span", { class: "chip", title: t }, t)) },
    ], found.queries));
    clear(pager, h("button", { type: "button", class: "light small", disabled: page === 0, onclick: () => { page--; load(); } }, "Newer"),
      `page ${page + 1}`,
      h("button", { type: "button", class: "light small", disabled: !found.next_cursor, onclick: () => { page++; load(); } }, "Older"));
  }
  await load();
}

function confirmButton(label, action) {
  let armed = false;
  const button = h("button", { type: "button", class: "danger small", onclick: async () => {
    if (!armed) { armed = true; button.textContent = "Confirm"; setTimeout(() => { armed = false; button.textContent = label; }, 4000); return; }
    await action();
  } }, label);
  return button;
}

function renameForm(name, onRename) {
  const input = h("input", { type: "text", value: name, "aria-label": `New name for ${name}` });
  const form = h("form", { class: "inline", onsubmit: async (e) => { e.preventDefault(); await onRename(input.value.trim()); } },
    input, h("button", { type: "submit", class: "small" }, "Save"));
  return form;
}

async function drawKeys(keysCard, endpointsCard) {
  async function refresh() {
    let keys, endpoints;
    try {
      [keys, endpoints] = await Promise.all([api("/v0/custom_api_key/list"), api("/v0/custom_endpoint/list")]);
    } catch (error) {
      clear(keysCard, errorBox(error));
      return;
    }
    const message = h("p", { class: "error", role: "alert", hidden: true });
    const fail = (error) => { message.textContent = error.message; message.hidden = false; };
    const run = async (fn) => { try { await fn(); await refresh(); } catch (error) { fail(error); } };

    const keyName = h("input", { type: "text", id: "key-name", placeholder: "name, e.g. openai", required: true, "aria-label": "Key name" });
    const keyValue = h("input", { type: "password", id: "key-value", placeholder: "the provider's key", required: true, "aria-label": "Key value", autocomplete: "off" });
    clear(keysCard, h("h2", {}, "Your provider keys"),
      h("p", { class: "muted small" }, "Requests with use_custom_keys go to the provider on your own key and are not charged. Stored encrypted; shown masked."),
      keys.length ? table([
        { title: "Name", cell: (k) => h("code", {}, k.name) },
        { title: "Key", cell: (k) => h("span", { class: "mono" }, k.value) },
        { title: "", cell: (k) => h("span", { class: "row small" },
          h("button", { type: "button", class: "light small", onclick: (e) => e.target.closest("td").replaceChildren(renameForm(k.name,
            (to) => run(() => api("/v0/custom_api_key/rename", { method: "POST", query: { name: k.name, new_name: to } })))) }, "Rename"),
          confirmButton("Delete", () => run(() => api("/v0/custom_api_key", { method: "DELETE", query: { name: k.name } })))) },
      ], keys) : empty("No provider keys yet", h("p", {}, "Add one below to call providers on your own account.")),
      h("form", { class: "inline", id: "key-form", onsubmit: (e) => { e.preventDefault();
        run(() => api("/v0/custom_api_key", { method: "POST", query: { name: keyName.value.trim(), value: keyValue.value } }).then(() => toast("Key added"))); } },
      keyName, keyValue, h("button", { type: "submit" }, "Add key")), message);

    const epName = h("input", { type: "text", placeholder: "name", required: true, "aria-label": "Endpoint name" });
    const epUrl = h("input", { type: "url", placeholder: "https://my-server.example.com/v1", required: true, "aria-label": "Endpoint URL" });
    const epKey = h("select", { "aria-label": "Key for the endpoint", required: true }, keys.map((k) => h("option", { value: k.name }, k.name)));
    const epModel = h("input", { type: "text", placeholder: "upstream model (optional)", "aria-label": "Upstream model" });
    const epMessage = h("p", { class: "error", role: "alert", hidden: true });
    const epRun = async (fn) => { try { await fn(); await refresh(); } catch (error) { epMessage.textContent = error.message; epMessage.hidden = false; } };
    clear(endpointsCard, h("h2", {}, "Custom endpoints"),
      h("p", { class: "muted small" }, "Your own OpenAI-compatible servers, called as ", h("code", {}, "<name>@custom"), "."),
      endpoints.length ? table([
        { title: "Endpoint", cell: (e) => copyable(`${e.name}@custom`) },
        { title: "URL", cell: (e) => h("span", { class: "mono small" }, e.url || "") },
        { title: "Key", cell: (e) => h("code", {}, e.key ?? e.key_name ?? "") },
        { title: "", cell: (e) => h("span", { class: "row small" },
          h("button", { type: "button", class: "light small", onclick: (ev) => ev.target.closest("td").replaceChildren(renameForm(e.name,
            (to) => epRun(() => api("/v0/custom_endpoint/rename", { method: "POST", query: { name: e.name, new_name: to } })))) }, "Rename"),
          confirmButton("Delete", () => epRun(() => api("/v0/custom_endpoint", { method: "DELETE", query: { name: e.name } })))) },
      ], endpoints) : empty("No custom endpoints", h("p", {}, keys.length ? "Add your server below." : "Add a provider key first: an endpoint calls its server with one.")),
      keys.length ? h("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault();
        epRun(() => api("/v0/custom_endpoint", { method: "POST", query: { name: epName.value.trim(), url: epUrl.value.trim(), key_name: epKey.value, model_arg: epModel.value.trim() } })); } },
      epName, epUrl, epKey, epModel, h("button", { type: "submit" }, "Add endpoint")) : null, epMessage);
  }
  await refresh();
}

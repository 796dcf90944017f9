// Charts through the vendored uPlot (vendor/uplot, MIT), loaded only when a page draws one, so the first
// view stays small.
let loading = null;

function load() {
  loading ??= new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = new URL("../vendor/uplot/uPlot.min.css", import.meta.url).href;
    document.head.append(css);
    const script = document.createElement("script");
    script.src = new URL("../vendor/uplot/uPlot.iife.min.js", import.meta.url).href;
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => reject(new Error("The chart library could not be loaded."));
    document.head.append(script);
  });
  return loading;
}

const COLORS = ["#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b"];
const live = new Set();

function fit(chart, element, height) {
  const observer = new ResizeObserver(() => {
    if (!element.isConnected) { observer.disconnect(); chart.destroy(); live.delete(chart); return; }
    chart.setSize({ width: Math.max(200, element.clientWidth), height });
  });
  observer.observe(element);
  live.add(chart);
}

function axis(label, format) {
  return { label, labelSize: 18, size: 58, stroke: "#5d6479", grid: { stroke: "#eef0f6" }, ticks: { stroke: "#e3e6ef" },
    values: format ? (u, values) => values.map(format) : undefined };
}

// Time series: x in epoch seconds; each series {label, values, scale: "ms" | "tps"}.
export async function timeSeries(element, x, series, { height = 260 } = {}) {
  const uPlot = await load();
  const scales = { x: { time: true } };
  const axes = [{ stroke: "#5d6479", grid: { stroke: "#eef0f6" } }];
  if (series.some((s) => s.scale === "ms")) { scales.ms = {}; axes.push({ ...axis("ms"), scale: "ms" }); }
  if (series.some((s) => s.scale === "tps")) {
    scales.tps = {};
    axes.push({ ...axis("tokens/s"), scale: "tps", side: 1, grid: { show: false } });
  }
  const options = {
    width: Math.max(200, element.clientWidth), height, scales, axes,
    cursor: { drag: { x: false, y: false } },
    series: [{}, ...series.map((s, i) => ({
      label: s.label, scale: s.scale, stroke: COLORS[i % COLORS.length], width: 2, dash: s.dash,
      points: { show: true, size: 7 }, spanGaps: false,
      value: (u, v) => (v === null || v === undefined ? "—" : `${v.toFixed(1)} ${s.scale === "tps" ? "tok/s" : "ms"}`),
    }))],
  };
  const chart = new uPlot(options, [x, ...series.map((s) => s.values)], element);
  fit(chart, element, height);
  return chart;
}

// Points with labels: x and y numbers, one label each (x ascending).
export async function scatter(element, points, { xLabel, yLabel, yFormat, height = 280 } = {}) {
  const uPlot = await load();
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const options = {
    width: Math.max(200, element.clientWidth), height,
    scales: { x: { time: false, range: (u, lo, hi) => [0, hi * 1.15 || 1] }, y: { range: (u, lo, hi) => [0, hi * 1.2 || 1] } },
    axes: [axis(xLabel), axis(yLabel, yFormat)],
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    series: [{}, { stroke: COLORS[0], fill: "#4f46e533", paths: () => null, points: { show: true, size: 11, width: 2 } }],
    hooks: { draw: [(u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.fillStyle = "#161a2b";
      sorted.forEach((p) => {
        ctx.fillText(p.label, u.valToPos(p.x, "x", true) + 9 * devicePixelRatio, u.valToPos(p.y, "y", true) - 6 * devicePixelRatio);
      });
      ctx.restore();
    }] },
  };
  const chart = new uPlot(options, [sorted.map((p) => p.x), sorted.map((p) => p.y)], element);
  fit(chart, element, height);
  return chart;
}

// Bars per day: x in epoch seconds (one per day), values in credits.
export async function dailyBars(element, x, values, { height = 220, format } = {}) {
  const uPlot = await load();
  const options = {
    width: Math.max(200, element.clientWidth), height,
    scales: { x: { time: true, range: (u, lo, hi) => [lo - 43200, hi + 43200] }, y: { range: (u, lo, hi) => [0, hi * 1.15 || 1] } },
    axes: [{ stroke: "#5d6479", grid: { show: false }, splits: () => x,
      values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" })) },
    { ...axis(null, format), size: 70 }],
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    series: [{}, { stroke: COLORS[0], fill: "#4f46e5cc", paths: uPlot.paths.bars({ size: [0.6, 48] }), points: { show: false } }],
  };
  const chart = new uPlot(options, [x, values], element);
  fit(chart, element, height);
  return chart;
}

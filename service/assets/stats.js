// The stats page: GET stats?days=N (JSON) -> key figures, two SVG charts, two tables. No libraries.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2f62d0", "#e8590c", "#12a150", "#c2255c", "#7048e8", "#0b7285", "#a61e4d", "#5c940d", "#495057", "#f08c00"];
const share = (x) => (x === null ? "–" : (x * 100).toFixed(1) + "%");

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

function frame(width, height, label) {
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  el("line", { x1: 40, x2: width - 10, y1: height - 30, y2: height - 30, stroke: "#999" }, svg);
  return svg;
}

function dayLabels(svg, days, x, height) {
  const every = Math.ceil(days.length / 10);
  days.forEach((d, i) => {
    if (i % every) return;
    const t = el("text", { x: x(i), y: height - 12, "text-anchor": "middle", "font-size": 11, fill: "#5b6475" }, svg);
    t.textContent = d.day.slice(5);
  });
}

function perDayChart(days) {
  const width = 720, height = 260, top = 10, bottom = height - 30;
  const max = Math.max(1, ...days.map((d) => d.count));
  const step = (width - 50) / days.length;
  const x = (i) => 40 + step * (i + 0.5);
  const svg = frame(width, height, `answers per day, stacked by digit; most in one day: ${max}`);
  const tick = el("text", { x: 34, y: top + 10, "text-anchor": "end", "font-size": 11, fill: "#5b6475" }, svg);
  tick.textContent = max;
  days.forEach((d, i) => {
    let y = bottom;
    d.per_digit.forEach((n, digit) => {
      if (!n) return;
      const h = (n / max) * (bottom - top);
      y -= h;
      const rect = el("rect", { x: x(i) - step * 0.35, y, width: step * 0.7, height: h, fill: COLOURS[digit] }, svg);
      el("title", {}, rect).textContent = `${d.day}: ${n} × ${digit}`;
    });
  });
  dayLabels(svg, days, x, height);
  $("per-day").replaceChildren(svg);
  $("legend").replaceChildren(...COLOURS.map((c, digit) => {
    const li = document.createElement("li");
    li.innerHTML = `<span style="background:${c}"></span>${digit}`;
    return li;
  }));
}

function qualityChart(days) {
  const width = 720, height = 220, top = 10, bottom = height - 30;
  const step = (width - 50) / days.length;
  const x = (i) => 40 + step * (i + 0.5);
  const y = (v) => bottom - v * (bottom - top);
  const svg = frame(width, height, "mean confidence, low-confidence share and accuracy on corrected answers per day, 0 to 100%");
  for (const v of [0, 0.5, 1]) {
    el("line", { x1: 40, x2: width - 10, y1: y(v), y2: y(v), stroke: "#e3e6ec" }, svg);
    el("text", { x: 34, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6475" }, svg).textContent = `${v * 100}%`;
  }
  const series = [["mean_confidence", "#2f62d0"], ["low_confidence_share", "#b54708"], ["corrected_accuracy", "#12a150"]];
  for (const [key, colour] of series) {
    const points = days.map((d, i) => [i, d[key]]).filter(([, v]) => v !== null);
    if (points.length > 1) {
      el("polyline", { points: points.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }, svg);
    }
    for (const [i, v] of points) {
      const dot = el("circle", { cx: x(i), cy: y(v), r: 3.5, fill: colour, "data-series": key }, svg);
      el("title", {}, dot).textContent = `${days[i].day} ${key.replaceAll("_", " ")}: ${share(v)}`;
    }
  }
  dayLabels(svg, days, x, height);
  $("quality").replaceChildren(svg);
}

function table(id, head, rows) {
  const html = `<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("") + "</tbody>";
  $(id).innerHTML = html;
}

const figures = (s) => [s.count, s.not_a_digit, share(s.mean_confidence), share(s.low_confidence_share), s.corrected,
  share(s.corrected_accuracy)];
const HEAD = ["answers", "refused: not a digit", "mean confidence", "low confidence", "corrected", "accuracy on corrected"];

function kpis(total, low) {
  const items = [["answers", total.count], ["refused: not a digit", total.not_a_digit],
    ["mean confidence", share(total.mean_confidence)],
    [`below ${share(low)}`, share(total.low_confidence_share)], ["corrected", total.corrected],
    ["accuracy on corrected", share(total.corrected_accuracy)]];
  $("kpis").innerHTML = items.map(([label, value]) => `<div><p class="kpi">${escapeHtml(value)}</p><p class="kpi-label">${escapeHtml(label)}</p></div>`).join("");
}

async function load() {
  const days = $("days").value;
  const status = $("stats-status");
  status.textContent = "Loading…";
  try {
    const body = await fetchJSON(`stats?days=${days}`);
    kpis(body.total, body.low_confidence_below);
    perDayChart(body.days);
    qualityChart(body.days);
    table("models", ["model version", ...HEAD], body.total.by_model.map((m) => [m.model_version, ...figures(m)]));
    table("day-table", ["day", ...HEAD, ...[...Array(10).keys()].map((d) => `${d}s`)],
      body.days.map((d) => [d.day, ...figures(d), ...d.per_digit]).reverse());  // newest first
    status.textContent = `${body.from} to ${body.to} (UTC days)`;
    history.replaceState(null, "", `?days=${days}`);
  } catch (e) {
    status.textContent = `Stats are not available: ${e.message}`;
    if (e.status === 401) askForToken(status, load);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const wanted = new URLSearchParams(location.search).get("days");
  if (wanted && [...$("days").options].some((o) => o.value === wanted)) $("days").value = wanted;
  $("days").addEventListener("change", load);
  load();
});

// The stats page: GET stats?days=N (JSON) -> key figures, three SVG charts, three tables. No libraries.
// Charts are drawn at the size their box has on screen, in CSS pixels, so their text is as large on a phone
// as on a desktop; they are drawn again when that box changes width.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// Okabe-Ito's blue, vermillion and bluish green: told apart under every common colour-vision deficiency,
// each at 3:1 or more on white; each line also has its own dashes and markers
const SERIES = [
  { key: "mean_confidence", name: "mean", colour: "#0072b2", dash: "", marker: "circle" },
  { key: "low_confidence_share", name: "low", colour: "#d55e00", dash: "7 4", marker: "square" },
  { key: "corrected_accuracy", name: "accuracy", colour: "#009e73", dash: "2 3", marker: "triangle" },
];
const share = (x) => (x === null ? "–" : (x * 100).toFixed(1) + "%");
const whole = (x) => (x * 100).toFixed(0) + "%";
let shown = null;  // the last answer drawn: what a resize draws again

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.append(node);
  return node;
}

function text(parent, x, y, content, attrs = {}) {
  el("text", { x, y, ...attrs }, parent).textContent = content;
}

// An SVG as large as its box, in CSS pixels (no viewBox scaling: 12px text stays 12px).
function surface(box, label) {
  const width = Math.max(box.clientWidth, 200), height = box.clientHeight;
  const svg = el("svg", { width, height, role: "img", "aria-label": label });
  box.replaceChildren(svg);
  return { svg, width, height };
}

// Round steps (1, 2 or 5 times a power of ten) from zero to at least ``max``, at most ``count`` of them.
function ticks(max, count = 5) {
  const raw = Math.max(max, 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw));
  const top = Math.max(step, Math.ceil(max / step) * step);
  const out = [];
  for (let v = 0; v <= top; v += step) out.push(v);
  return out;
}

// Horizontal gridlines with their values on the left; the zero line drawn as the axis.
function yGrid(svg, values, y, left, right, format) {
  for (const v of values) {
    el("line", { x1: left, x2: right, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }, svg);
    text(svg, left - 6, y(v) + 4, format(v), { "text-anchor": "end" });
  }
}

// Day labels under the x axis, thinned so that each has room (MM-DD).
function dayLabels(svg, days, x, y, step) {
  const every = Math.ceil(44 / Math.max(step, 1));
  days.forEach((d, i) => {
    if ((days.length - 1 - i) % every) return;
    const width = Number(svg.getAttribute("width"));
    text(svg, Math.min(Math.max(x(i), 40), width - 20), y, d.day.slice(5), { "text-anchor": "middle" });  // inside the svg
  });
}

function perDayChart(days) {
  const total = days.reduce((n, d) => n + d.count, 0);
  const max = Math.max(...days.map((d) => d.count), 0);
  const { svg, width, height } = surface($("per-day"),
    `answers per day, ${days[0].day} to ${days.at(-1).day}: ${total} in all, at most ${max} in one day`);
  const left = 40, right = width - 8, top = 14, bottom = height - 26;
  const values = ticks(max, 4);
  const y = (v) => bottom - (v / values.at(-1)) * (bottom - top);
  const step = (right - left) / days.length;
  const x = (i) => left + step * (i + 0.5);
  yGrid(svg, values, y, left, right, String);
  days.forEach((d, i) => {
    if (!d.count) return;
    const bar = el("rect", { class: "bar", x: x(i) - step * 0.35, y: y(d.count), width: step * 0.7, height: bottom - y(d.count) }, svg);
    el("title", {}, bar).textContent = `${d.day}: ${d.count}`;
    if (step >= 22) text(svg, x(i), y(d.count) - 3, d.count, { "text-anchor": "middle", class: "label" });
  });
  dayLabels(svg, days, x, height - 8, step);
}

function byDigitChart(days) {
  const counts = [...Array(10).keys()].map((digit) => days.reduce((n, d) => n + d.per_digit[digit], 0));
  const total = counts.reduce((a, b) => a + b, 0);
  const { svg, width, height } = surface($("by-digit"),
    `answers by digit: ${counts.map((n, digit) => `${digit}: ${n}`).join(", ")}`);
  const left = 24, right = width - 96, top = 4, bottom = height - 24;
  const values = ticks(Math.max(...counts, 0), 4);
  const x = (v) => left + (v / values.at(-1)) * (right - left);
  const row = (bottom - top) / 10;
  for (const v of values) {
    el("line", { x1: x(v), x2: x(v), y1: top, y2: bottom, class: v === 0 ? "axis" : "grid" }, svg);
    text(svg, x(v), height - 6, v, { "text-anchor": "middle" });
  }
  counts.forEach((n, digit) => {
    const mid = top + row * (digit + 0.5);
    text(svg, left - 8, mid + 4, digit, { "text-anchor": "end", class: "label" });
    if (n) el("rect", { class: "bar", x: x(0), y: mid - row * 0.32, width: x(n) - x(0), height: row * 0.64 }, svg);
    text(svg, x(n) + 6, mid + 4, total ? `${n} (${whole(n / total)})` : "0");
  });
}

function marker(svg, kind, cx, cy, colour) {
  if (kind === "circle") return el("circle", { cx, cy, r: 4, fill: colour }, svg);
  if (kind === "square") return el("rect", { x: cx - 4, y: cy - 4, width: 8, height: 8, fill: colour }, svg);
  return el("path", { d: `M${cx} ${cy - 5} L${cx + 5} ${cy + 4} L${cx - 5} ${cy + 4} Z`, fill: colour }, svg);
}

// Each line's marker, name and last value at its right end (text in ink: coloured text would be too faint),
// moved apart where they would overlap.
function directLabels(svg, ends, x) {
  ends.sort((a, b) => a.y - b.y);
  for (let i = 1; i < ends.length; i++) ends[i].y = Math.max(ends[i].y, ends[i - 1].y + 16);
  for (const end of ends) {
    marker(svg, end.marker, x + 5, end.y, end.colour);
    text(svg, x + 14, end.y + 4, end.label, { class: "label" });
  }
}

function qualityChart(days) {
  const { svg, width, height } = surface($("quality"),
    "mean confidence, share below the low-confidence threshold and accuracy on corrected answers per day, 0 to 100%");
  const left = 44, right = width - 104, top = 12, bottom = height - 26;
  const step = (right - left) / days.length;
  const x = (i) => left + step * (i + 0.5);
  const y = (v) => bottom - v * (bottom - top);
  yGrid(svg, [0, 0.25, 0.5, 0.75, 1], y, left, right, whole);
  const ends = [];
  for (const s of SERIES) {
    const points = days.map((d, i) => [i, d[s.key]]).filter(([, v]) => v !== null);
    if (points.length > 1) {
      el("polyline", { points: points.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: s.colour,
        "stroke-width": 2.5, "stroke-dasharray": s.dash }, svg);
    }
    for (const [i, v] of points) {
      const dot = marker(svg, s.marker, x(i), y(v), s.colour);
      dot.dataset.series = s.key;
      el("title", {}, dot).textContent = `${days[i].day} ${s.key.replaceAll("_", " ")}: ${share(v)}`;
    }
    if (points.length) ends.push({ y: y(points.at(-1)[1]), colour: s.colour, marker: s.marker, label: `${s.name} ${whole(points.at(-1)[1])}` });
  }
  directLabels(svg, ends, right + 10);
  dayLabels(svg, days, x, height - 8, step);
}

function table(id, head, rows) {
  const html = `<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c, i) => (i ? `<td>${escapeHtml(c)}</td>` : `<th scope="row">${escapeHtml(c)}</th>`)).join("")}</tr>`).join("") +
    "</tbody>";
  $(id).innerHTML = html;
}

const figures = (s) => [s.count, s.not_a_digit, share(s.mean_confidence), share(s.low_confidence_share), s.corrected,
  share(s.corrected_accuracy)];
const HEAD = ["answers", "not a digit", "mean confidence", "low confidence", "corrected", "accuracy on corrected"];

function kpis(total, low) {
  const values = [total.count, total.not_a_digit, share(total.mean_confidence), share(total.low_confidence_share),
    total.corrected, share(total.corrected_accuracy)];
  const boxes = $("kpis").children;
  values.forEach((value, i) => { boxes[i].querySelector(".kpi").textContent = value; });
  boxes[3].querySelector(".kpi-label").textContent = `below ${share(low)} confidence`;
}

function draw() {
  if (!shown) return;
  perDayChart(shown.days);
  byDigitChart(shown.days);
  qualityChart(shown.days);
}

async function load() {
  const days = $("days").value;
  const status = $("stats-status");
  status.textContent = "Loading…";
  try {
    const body = await fetchJSON(`stats?days=${days}`);
    shown = body;
    kpis(body.total, body.low_confidence_below);
    draw();
    table("models", ["model version", ...HEAD], body.total.by_model.map((m) => [m.model_version, ...figures(m)]));
    const newest = [...body.days].reverse();
    table("day-table", ["day", ...HEAD], newest.map((d) => [d.day, ...figures(d)]));
    table("digit-table", ["day", ...[...Array(10).keys()].map((d) => `${d}s`)], newest.map((d) => [d.day, ...d.per_digit]));
    status.textContent = `${body.from} to ${body.to} (UTC days)`;
    history.replaceState(null, "", `?days=${days}`);
  } catch (e) {
    status.textContent = `Stats are not available: ${e.message}`;
    if (e.status === 401) askForToken(status, load);
  }
}

// Draw again when the charts' width changes (a rotated phone, a resized window), once per frame at most.
function redrawOnResize() {
  let width = $("per-day").clientWidth, queued = false;
  new ResizeObserver(() => {
    if ($("per-day").clientWidth === width || queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; width = $("per-day").clientWidth; draw(); });
  }).observe($("per-day"));
}

document.addEventListener("DOMContentLoaded", () => {
  const wanted = new URLSearchParams(location.search).get("days");
  if (wanted && [...$("days").options].some((o) => o.value === wanted)) $("days").value = wanted;
  $("days").addEventListener("change", load);
  redrawOnResize();
  load();
});

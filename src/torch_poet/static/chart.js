// torch-poet web app: the line charts of the Training tab. SVG drawn at the width it is shown at, so that its text
// is as large on a phone as on a desktop; round-numbered ticks on both axes, a key, and the values under the pointer.
"use strict";

const CHART = { height: 230, left: 58, right: 14, top: 12, bottom: 40 };

/** The axis from lo to hi widened to round numbers, with about `count` ticks at 1, 2 or 5 times a power of ten. */
function niceAxis(lo, hi, count) {
  if (!(hi > lo)) [lo, hi] = [lo - (Math.abs(lo) || 1) / 2, hi + (Math.abs(hi) || 1) / 2]; // one value: centred
  const rough = (hi - lo) / count, power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough * 0.999);
  const first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
  const ticks = [];
  for (let v = first; v <= last + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: first, hi: last, ticks };
}

/** 1234567 -> "1.2M": axis numbers short enough to sit side by side. */
function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(4));
}

/**
 * A line chart: series [{name, css, points: [[x, y], ...]}] on shared axes; x and y {label, format(v)}. Returns a
 * <figure> holding the SVG (data-points: the longest series' points), its key and the tip that shows the values
 * nearest the pointer.
 */
function lineChart(series, { width, x, y, label }) {
  const { height: H, left: L, right: R, top: T, bottom: B } = CHART, W = Math.max(280, Math.round(width));
  const shown = series.filter((s) => s.points.length);
  const points = shown.flatMap((s) => s.points);
  const height = points.length ? H : 30;  // nothing to draw: a line that says so
  const plot = svg("svg", { class: "chart", width: W, height, viewBox: `0 0 ${W} ${height}`, role: "img",
    "aria-label": label, "data-points": Math.max(0, ...series.map((s) => s.points.length)) });
  const figure = el("figure", { class: "chart-box" }, plot);
  if (!points.length) {
    plot.append(svg("text", { x: 0, y: 20 }, "no snapshot yet: the chart starts with the first"));
    return figure;
  }
  const xa = niceAxis(Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0])), Math.max(2, Math.floor(W / 110)));
  const ya = niceAxis(Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1])), 4);
  const px = (v) => L + ((v - xa.lo) / (xa.hi - xa.lo)) * (W - L - R);
  const py = (v) => T + ((ya.hi - v) / (ya.hi - ya.lo)) * (H - T - B);
  for (const v of ya.ticks) {
    plot.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: py(v), y2: py(v) }),
      svg("text", { class: "tick", x: L - 6, y: py(v) + 4, "text-anchor": "end" }, y.format(v)));
  }
  for (const v of xa.ticks) {
    plot.append(svg("line", { class: "grid", x1: px(v), x2: px(v), y1: T, y2: H - B }),
      svg("text", { class: "tick", x: px(v), y: H - B + 16, "text-anchor": "middle" }, x.format(v)));
  }
  plot.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    svg("text", { class: "label", x: L + (W - L - R) / 2, y: H - 4, "text-anchor": "middle" }, x.label),
    svg("text", { class: "label", x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle",
      transform: `rotate(-90 12 ${T + (H - T - B) / 2})` }, y.label));
  for (const s of shown) {
    plot.append(svg("polyline", { class: `line ${s.css}`, points: s.points.map(([a, b]) => `${px(a)},${py(b)}`).join(" ") }));
    for (const [a, b] of s.points) {
      plot.append(svg("circle", { class: `dot ${s.css}`, cx: px(a), cy: py(b), r: 3 },
        svg("title", {}, `${s.name} · ${x.label} ${x.format(a)}: ${y.format(b)}`)));
    }
  }
  const key = el("ul", { class: "key" },
    ...series.map((s) => el("li", { class: s.css }, s.points.length ? s.name : `${s.name} (nothing yet)`)));
  const tip = el("div", { class: "chart-tip", role: "status", hidden: true });
  const cursor = svg("line", { class: "cursor", y1: T, y2: H - B, visibility: "hidden" });
  plot.append(cursor);
  plot.addEventListener("pointermove", (event) => {
    const box = plot.getBoundingClientRect(), at = xa.lo + ((event.clientX - box.left - L) / (W - L - R)) * (xa.hi - xa.lo);
    const nearest = points.reduce((best, p) => (Math.abs(p[0] - at) < Math.abs(best[0] - at) ? p : best))[0];
    const rows = shown.map((s) => [s, s.points.find((p) => p[0] === nearest)]).filter(([, p]) => p);
    cursor.setAttribute("x1", px(nearest));
    cursor.setAttribute("x2", px(nearest));
    cursor.setAttribute("visibility", "visible");
    tip.replaceChildren(el("b", {}, `${x.label} ${x.format(nearest)}`),
      ...rows.map(([s, p]) => el("span", { class: s.css }, `${s.name}: ${y.format(p[1])}`)));
    tip.hidden = false;
    tip.style.left = `${Math.min(px(nearest) + 8, W - tip.offsetWidth)}px`;
  });
  plot.addEventListener("pointerleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
  figure.append(key, tip);
  return figure;
}

// torch-poet web app, the Training tab: a card per model (its figures, a progress bar between snapshots from the
// trainer's heartbeat, a chart, the samples by step, highlighted, the output of a run started here, stop and
// resume), and one chart that overlays the models chosen. Charts are drawn by chart.js.
"use strict";

/** What a chart can show, from history.jsonl's rows: per model its series; `compare` is the one overlaid. */
const CURVES = {
  bpc: { label: "bits per char", format: (v) => v.toFixed(2),
    series: [["train", "train", (h) => h.train_loss / LN2], ["validation", "val", (h) => h.val_bpc]] },
  quoted: { label: "quoted share of a sample", format: pct, series: [["quoted", "val", (h) => h.quoted]] },
  longest: { label: "longest quote, chars", format: compact, series: [["longest quote", "val", (h) => h.longest_quote]] },
  readability: { label: "readability", format: pct, series: [["readability", "val", (h) => h.readability]] },
};
const AXES = {
  step: { label: "step", format: compact, of: (h) => h.step },
  time: { label: "minutes", format: compact, of: (h) => h.time / 60 },
  chars: { label: "characters", format: compact, of: (h) => h.chars },
};

const board = { seen: new Map(), histories: new Map(), allowed: false, stopping: new Set(), drawn: "" };

const choice = (id, all) => (all[$(id).value] ? $(id).value : Object.keys(all)[0]);

/** [x, y] of the rows where both are numbers. */
function curvePoints(history, of) {
  const axis = AXES[choice("#x-axis", AXES)].of;
  return history.map((h) => [axis(h), of(h)]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
}

function modelChart(history, width, name) {
  const curve = CURVES[choice("#curve", CURVES)], x = AXES[choice("#x-axis", AXES)];
  const series = curve.series.map(([label, css, of]) => ({ name: label, css, points: curvePoints(history, of) }));
  const last = history.at(-1);
  const label = last ? `${name}: ${curve.label} over ${plural(history.length, "snapshot")}` : `${name}: no snapshot yet`;
  return lineChart(series, { width, x, y: curve, label });
}

/** The memorisation figures of the sample measured at a snapshot (history.jsonl). */
function memorisation(row) {
  if (row?.quoted == null) return "–";
  return `${pct(row.quoted)} · longest ${row.longest_quote} chars · ${row.quotes_per_1000} per 1,000`;
}

function fact(name, value) {
  return el("div", {}, el("dt", {}, name), el("dd", {}, value));
}

async function renderModel(row, node) {
  const name = `${row.project}/${row.model}`;
  const [detail, { history }] = await Promise.all([api(modelPath(name)), api(`${modelPath(name)}/history`)]);
  board.histories.set(name, history);
  const shape = detail.shape ? `${detail.shape.layers}×${detail.shape.hidden} ${detail.shape.cell.toUpperCase()}` : "?";
  const open = new Set([...node.querySelectorAll("details[open]")].map((d) => d.className)); // stays open
  const step = node.querySelector(".sample-step")?.value;
  const last = history.at(-1);
  node.replaceChildren(
    el("h3", {}, name, el("span", { class: "badge" }), el("span", { class: "actions" })),
    ...(row.broken ? [el("p", { class: "problem" }, row.broken)] : []),
    el("dl", { class: "facts" },
      fact("step", row.step == null ? "–" : row.step.toLocaleString("en")),  // of the last snapshot
      fact("best val", row.best_bpc === null ? "–" : `${row.best_bpc.toFixed(3)} bpc`),
      fact("speed", detail.chars_per_sec ? `${Math.round(detail.chars_per_sec).toLocaleString("en")} chars/s` : "–"),
      fact("model", shape),
      fact("trained", last ? `${(last.time / 60).toFixed(1)}${detail.minutes ? ` of ${detail.minutes}` : ""} min` : "–"),
      fact("quoted", memorisation(last)),
      fact("readability", last?.readability == null ? "–" : pct(last.readability)),
      fact("size", `${(row.bytes / 1e6).toFixed(1)} MB`),
      fact("updated", new Date(row.updated * 1000).toLocaleString())),
    el("div", { class: "live", "aria-live": "polite" }),
    modelChart(history, node.clientWidth - 26, name),
    samplesBox(name, detail),
    el("details", { class: "output", hidden: true }, el("summary", {}, "output of the run started here"), el("pre")),
    el("details", { class: "library" }, el("summary", {}, `library: ${plural(detail.library.length, "text")}`),
      el("ul", {}, ...detail.library.map((t) => el("li", {}, bookLink(t), ` (${plural(t.chars ?? 0, "char")})`)))));
  node.querySelectorAll("details").forEach((d) => { d.open = open.has(d.className); });
  const select = node.querySelector(".sample-step");
  if (select && step && [...select.options].some((o) => o.value === step)) select.value = step;
  if (select && open.has("samples")) showSamples(name, node);
  node.dataset.resumeMinutes = Math.max(detail.minutes ?? 0, Math.ceil((last?.time ?? 0) / 60) + 5);
}

/** The samples written during training, one step at a time (the latest first), highlighted as the page does. */
function samplesBox(name, detail) {
  const steps = detail.sample_steps ?? [];
  if (!steps.length) {
    const when = detail.sample_every == null ? "every few minutes once the loss is low"
      : `every ${detail.sample_every} min once the training loss is below ${detail.sample_below}`;
    return el("details", { class: "samples" }, el("summary", {}, `no samples yet: they are written ${when}`));
  }
  const select = el("select", { class: "sample-step", "aria-label": "samples of step" },
    ...steps.toReversed().map((s) => el("option", { value: s }, `step ${s.toLocaleString("en")}`)));
  const box = el("details", { class: "samples" }, el("summary", {}, `latest samples (step ${steps.at(-1)})`),
    el("label", {}, "samples of ", select), el("div", { class: "sample-parts" }));
  box.addEventListener("toggle", () => { if (box.open) showSamples(name, box.closest("article")); });
  select.addEventListener("change", () => showSamples(name, box.closest("article")));
  return box;
}

async function showSamples(name, node) {
  const step = $(".sample-step", node).value, parts = $(".sample-parts", node);
  const [project, model] = name.split("/");
  try {
    const found = await api(`${modelPath(name)}/samples/${step}`);
    parts.replaceChildren(...found.parts.map((p) => {
      const text = el("div", { class: "text" }), legend = el("ul", { class: "legend" });
      showQuotes(p.text, text, legend, { project, model }).catch(() => { text.textContent = p.text; });
      return el("div", { class: "sample" }, p.head ? el("h4", {}, p.head) : null, text, legend);
    }));
  } catch (error) {
    parts.replaceChildren(el("p", { class: "problem" }, error.message));
  }
}

/** Where a running training is between snapshots (the trainer's heartbeat): a progress bar and its figures. */
function showLive(node, live) {
  const box = $(".live", node);
  if (!box || !live) { box?.replaceChildren(); return; }
  const done = live.minutes ? live.elapsed / (live.minutes * 60) : live.steps ? live.step / live.steps : null;
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const left = live.left == null ? "" : ` · ${clock(Math.max(0, live.left))} left`;
  box.replaceChildren(...(done === null ? [] : [el("progress", { value: Math.min(done, 1), max: 1 })]),
    el("span", {}, `step ${live.step.toLocaleString("en")} · epoch ${(live.epoch ?? 0).toFixed(2)} · `
      + `loss ${live.train_loss.toFixed(3)} · `
      + `${live.chars_per_sec.toLocaleString("en")} chars/s · ${clock(live.elapsed)} trained${left}`));
}

/** The card's badge, its buttons (stop a training; resume a stopped model until a minute) and a run's output. */
function showState(node, row, run) {
  // ended by itself, or stopped (Ctrl-C's 130; SIGTERM's -15 before the trainer listens for it), or failed
  const name = node.dataset.name, failed = run && !run.running && ![0, 130, -15].includes(run.exit_code);
  if (!row?.training) board.stopping.delete(name);
  const status = row?.broken ? "broken" : board.stopping.has(name) ? "stopping" : row?.training ? "running"
    : run?.running ? "starting" : failed ? "failed" : "stopped";
  const badge = $(".badge", node);
  badge.textContent = status;
  badge.className = `badge ${status}`;
  node.dataset.status = status;
  const actions = $(".actions", node);
  if (actions.dataset.status !== status) {
    actions.dataset.status = status;
    const [project, model] = name.split("/");
    const stop = el("button", { type: "button", class: "stop" }, "Stop");
    stop.addEventListener("click", () => act(node, api("/api/train/stop", { project, model }), "stopping"));
    const minutes = el("input", { type: "number", min: 0.1, step: "any", value: node.dataset.resumeMinutes ?? 10,
      "aria-label": "train until minute" });
    const resume = el("button", { type: "button", class: "resume" }, "Resume");
    resume.addEventListener("click", () =>
      act(node, api("/api/train", { project, model, minutes: Number(minutes.value) }), "starting"));
    actions.replaceChildren(...!board.allowed ? []
      : ["running", "starting"].includes(status) ? [stop]
      : ["stopped", "failed"].includes(status) && row ? [el("label", {}, "until minute ", minutes), resume] : []);
  }
  const output = $("details.output", node);
  if (output) {
    output.hidden = !run;
    if (run) $("pre", output).textContent = run.output.slice(-40).join("\n");
    if (failed && output.dataset.failed !== String(run.started)) {  // why it ended is the first thing to see
      output.dataset.failed = run.started;
      output.open = true;
    }
  }
}

async function act(node, request, status) {
  try {
    await request;
    if (status === "stopping") board.stopping.add(node.dataset.name);
    $(".badge", node).textContent = status;
    refreshDashboard();
  } catch (error) {
    $(".actions", node).append(el("span", { class: "status error" }, error.message));
  }
}

/** A run started here whose model has nothing on disk yet: its name, its state and what it prints. */
function placeholder(node) {
  if (node.querySelector(".output")) return;
  node.replaceChildren(el("h3", {}, node.dataset.name, el("span", { class: "badge" }), el("span", { class: "actions" })),
    el("details", { class: "output starting", open: true }, el("summary", {}, "output"), el("pre")));
}

/** The chosen models' curve on shared axes, each its colour. */
function drawCompare(names) {
  const chosen = JSON.parse(localStorage.getItem("compare") || "[]").filter((n) => names.includes(n));
  $("#compare-models").replaceChildren(...names.map((name) => {
    const box = el("input", { type: "checkbox", value: name, checked: chosen.includes(name) });
    box.addEventListener("change", () => {
      const now = [...document.querySelectorAll("#compare-models input:checked")].map((b) => b.value);
      localStorage.setItem("compare", JSON.stringify(now));
      drawCompare(names);
    });
    return el("label", {}, box, ` ${name}`);
  }));
  const curve = CURVES[choice("#curve", CURVES)], of = curve.series.at(-1)[2];
  const series = chosen.map((name, i) => ({ name, css: `s${i % 6}`, points: curvePoints(board.histories.get(name) ?? [], of) }));
  const place = $("#compare");
  place.replaceChildren(...(chosen.length < 2 ? [] : [lineChart(series, { width: place.clientWidth,
    x: AXES[choice("#x-axis", AXES)], y: curve, label: `${curve.label}: ${chosen.join(", ")}` })]));
}

let refreshing = null; // the refresh under way: another asked meanwhile waits for it (the timer comes again)

function refreshDashboard() {
  refreshing ??= refresh().finally(() => { refreshing = null; });
  return refreshing;
}

async function refresh() {
  const status = $("#dashboard-status"), cards = $("#dashboard");
  try {
    const [{ models }, training] = await Promise.all([api("/api/models"), api("/api/train")]);
    board.allowed = training.allowed;
    const runs = new Map(training.runs.map((r) => [`${r.project}/${r.model}`, r]));
    const rows = new Map(models.map((m) => [`${m.project}/${m.model}`, m]));
    const names = [...new Set([...rows.keys(), ...runs.keys()])];
    for (const node of [...cards.children]) {
      if (!names.includes(node.dataset.name)) { node.remove(); board.seen.delete(node.dataset.name); }
    }
    const view = `${$("#curve").value} ${$("#x-axis").value} ${cards.clientWidth}`;
    for (const name of names) {
      let node = [...cards.children].find((n) => n.dataset.name === name);
      if (!node) cards.append((node = el("article", { class: "model", "data-name": name, "aria-label": name })));
      const row = rows.get(name);
      if (!row) placeholder(node);
      else {
        const stamp = `${row.updated} ${row.training} ${view}`;
        if (board.seen.get(name) !== stamp) { await renderModel(row, node); board.seen.set(name, stamp); }
        showLive(node, row.live);
      }
      showState(node, row, runs.get(name));
    }
    const drawn = `${[...rows.keys()]} ${[...board.seen.values()]}`;  // the overlay again only when a card changed
    if (board.drawn !== drawn) { drawCompare([...rows.keys()]); board.drawn = drawn; }
    const running = models.filter((m) => m.training).length;
    setStatus(status, models.length ? `${plural(models.length, "model")}, ${running} training · updates every 2 s`
      : "no models yet: start one from the Library tab, or with poet train");
  } catch (error) {
    setStatus(status, error.message, true);
  }
}

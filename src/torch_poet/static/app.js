// torch-poet web app, its tabs: write, chat, the training dashboard, the library; what they share is in page.js.
"use strict";

// --- write: the text streams in, then its quotes light up ---------------------------------------------------------

let generation = null; // the AbortController of the generation running in this tab

async function generate(event) {
  event.preventDefault();
  const form = $("#write-form"), out = $("#write-out"), status = $("#write-status");
  generation?.abort();
  const controller = (generation = new AbortController());
  const text = new Highlighted(out, $("#write-legend"));
  const started = performance.now();
  out.dataset.state = "streaming";
  $("#stop").disabled = false;
  setStatus(status, "generating…");
  let seed = null;
  try {
    const body = { ...selectedModel(), ...formValues(form) };
    const response = await checked(await fetch("/api/stream", post(body, controller.signal)));
    for await (const { event: kind, data } of events(response)) {
      if (kind === "start") { seed = data.seed; if (data.warning) setStatus(status, data.warning, true); }
      else if (kind === "text") text.addText(data.text);
      else if (kind === "spans") text.addSpans(data.spans, data.summary);
      else if (kind === "error") throw new Error(data.error);
      else if (kind === "done") {
        const seconds = (performance.now() - started) / 1000;
        setStatus(status, `${plural(data.text.length, "char")} in ${seconds.toFixed(2)} s · seed ${seed}`);
        checkPrompt(body.prompt);
      }
    }
    out.dataset.state = "done";
  } catch (error) {
    out.dataset.state = "stopped";
    if (error.name === "AbortError") setStatus(status, `stopped · seed ${seed}`);
    else setStatus(status, error.message, true);
  } finally {
    if (generation === controller) { generation = null; $("#stop").disabled = true; }
  }
}

/** The quotes of a text (the prompt, a text to check) shown in textNode, with their legend; the reply's summary. */
async function showQuotes(text, textNode, legendNode, settings = {}) {
  const reply = await api("/api/highlight", { ...selectedModel(), ...settings, text });
  const shown = new Highlighted(textNode, legendNode);
  shown.addText(text);
  if (reply.spans) shown.addSpans(reply.spans, reply.summary);
  return reply;
}

/** The prompt is text too: where it quotes the library, it is shown so above the continuation. */
async function checkPrompt(prompt) {
  const box = $("#write-prompt");
  box.hidden = true;
  const reply = await showQuotes(prompt, $("#write-prompt-text"), $("#write-prompt-legend")).catch(() => null);
  box.hidden = !reply?.summary?.quotes;
}

// --- check: any text, pasted, typed or dropped as a file, with its quotes -----------------------------------------

async function check(event) {
  event.preventDefault();
  const form = $("#check-form"), status = $("#check-status"), out = $("#check-out");
  const { text = "", ...settings } = formValues(form), from = form.dataset.from ? ` · ${form.dataset.from}` : "";
  out.dataset.state = "checking";
  setStatus(status, "looking for quotes…");
  try {
    const reply = await showQuotes(text, out, $("#check-legend"), settings);
    out.dataset.state = "done";
    setStatus(status, reply.warning || `${plural(text.length, "char")} checked${from}`, Boolean(reply.warning));
  } catch (error) {
    out.dataset.state = "stopped";
    setStatus(status, error.message, true);
  }
}

async function readTextFile(file) {
  const area = $("#check-text"), most = Number(area.maxLength) > 0 ? Number(area.maxLength) : Infinity;
  const text = await file.text();
  area.value = text.slice(0, most);
  $("#check-form").dataset.from = text.length > most  // what the status line says the text is
    ? `the first ${most.toLocaleString("en")} of ${plural(text.length, "char")} of ${file.name}` : file.name;
  $("#check-form").requestSubmit();
}

// --- chat: the conversation goes on from turn to turn until reset -------------------------------------------------

let session = null;

async function chatTurn(event) {
  event.preventDefault();
  const form = $("#chat-form"), input = $("#chat-text"), status = $("#chat-status"), log = $("#chat-log");
  const { text = "", ...settings } = formValues(form);
  if (text) log.append(el("div", { class: "turn you" }, text));
  input.value = "";
  setStatus(status, "the poet is writing…");
  $("#chat-send").disabled = true;
  try {
    const reply = await api("/api/chat", { ...selectedModel(), ...settings, text, session });
    session = reply.session;
    const answer = el("div", { class: "text" }), legend = el("ul", { class: "legend" });
    const shown = new Highlighted(answer, legend);
    shown.addText(reflow(reply.answer));
    if (reply.spans) shown.addSpans(reply.spans.map((s) => ({ ...s, text: reflow(s.text) })), reply.summary);  // "0.0%" too
    log.append(el("div", { class: "turn poet" }, answer, legend));
    answer.scrollIntoView({ block: "nearest" });
    setStatus(status, reply.warning || "", Boolean(reply.warning));
  } catch (error) {
    setStatus(status, error.message, true);
  } finally {
    $("#chat-send").disabled = false;
    input.focus();
  }
}

/** A book's hard line breaks (one newline) as spaces, so that a bubble's lines fill its width; paragraph breaks
 * stay. Character for character: the spans' offsets hold. */
function reflow(text) {
  return text.replace(/(?<!\n)\n(?!\n)/g, " ");
}

async function chatReset() {
  if (session) await api("/api/chat/reset", { session }).catch(() => null);
  session = null;
  $("#chat-log").replaceChildren();
  setStatus($("#chat-status"), "the conversation starts afresh");
}

// --- training dashboard ------------------------------------------------------------------------------------------

const seen = new Map(); // "project/model" -> the `updated` time its card shows

/** Train and validation bits per char against step, as an SVG line plot; one dot per snapshot. */
function chart(history) {
  const W = 600, H = 220, L = 44, R = 10, T = 10, B = 28;
  const rows = history.filter((h) => Number.isFinite(h.train_loss) && Number.isFinite(h.val_bpc));
  const label = rows.length ? `bits per char over ${rows.length} snapshots, last validation ${rows.at(-1).val_bpc}` : "";
  const plot = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "data-points": rows.length,
    "aria-label": label || "no snapshot yet" });
  if (!rows.length) {
    plot.append(svg("text", { x: L, y: H / 2 }, "no snapshot yet"));
    return plot;
  }
  const series = [["train", rows.map((h) => h.train_loss / LN2)], ["val", rows.map((h) => h.val_bpc)]];
  const steps = rows.map((h) => h.step), all = series.flatMap(([, ys]) => ys);
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)], [y0, y1] = [Math.min(...all), Math.max(...all)];
  const x = (v) => L + (x1 > x0 ? ((v - x0) / (x1 - x0)) * (W - L - R) : (W - L - R) / 2);
  const y = (v) => T + (y1 > y0 ? ((y1 - v) / (y1 - y0)) * (H - T - B) : (H - T - B) / 2);
  plot.append(
    svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    svg("text", { x: 2, y: T + 10 }, y1.toFixed(2)), svg("text", { x: 2, y: H - B }, y0.toFixed(2)),
    svg("text", { x: L, y: H - 8 }, `step ${x0}`), svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, `step ${x1}`),
    svg("text", { x: W / 2, y: H - 8, "text-anchor": "end" }, "bits per char:"),  // the key, in the curves' colours
    svg("text", { class: "key train", x: W / 2 + 6, y: H - 8 }, "— train"),
    svg("text", { class: "key val", x: W / 2 + 62, y: H - 8 }, "— validation"));
  for (const [name, ys] of series) {
    plot.append(svg("polyline", { class: name, points: ys.map((v, i) => `${x(steps[i])},${y(v)}`).join(" ") }));
    ys.forEach((v, i) => plot.append(svg("circle", { class: name, cx: x(steps[i]), cy: y(v), r: 3 },
      svg("title", {}, `${name} · step ${steps[i]}: ${v.toFixed(3)} bpc`))));
  }
  return plot;
}

/** The memorisation figures of the sample measured at a snapshot (history.jsonl). */
function memorisation(row) {
  if (row?.quoted == null) return "–";
  return `${(100 * row.quoted).toFixed(1)}% · longest ${row.longest_quote} chars · ${row.quotes_per_1000} per 1,000`;
}

function fact(name, value) {
  return el("div", {}, el("dt", {}, name), el("dd", {}, value));
}

async function renderModel(row, node) {
  const name = `${row.project}/${row.model}`;
  const base = `/api/models/${encodeURIComponent(row.project)}/${encodeURIComponent(row.model)}`;
  const [detail, { history }] = await Promise.all([api(base), api(`${base}/history`)]);
  const shape = detail.shape ? `${detail.shape.layers}×${detail.shape.hidden} ${detail.shape.cell.toUpperCase()}` : "?";
  const status = row.broken ? "broken" : row.training ? "running" : "stopped";
  const open = [...node.querySelectorAll("details")].map((d) => d.open); // what the reader opened stays open
  node.replaceChildren(
    el("h3", {}, name, el("span", { class: `badge ${status}`, title: row.broken ?? "" }, status)),
    ...(row.broken ? [el("p", { class: "problem" }, row.broken)] : []),
    el("dl", { class: "facts" },
      fact("step", (row.step ?? 0).toLocaleString("en")),
      fact("best val", row.best_bpc === null ? "–" : `${row.best_bpc.toFixed(3)} bpc`),
      fact("speed", detail.chars_per_sec ? `${Math.round(detail.chars_per_sec).toLocaleString("en")} chars/s` : "–"),
      fact("model", shape),
      fact("quoted", memorisation(history.at(-1))),
      fact("size", `${(row.bytes / 1e6).toFixed(1)} MB`),
      fact("updated", new Date(row.updated * 1000).toLocaleString())),
    el("div", { class: "live", "aria-live": "polite" }),
    chart(history),
    el("details", {}, el("summary", {}, detail.samples ? `latest samples (step ${detail.samples.step})` : "no samples yet"),
      detail.samples ? el("pre", {}, detail.samples.text) : null),
    el("details", {}, el("summary", {}, `library: ${plural(detail.library.length, "text")}`),
      el("ul", {}, ...detail.library.map((t) => el("li", {}, bookLink(t), ` (${plural(t.chars ?? 0, "char")})`)))));
  node.querySelectorAll("details").forEach((d, i) => { d.open = Boolean(open[i]); });
  node.dataset.status = status;
}

/** Where a running training is between snapshots (the trainer's heartbeat): a progress bar and its figures. */
function showLive(node, live) {
  const box = $(".live", node);
  if (!box || !live) { box?.replaceChildren(); return; }
  const done = live.minutes ? live.elapsed / (live.minutes * 60) : live.steps ? live.step / live.steps : null;
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  const left = live.left == null ? "" : ` · ${clock(Math.max(0, live.left))} left`;
  box.replaceChildren(...(done === null ? [] : [el("progress", { value: Math.min(done, 1), max: 1 })]),
    el("span", {}, `step ${live.step.toLocaleString("en")} · loss ${live.train_loss.toFixed(3)} · `
      + `${live.chars_per_sec.toLocaleString("en")} chars/s · ${clock(live.elapsed)} trained${left}`));
}

async function refreshDashboard() {
  const status = $("#dashboard-status"), board = $("#dashboard");
  try {
    const { models } = await api("/api/models");
    const names = new Set(models.map((m) => `${m.project}/${m.model}`));
    for (const node of [...board.children]) {
      if (!names.has(node.dataset.name)) { node.remove(); seen.delete(node.dataset.name); }
    }
    for (const row of models) {
      const name = `${row.project}/${row.model}`;
      let node = [...board.children].find((n) => n.dataset.name === name);
      if (!node) board.append((node = el("article", { class: "model", "data-name": name, "aria-label": name })));
      const stamp = `${row.updated} ${row.training}`;
      if (seen.get(name) !== stamp) { await renderModel(row, node); seen.set(name, stamp); }
      showLive(node, row.live);
    }
    const running = models.filter((m) => m.training).length;
    setStatus(status, models.length ? `${plural(models.length, "model")}, ${running} training · updates every 2 s`
      : "no models yet: train one with poet train");
  } catch (error) {
    setStatus(status, error.message, true);
  }
}

// --- library: catalog search ----------------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const status = $("#search-status"), table = $("#results");
  const query = new URLSearchParams(formValues($("#search-form")));
  setStatus(status, "searching…");
  try {
    const { count, books } = await api(`/api/search?${query}`);
    const mine = $("#model").value;
    $("tbody", table).replaceChildren(...books.map((b) => el("tr", { class: b.models.includes(mine) ? "mine" : null },
      el("td", {}, el("a", { href: b.url, target: "_blank", rel: "noopener" }, String(b.id))),
      el("td", {}, b.title), el("td", {}, b.author), el("td", {}, b.language.join(", ")),
      el("td", {}, b.models.length ? `${b.models.includes(mine) ? "✓ " : ""}${b.models.join(", ")}` : "–"))));
    table.hidden = books.length === 0;
    const inModel = books.filter((b) => b.models.includes(mine)).length;
    setStatus(status, `${plural(count, "book")}${count > books.length ? ` (first ${books.length} shown)` : ""}` +
      (mine ? `, ${inModel} in ${mine}'s library` : ""));
  } catch (error) {
    table.hidden = true;
    setStatus(status, error.message, true);
  }
}

// --- pages ---------------------------------------------------------------------------------------------------------

const PAGES = ["write", "check", "chat", "dashboard", "library"];
let dashboardTimer = 0;

function showPage() {
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "write";
  for (const name of PAGES) $(`#page-${name}`).hidden = name !== page;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.hash === `#${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  card.hide();
  clearInterval(dashboardTimer);
  if (page === "dashboard") {
    refreshDashboard();
    dashboardTimer = setInterval(() => { if (!document.hidden) refreshDashboard(); }, 2000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  applyTheme(localStorage.getItem("theme") || "auto");
  $("#theme").addEventListener("click", () => {
    const now = document.documentElement.dataset.theme || "auto";
    applyTheme(THEMES[(THEMES.indexOf(now) + 1) % THEMES.length]);
  });
  card.install();
  $("#write-form").addEventListener("submit", generate);
  $("#stop").addEventListener("click", () => generation?.abort());
  $("#prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#write-form").requestSubmit();
  });
  $("#check-form").addEventListener("submit", check);
  $("#check-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("#check-form").requestSubmit();
  });
  $("#check-text").addEventListener("input", () => delete $("#check-form").dataset.from);  // typed: not the file
  $("#check-file").addEventListener("change", (e) => { if (e.target.files[0]) readTextFile(e.target.files[0]); });
  $("#check-text").addEventListener("dragover", (e) => e.preventDefault());
  $("#check-text").addEventListener("drop", (e) => {
    if (!e.dataTransfer.files[0]) return;
    e.preventDefault();
    readTextFile(e.dataTransfer.files[0]);
  });
  $("#chat-form").addEventListener("submit", chatTurn);
  $("#chat-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#chat-form").requestSubmit(); }
  });
  $("#chat-reset").addEventListener("click", chatReset);
  $("#search-form").addEventListener("submit", search);
  $("#model").addEventListener("change", () => {
    localStorage.setItem("model", $("#model").value);
    chatReset();
  });
  window.addEventListener("hashchange", showPage);
  window.addEventListener("focus", () => loadModels().catch(() => null));  // a model trained meanwhile joins the menu
  showPage();
  completeForms().catch((error) => setStatus($("#write-status"), error.message, true));
  loadModels().catch((error) => setStatus($("#write-status"), error.message, true));
});

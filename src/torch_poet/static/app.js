// torch-poet web app: plain JavaScript over the JSON API (/api/, see /openapi.json). No build step, no CDN.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const LN2 = Math.log(2);
const PALETTE = 8; // render.HTML_BACKGROUNDS: classes q0..q7 come from /palette.css

/** An element with attributes and children (strings become text nodes, so generated text is never parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

const plural = (n, word) => `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
const bookName = (s) => (s.author ? `${s.author}: ${s.title}` : s.title);

/** fetch() options to POST body as JSON. */
const post = (body, signal) =>
  ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal });

/** JSON from the API (a POST when there is a body); a failed request throws its one-line {"error"} message. */
async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : post(body));
  return checked(response).then((r) => r.json());
}

async function checked(response) {
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try { message = (await response.json()).error || message; } catch { /* not JSON */ }
  throw new Error(message);
}

/** Server-sent events from a fetch response: {event, data} objects. */
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield { event, data: JSON.parse(data) };
    }
  }
}

function setStatus(node, text, error = false) {
  node.textContent = text;
  node.classList.toggle("error", error);
}

/** Values of a form's named fields, numbers as numbers; empty optional fields are left out. */
function formValues(form) {
  const values = {};
  for (const field of form.elements) {
    if (!field.name || field.value === "") continue;
    if (field.type === "checkbox") values[field.name] = field.checked;
    else values[field.name] = field.type === "number" ? Number(field.value) : field.value;
  }
  return values;
}

// --- forms: made from the API's requests ---------------------------------------------------------------------

/**
 * Completes the forms from their requests' schemas in /openapi.json: the sampling fields (config.SampleConfig's,
 * marked x-sampling) become number inputs after the legend, and every field takes its bounds, default,
 * description and length limit from there. So the page offers whatever the API accepts.
 */
async function completeForms() {
  const { schemas } = (await api("/openapi.json")).components;
  for (const fieldset of document.querySelectorAll("fieldset[data-request]")) {
    const { properties } = schemas[fieldset.dataset.request];
    const sampling = Object.keys(properties).filter((name) => properties[name]["x-sampling"]);
    $("legend", fieldset).after(...sampling.map((name) =>
      el("label", {}, `${name.replaceAll("_", "-")} `, el("input", { type: "number", name }))));
    for (const field of fieldset.form.elements) {
      if (field.name in properties && field.type !== "checkbox") describe(field, properties[field.name]);
    }
  }
}

/** A form field as its schema says: bounds, step, default, description, what leaving it empty means. */
function describe(field, property) {
  const type = property.anyOf?.find((t) => t.type !== "null") ?? property;
  if (type.maxLength) field.maxLength = type.maxLength;
  if (property.description) field.title = property.description;
  if (property["x-unset"]) field.placeholder = property["x-unset"];
  if (property.default != null && field.value === "") field.value = property.default;
  if (field.type !== "number") return;
  const step = type.type === "integer" ? 1 : 0.01;
  const min = type.minimum ?? type.exclusiveMinimum + step, max = type.maximum ?? type.exclusiveMaximum - step;
  Object.assign(field, { step, required: !property.anyOf });
  if (Number.isFinite(min)) field.min = min;
  if (Number.isFinite(max)) field.max = max;
}

// --- theme ---------------------------------------------------------------------------------------------------

const THEMES = ["auto", "light", "dark"];
function applyTheme(theme) {
  if (theme === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  $("#theme").textContent = `theme: ${theme}`;
  localStorage.setItem("theme", theme);
}

// --- models --------------------------------------------------------------------------------------------------

const selectedModel = () => {
  const [project, model] = ($("#model").value || "/").split("/");
  return project ? { project, model } : {};
};

async function loadModels() {
  const { default: fallback, models } = await api("/api/models");
  const select = $("#model");
  const keep = select.value || localStorage.getItem("model") || fallback;
  const names = models.map((m) => `${m.project}/${m.model}`);
  select.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
  if (names.length === 0) select.append(el("option", { value: "" }, "no models yet"));
  select.value = names.includes(keep) ? keep : fallback || names[0] || "";
  return models;
}

// --- highlighted text ------------------------------------------------------------------------------------------

/**
 * A text that grows at its end: raw characters as they are generated, then, as the server finds them final, spans
 * that are quotes (coloured by their first book, numbered in order of first appearance like the terminal's legend)
 * or original text. The part not yet covered by spans stays plain at the end.
 */
class Highlighted {
  constructor(textNode, legendNode) {
    this.textNode = textNode;
    this.legendNode = legendNode;
    this.numbers = new Map(); // book key -> its number, from 1
    this.text = "";
    this.covered = 0; // characters already turned into spans
    this.tail = document.createTextNode("");
    textNode.replaceChildren(this.tail);
    legendNode.replaceChildren();
  }

  addText(chunk) {
    this.text += chunk;
    this.tail.data = this.text.slice(this.covered);
  }

  addSpans(spans, summary) {
    for (const span of spans) {
      this.tail.before(span.quoted ? this.quote(span) : span.phrase ? this.phrase(span) : span.text);
      this.covered = span.end;
    }
    this.tail.data = this.text.slice(this.covered);
    this.legend(summary);
  }

  quote(span) {
    const refs = span.sources.map((s) => {
      if (!this.numbers.has(s.key)) this.numbers.set(s.key, this.numbers.size + 1);
      return this.numbers.get(s.key);
    });
    const node = el("span", { class: `quote q${(refs[0] - 1) % PALETTE}`, tabindex: 0, "aria-describedby": "card" },
      span.text, el("sup", {}, refs.join(",")));
    node.quote = { ...span, refs };
    return node;
  }

  phrase(span) {
    return el("span", { class: "phrase", title: `a common phrase: ${plural(span.count, "place")} in the library` }, span.text);
  }

  legend(summary) {
    if (!summary) return;
    const share = `${(100 * summary.fraction).toFixed(1)}% of ${plural(summary.chars, "char")}`;
    const longest = summary.quotes
      ? ` (${summary.per_1000.toFixed(1)} per 1,000 chars), the longest ${summary.longest_chars} chars` : "";
    const items = summary.sources.map((s, i) => el("li", {},
      el("span", { class: `swatch q${i % PALETTE}` }, `[${i + 1}]`), " ", bookLink(s),
      ` (${plural(s.quotes, "quote")}, ${plural(s.chars, "char")})`));
    // with one book the colour says it all: the quotes lose their superscript numbers
    this.textNode.classList.toggle("one-book", summary.sources.length <= 1);
    const rule = summary.rule ? [el("li", { class: "rule" }, summary.rule)] : [];
    this.legendNode.replaceChildren(el("li", {}, `${share} quoted in ${plural(summary.quotes, "quote")}${longest}`),
      ...rule, ...items);
  }
}

function bookLink(source) {
  const name = bookName(source);
  return source.url ? el("a", { href: source.url, target: "_blank", rel: "noopener" }, name) : name;
}

// --- the hover card of a quote: its source passage, marked, and a link to the book ----------------------------------

const card = {
  node: null,
  owner: null,
  dismissed: null, // the quote whose card Escape closed: getting its focus back does not reopen it
  timer: 0,
  show(quote) {
    clearTimeout(this.timer);
    if (this.owner === quote && !this.node.hidden) return;
    const q = quote.quote, first = q.sources[0];
    const others = q.refs.length > 1 ? `also in ${q.refs.slice(1).map((n) => `[${n}]`).join(", ")}; ` : "";
    this.node.replaceChildren(
      el("b", {}, `[${q.refs[0]}] `, bookLink(first), `, character ${first.offset.toLocaleString("en")}`),
      el("p", { class: "passage" }, q.before, el("mark", {}, q.sources[0].text || q.text), q.after),
      ...(q.count > 1 ? [el("i", {}, `${others}${plural(q.count, "place")} in all`)] : []));
    this.owner = quote;
    this.node.hidden = false;
    const box = quote.getBoundingClientRect(), width = this.node.offsetWidth;
    const left = Math.max(4, Math.min(box.left, document.documentElement.clientWidth - width - 4));
    this.node.style.left = `${left + window.scrollX}px`;
    this.node.style.top = `${box.bottom + window.scrollY + 4}px`;
  },
  hideSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), 250);
  },
  hide() {
    this.node.hidden = true;
    this.owner = null;
  },
  install() {
    this.node = $("#card");
    const quoteOf = (event) => event.target.closest?.(".quote");
    document.addEventListener("mouseover", (e) => { const q = quoteOf(e); if (q) this.show(q); });
    document.addEventListener("mouseout", (e) => { if (quoteOf(e)) this.hideSoon(); });
    document.addEventListener("focusin", (e) => {
      const q = quoteOf(e);
      if (q && q !== this.dismissed) this.show(q);
      else if (this.node.contains(e.target)) clearTimeout(this.timer);
      this.dismissed = null;
    });
    document.addEventListener("focusout", (e) => { if (quoteOf(e) || this.node.contains(e.target)) this.hideSoon(); });
    document.addEventListener("click", (e) => { const q = quoteOf(e); if (q) this.show(q); });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !this.node.hidden) { this.dismissed = this.owner; this.hide(); this.dismissed?.focus(); }
      if (e.key === "Enter" && quoteOf(e)) { this.show(quoteOf(e)); $("a", this.node)?.focus(); }
    });
    this.node.addEventListener("mouseenter", () => clearTimeout(this.timer));
    this.node.addEventListener("mouseleave", () => this.hideSoon());
  },
};

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
    shown.addText(reply.answer);
    if (reply.spans) shown.addSpans(reply.spans, reply.summary.quotes ? reply.summary : null);
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
    svg("text", { x: W / 2, y: H - 8, "text-anchor": "middle" }, "bits per char: train, validation"));
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
    chart(history),
    el("details", {}, el("summary", {}, detail.samples ? `latest samples (step ${detail.samples.step})` : "no samples yet"),
      detail.samples ? el("pre", {}, detail.samples.text) : null),
    el("details", {}, el("summary", {}, `library: ${plural(detail.library.length, "text")}`),
      el("ul", {}, ...detail.library.map((t) => el("li", {}, bookLink(t), ` (${plural(t.chars ?? 0, "char")})`)))));
  node.dataset.status = status;
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

const PAGES = ["write", "chat", "dashboard", "library"];
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
  showPage();
  completeForms().catch((error) => setStatus($("#write-status"), error.message, true));
  loadModels().catch((error) => setStatus($("#write-status"), error.message, true));
});

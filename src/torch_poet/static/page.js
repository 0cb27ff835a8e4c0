// torch-poet web app, what every tab uses: the JSON API (/api/, see /openapi.json), forms made from its requests,
// the theme, the model menu, highlighted text and the hover card of a quote. The tabs are in app.js. No build step.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const LN2 = Math.log(2);
const PALETTE = 12; // render.HTML_BACKGROUNDS: classes q0..q11 come from /palette.css

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

const pct = (v) => `${+(100 * v).toFixed(1)}%`;
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

/** A highlighted text streamed as server-sent events (/api/stream, /api/highlight/stream) into `shown` as it comes;
 * `on.start`, `on.text`, `on.done` hear of their events after that. An `error` event throws its message. */
async function followStream(response, shown, on = {}) {
  for await (const { event: kind, data } of events(response)) {
    if (kind === "text") shown.addText(data.text);
    else if (kind === "spans") shown.addSpans(data.spans, data.summary);
    else if (kind === "error") throw new Error(data.error);
    on[kind]?.(data);
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
 * Completes the forms from their requests' schemas in /openapi.json: the fields marked as the fieldset says
 * (data-mark; x-sampling: config.SampleConfig's) become inputs (a menu where the field has choices) after the
 * legend, or in place of an element marked data-fields-here, and every field takes its bounds, default,
 * description and length limit from there. So the page offers whatever the API accepts.
 */
async function completeForms() {
  const { schemas } = (await api("/openapi.json")).components;
  for (const fieldset of document.querySelectorAll("fieldset[data-request]")) {
    const { properties } = schemas[fieldset.dataset.request], mark = fieldset.dataset.mark || "x-sampling";
    const added = Object.keys(properties).filter((name) => properties[name][mark]);
    const fields = added.map((name) => el("label", {}, `${name.replaceAll("_", " ")} `, input(name, properties[name])));
    const place = $("[data-fields-here]", fieldset);  // where the fieldset wants them, else after its legend
    if (place) place.replaceWith(...fields);
    else $("legend", fieldset).after(...fields);
    for (const field of fieldset.form.elements) {
      if (field.name in properties && field.type !== "checkbox") describe(field, properties[field.name]);
    }
    for (const [name, value] of Object.entries(JSON.parse(fieldset.dataset.values || "{}"))) {
      fieldset.form.elements[name].value = value;  // the page's own starting values
    }
  }
}

function input(name, property) {
  const choices = (property.anyOf?.find((t) => t.enum) ?? property).enum;
  if (!choices) return el("input", { type: "number", name });
  return el("select", { name }, el("option", { value: "" }, property["x-unset"] ?? "default"),
    ...choices.map((c) => el("option", { value: c }, c)));
}

/** A form field as its schema says: bounds, step, default, description, what leaving it empty means. */
function describe(field, property) {
  const type = property.anyOf?.find((t) => t.type !== "null") ?? property;
  if (type.maxLength) field.maxLength = type.maxLength;
  if (property.description) field.title = property.description;
  if (property["x-unset"] && field.tagName === "INPUT") field.placeholder = property["x-unset"];
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

/** A model's API path, from its "project/model" name. */
const modelPath = (name) => `/api/models/${name.split("/").map(encodeURIComponent).join("/")}`;

const selectedModel = () => {
  const [project, model] = ($("#model").value || "/").split("/");
  return project ? { project, model } : {};
};

async function loadModels() {
  const { default: fallback, models } = await api("/api/models");
  const select = $("#model");
  const keep = select.value || localStorage.getItem("model") || fallback;
  const names = models.map((m) => `${m.project}/${m.model}`);
  if (names.join("\n") === [...select.options].map((o) => o.value).join("\n")) return models;  // the menu as it is
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
    this.length = 0; // characters so far
    this.covered = 0; // characters already turned into spans
    this.pending = ""; // the rest, kept alone: a whole text sliced at every chunk is copied at every chunk
    this.tail = document.createTextNode("");
    textNode.replaceChildren(this.tail);
    legendNode.replaceChildren();
  }

  addText(chunk) {
    this.pending += chunk;
    this.length += chunk.length;
    this.tail.data = this.pending;
  }

  addSpans(spans, summary) {
    for (const span of spans) {
      this.tail.before(...(span.quoted ? this.quote(span) : [span.phrase ? this.phrase(span) : span.text]));
      this.pending = this.pending.slice(span.end - this.covered);
      this.covered = span.end;
    }
    this.tail.data = this.pending;
    this.legend(summary);
  }

  quote(span) {
    const refs = span.sources.map((s) => {
      if (!this.numbers.has(s.key)) this.numbers.set(s.key, this.numbers.size + 1);
      return this.numbers.get(s.key);
    });
    const words = span.text.trimEnd(); // the number stays by the last word, not after a line break
    const node = el("span", { class: `quote q${(refs[0] - 1) % PALETTE}`, tabindex: 0, "aria-describedby": "card" },
      words, el("sup", {}, refs.join(",")));
    node.quote = { ...span, refs };
    return [node, span.text.slice(words.length)];
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
    const rule = summary.rule ? [el("li", { class: summary.chancy ? "rule chancy" : "rule" }, summary.rule)] : [];
    this.legendNode.replaceChildren(el("li", {}, `${share} quoted in ${plural(summary.quotes, "quote")}${longest}`),
      ...rule, ...items);
  }
}

/** The quotes of a text in a model's library (settings: the model and the rule) shown in textNode with their
 * legend; the API's reply. */
async function showQuotes(text, textNode, legendNode, settings) {
  const reply = await api("/api/highlight", { ...settings, text });
  const shown = new Highlighted(textNode, legendNode);
  shown.addText(text);
  if (reply.spans) shown.addSpans(reply.spans, reply.summary);
  return reply;
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
    const box = quote.getBoundingClientRect(), width = this.node.offsetWidth, height = this.node.offsetHeight;
    const left = Math.max(4, Math.min(box.left, document.documentElement.clientWidth - width - 4));
    // below the quote, or above it where below would leave the window and above has the room
    const below = box.bottom + 4 + height <= document.documentElement.clientHeight || box.top < height + 8;
    this.node.style.left = `${left + window.scrollX}px`;
    this.node.style.top = `${(below ? box.bottom + 4 : box.top - height - 4) + window.scrollY}px`;
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

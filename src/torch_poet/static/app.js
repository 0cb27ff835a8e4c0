// torch-poet web app, its tabs: write, check, chat, the library (search, and training a model on what it finds); the
// Training tab is dashboard.js, what they all share is page.js.
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
    await followStream(response, text, {
      start(data) { seed = data.seed; if (data.warning) setStatus(status, data.warning, true); },
      done(data) {
        const seconds = (performance.now() - started) / 1000;
        setStatus(status, `${plural(data.text.length, "char")} in ${seconds.toFixed(2)} s · seed ${seed}`);
        checkPrompt(body.prompt);
      },
    });
    out.dataset.state = "done";
  } catch (error) {
    out.dataset.state = "stopped";
    if (error.name === "AbortError") setStatus(status, `stopped · seed ${seed}`);
    else setStatus(status, error.message, true);
  } finally {
    if (generation === controller) { generation = null; $("#stop").disabled = true; }
  }
}

/** The prompt is text too: where it quotes the library, it is shown so above the continuation. */
async function checkPrompt(prompt) {
  const box = $("#write-prompt");
  box.hidden = true;
  const reply = await showQuotes(prompt, $("#write-prompt-text"), $("#write-prompt-legend"), selectedModel())
    .catch(() => null);
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
    const reply = await showQuotes(text, out, $("#check-legend"), { ...selectedModel(), ...settings });
    out.dataset.state = "done";
    setStatus(status, reply.warning || `${plural(text.length, "char")} checked${from}`, Boolean(reply.warning));
  } catch (error) {
    out.dataset.state = "stopped";
    setStatus(status, error.message, true);
  }
}

/** A file up to the box's size goes into it and is checked; a longer one is sent whole and checked as it streams
 * back, its text shown as it comes, not put in the box. */
async function readTextFile(file) {
  const area = $("#check-text"), most = Number(area.maxLength) > 0 ? Number(area.maxLength) : Infinity;
  if (file.size <= most) {  // bytes: at least as many as characters
    area.value = await file.text();
    if (area.value.length <= most) {
      $("#check-form").dataset.from = file.name;  // what the status line says the text is
      $("#check-form").requestSubmit();
      return;
    }
  }
  area.value = "";
  await checkLargeFile(file);
}

async function checkLargeFile(file) {
  const form = $("#check-form"), status = $("#check-status"), out = $("#check-out");
  const { text, ...settings } = formValues(form);
  const { max_file: largest } = await api("/api/status");
  if (file.size > largest) {
    setStatus(status, `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB: the page checks files up to `
      + `${largest / 2 ** 20} MB (the command poet highlight reads any size)`, true);
    return;
  }
  const shown = new Highlighted(out, $("#check-legend"));
  out.dataset.state = "checking";
  setStatus(status, `checking ${file.name}…`);
  const query = new URLSearchParams({ ...selectedModel(), ...settings });
  try {
    const response = await checked(await fetch(`/api/highlight/stream?${query}`,
      { method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" }, body: file }));
    let total = 0;
    await followStream(response, shown, {
      start(data) { total = data.chars; },
      text() { setStatus(status, `checking ${file.name}: ${pct(shown.length / total)} of ${plural(total, "char")}…`); },
      done(data) { setStatus(status, `${plural(data.chars, "char")} of ${file.name} checked`); },
    });
    out.dataset.state = "done";
  } catch (error) {
    out.dataset.state = "stopped";
    setStatus(status, error.message, true);
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

// --- library: catalog search ----------------------------------------------------------------------------------------

let searched = null; // the query of the results shown, for their next page

/** The catalog's books for the form's search (or `query`), a page at a time: `more` adds the next page. */
async function search(event, query = new URLSearchParams(formValues($("#search-form"))), more = false) {
  event?.preventDefault();
  const status = $("#search-status"), table = $("#results"), body = $("tbody", table);
  query.set("offset", more ? body.children.length : 0);
  setStatus(status, "searching…");
  try {
    const { count, books } = await api(`/api/search?${query}`);
    const mine = $("#model").value;
    const rows = books.map((b) => el("tr", { class: b.models.includes(mine) ? "mine" : null },
      el("td", {}, pickBox(b)),
      el("td", {}, el("a", { href: b.url, target: "_blank", rel: "noopener" }, String(b.id))),
      el("td", {}, b.title), el("td", {}, b.author), el("td", {}, b.language.join(", ")),
      el("td", {}, b.models.length ? `${b.models.includes(mine) ? "✓ " : ""}${b.models.join(", ")}` : "–")));
    if (more) body.append(...rows);
    else body.replaceChildren(...rows);
    searched = query;
    const shown = body.children.length;
    table.hidden = shown === 0;
    $("#pick-all").hidden = shown === 0;
    $("#more-results").hidden = shown >= count;
    const inModel = body.querySelectorAll("tr.mine").length;
    const of = query.get("model") ? ` of ${query.get("model")}'s library` : "";
    setStatus(status, `${plural(count, "book")}${of}${count > shown ? ` (${shown} shown)` : ""}` +
      (mine && !of ? `, ${inModel} ${count > shown ? "of those shown " : ""}in ${mine}'s library` : ""));
  } catch (error) {
    table.hidden = !more;
    setStatus(status, error.message, true);
  }
}

// --- library: books picked from searches (or a model's library) and a model trained on them --------------------

const picked = new Map(); // Gutenberg id -> {id, title, author}, across searches

function pickBox(book) {
  const box = el("input", { type: "checkbox", checked: picked.has(book.id), "aria-label": `pick ${book.title}` });
  box.addEventListener("change", () => {
    if (box.checked) picked.set(book.id, { id: book.id, title: book.title, author: book.author });
    else picked.delete(book.id);
    showPicked();
  });
  return box;
}

function showPicked(note = "") {
  const names = [...picked.values()].map((b) => b.title);
  const shown = names.slice(0, 5).join("; ") + (names.length > 5 ? ` and ${names.length - 5} more` : "");
  setStatus($("#picked"), picked.size ? `${plural(picked.size, "book")} picked: ${shown}${note}`
    : `No books picked yet: tick them in the results, or take a model's books.${note}`);
  $("#unpick").hidden = picked.size === 0;
}

async function takeModelBooks() {
  const name = $("#model").value;
  if (!name) return;
  try {
    const { library } = await api(modelPath(name));
    const books = library.filter((t) => t.book_id != null);
    for (const t of books) picked.set(t.book_id, { id: t.book_id, title: t.title, author: t.author });
    const others = library.length - books.length;
    showPicked(others ? ` (${plural(others, "text")} of ${name} are not Gutenberg books: left out)` : "");
    for (const row of document.querySelectorAll("#results tbody tr")) {
      const box = $("input", row), id = Number($("a", row).textContent);
      box.checked = picked.has(id);
    }
  } catch (error) {
    setStatus($("#picked"), error.message, true);
  }
}

async function startTraining(event) {
  event.preventDefault();
  const status = $("#train-status");
  const { project, model, restart, ...settings } = formValues($("#train-form"));
  const body = { project, model, restart: Boolean(restart), ...settings, library: { books: [...picked.keys()] } };
  setStatus(status, "starting…");
  try {
    await api("/api/train", body);
    setStatus(status, `${project}/${model} is training: follow it on the Training tab`);
    location.hash = "#dashboard";
  } catch (error) {
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
  $("#pick-all").addEventListener("click", () => {
    document.querySelectorAll("#results tbody input[type=checkbox]:not(:checked)").forEach((b) => b.click());
  });
  $("#unpick").addEventListener("click", () => {
    picked.clear();
    document.querySelectorAll("#results tbody input:checked").forEach((b) => { b.checked = false; });
    showPicked();
  });
  $("#take-books").addEventListener("click", takeModelBooks);
  $("#model-books").addEventListener("click", () => search(null, new URLSearchParams({ model: $("#model").value })));
  $("#more-results").addEventListener("click", () => search(null, searched, true));
  $("#train-form").addEventListener("submit", startTraining);
  for (const id of ["#curve", "#x-axis"]) {
    $(id).value = localStorage.getItem(id) || $(id).value;
    $(id).addEventListener("change", () => { localStorage.setItem(id, $(id).value); refreshDashboard(); });
  }
  let resized = 0;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => {
    if (!$("#page-dashboard").hidden) refreshDashboard();
  }, 300); });
  $("#model").addEventListener("change", () => {
    localStorage.setItem("model", $("#model").value);
    chatReset();
  });
  window.addEventListener("hashchange", showPage);
  window.addEventListener("focus", () => loadModels().catch(() => null));  // a model trained meanwhile joins the menu
  showPage();
  completeForms().catch((error) => setStatus($("#write-status"), error.message, true));
  showPicked();
  api("/api/train").then((t) => {
    $("#train-form").hidden = !t.allowed;
    $("#train-off").hidden = t.allowed;
    $("#train-off").textContent = t.why ?? "";
  }).catch(() => null);
  loadModels().catch((error) => setStatus($("#write-status"), error.message, true));
});

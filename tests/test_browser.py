"""`poet serve` in a real browser: headless Chromium (Debian's package) driven by Playwright.

One server for the module, on a small trained model plus one that a real `poet train` process is training while the
dashboard watches. Each test saves a screenshot under tests/screenshots/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import torch
from conftest import PRIDE_AND_PREJUDICE, history_len, wait_for_snapshot
from helpers import AUSTEN, BRONTE

from torch_poet.chat import MAX_CHARS, MAX_SENTENCES, WORD_SLACK, Conversation
from torch_poet.disk import samples, snapshots
from torch_poet.poet import Poet
from torch_poet.serve.schemas import ChatRequest, sampling

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT = 60_000  # ms: a training process starting up on shared cores
WRITE = {"prompt": "It is a truth", "length": 400, "temperature": 0.5, "seed": 7}

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
if not CHROMIUM.exists():
    if os.environ.get("CI"):  # .ci/run installs it: never let CI pass without the browser tests
        raise RuntimeError("no /usr/bin/chromium in CI: .ci/run should have installed it")
    pytest.skip("no /usr/bin/chromium: apt-get install chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(poet_server, serve_home, gutenberg_server):
    return poet_server(serve_home, "--project", "test", "--model", "tiny", "--mirror", gutenberg_server.url)


@pytest.fixture(scope="module")
def trainer(server, serve_home, gutenberg_server):
    """`poet train` of a 1x64 LSTM on Lady Susan (book 946 from the loopback mirror), a snapshot every ~1 s."""
    args = ["--project", "live", "--model", "tiny", "--book", "946", "--layers", "1", "--hidden", "64",
            "--embedding", "16", "--batch-size", "8", "--seq-len", "32", "--eval-chars", "5000", "--minutes", "5",
            "--snapshot-every", "0.02", "--sample-every", "0.02", "--sample-below", "100"]  # fmt: skip
    process = subprocess.Popen(  # not read: a pipe would fill with its samples and stall it
        [sys.executable, "-m", "torch_poet", "train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**server.env, "POET_GUTENBERG_URL": gutenberg_server.url},
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.fixture
def page(browser, request):
    """A fresh tab (own storage); fails the test on a JavaScript error; saves a screenshot at the end."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    shoot(page, request.node.name)
    context.close()
    assert not errors, errors


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def shown_text(page, selector: str) -> str:
    """The text as the reader sees it, without the quotes' reference numbers."""
    return page.eval_on_selector(
        selector, "n => [...n.childNodes].map(c => c.nodeType === 3 ? c.data : c.firstChild.data).join('')"
    )


def write(page, server, **settings) -> dict:
    """Generate on the Write page; returns what the API gives for the same settings."""
    values = {**WRITE, **settings}
    page.goto(server.url + "#write")
    page.fill("#prompt", values["prompt"])
    for name in ("length", "temperature", "seed"):
        page.fill(f"#write-form [name={name}]", str(values[name]))
    page.click("#generate")
    expect(page.locator("#write-out")).to_have_attribute("data-state", "done")
    return httpx.post(server.url + "api/generate", json=values, timeout=60).json()


def test_write_streams_the_text_then_highlights_its_quotes(page, server):
    expected = write(page, server)
    assert shown_text(page, "#write-out") == expected["text"]
    summary = expected["summary"]
    assert page.locator("#write-out .quote").count() == summary["quotes"] > 0
    legend = page.locator("#write-legend li")
    expect(legend).to_have_count(2 + len(summary["sources"]))  # the figures, the quote rule, one line per book
    expect(legend.first).to_contain_text(f"quoted in {summary['quotes']} quote")
    expect(legend.nth(1)).to_have_text(summary["rule"])
    expect(page.locator("#write-legend a")).to_have_attribute("href", PRIDE_AND_PREJUDICE)
    expect(page.locator("#write-status")).to_contain_text("400 chars in")


def test_a_quote_shows_its_source_on_hover_and_from_the_keyboard(page, server):
    expected = write(page, server)
    quotes = [s for s in expected["spans"] if s["quoted"]]
    i = next(i for i, s in enumerate(quotes) if s["sources"][0]["url"] == PRIDE_AND_PREJUDICE)
    quote, card = page.locator("#write-out .quote").nth(i), page.locator("#card")
    quote.hover()
    expect(card).to_be_visible()
    book_text = quotes[i]["sources"][0]["text"]  # the quote as the book has it, its line breaks included
    expect(card.locator("mark")).to_have_text(book_text)
    assert card.locator(".passage").text_content() == quotes[i]["before"] + book_text + quotes[i]["after"]
    expect(card.locator("a")).to_have_attribute("href", PRIDE_AND_PREJUDICE)
    expect(card).to_contain_text(f"character {quotes[i]['sources'][0]['offset']:,}")
    shoot(page, "hover-card")
    page.mouse.move(0, 0)
    expect(card).to_be_hidden()
    quote.focus()  # keyboard: a quote takes focus, shows its card; Enter goes to the book link, Escape closes
    expect(card).to_be_visible()
    page.keyboard.press("Enter")
    expect(card.locator("a")).to_be_focused()
    page.keyboard.press("Escape")
    expect(card).to_be_hidden()
    expect(quote).to_be_focused()


def test_check_finds_the_quotes_of_a_pasted_text_or_a_file_and_write_checks_its_prompt(page, server, tmp_path):
    page.goto(server.url + "#check")
    pasted = "Our own words first. " + AUSTEN[:300] + " And ours again."
    page.fill("#check-text", pasted)
    page.click("#check")
    expect(page.locator("#check-out")).to_have_attribute("data-state", "done")
    assert shown_text(page, "#check-out") == pasted
    expect(page.locator("#check-out .quote")).to_have_count(1)  # the passage is one quote
    expect(page.locator("#check-legend a")).to_have_attribute("href", PRIDE_AND_PREJUDICE)  # the book, named
    expect(page.locator("#check-legend li").first).to_contain_text("quoted in 1 quote")
    shoot(page, "check-pasted")
    book = tmp_path / "mine.txt"
    book.write_text(BRONTE[:250] + "\nnot in the library\n")
    page.set_input_files("#check-file", str(book))  # a file: read, checked at once
    expect(page.locator("#check-status")).to_contain_text("mine.txt", timeout=TIMEOUT)
    expect(page.locator("#check-out")).to_contain_text("not in the library")
    expect(page.locator("#check-out .quote")).to_have_count(1)
    large = tmp_path / "large.txt"  # past the box's 100,000 chars: sent whole, checked as it streams back
    text = "Words of our own, said again and again. " * 3_000 + AUSTEN[:300] + "\nthe end\n"
    large.write_text(text)
    page.set_input_files("#check-file", str(large))
    expect(page.locator("#check-status")).to_have_text(f"{len(text):,} chars of large.txt checked", timeout=TIMEOUT)
    assert shown_text(page, "#check-out") == text and page.input_value("#check-text") == ""
    expect(page.locator("#check-out .quote")).to_have_count(1)
    expect(page.locator("#check-legend a")).to_have_attribute("href", PRIDE_AND_PREJUDICE)
    write(page, server, prompt=AUSTEN[:120])  # a prompt that quotes the library is shown so
    expect(page.locator("#write-prompt")).to_be_visible()
    expect(page.locator("#write-prompt-text .quote")).to_have_count(1)
    write(page, server, prompt="It")  # too short to quote anything
    expect(page.locator("#write-prompt")).to_be_hidden()


def test_a_model_trained_meanwhile_joins_the_menu_without_a_reload(page, server, serve_home):
    page.goto(server.url + "#write")
    expect(page.locator("#model option")).not_to_have_count(0)
    assert "test/later" not in page.locator("#model option").all_text_contents()
    later = serve_home / "projects/test/later"
    shutil.copytree(serve_home / "projects/test/tiny", later)
    try:
        page.evaluate("window.dispatchEvent(new Event('focus'))")  # the user comes back to the tab
        expect(page.locator("#model option[value='test/later']")).to_have_count(1)
        expect(page.locator("#model")).to_have_value("test/tiny")  # the choice stays
    finally:
        shutil.rmtree(later)


@pytest.mark.parametrize("size", [(1366, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_hover_card_stays_in_the_window_at_its_bottom_edge(browser, server, size):
    """A quote at the window's bottom edge opens its card above it; a quote's number sits by its last word, never
    after a line break the quote ends in."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    write(page, server)
    ends = page.eval_on_selector_all("#write-out .quote", "qs => qs.map(q => q.firstChild.data)")
    assert ends and all(text == text.rstrip() for text in ends)
    quote, card = page.locator("#write-out .quote").last, page.locator("#card")
    page.evaluate("document.body.style.paddingBottom = '3000px'")  # room to scroll the quote to the bottom edge
    quote.evaluate("q => window.scrollBy(0, q.getBoundingClientRect().bottom - window.innerHeight + 2)")
    quote.hover()
    expect(card).to_be_visible()
    box, at = card.bounding_box(), quote.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= size[1], (box, at)
    assert box["y"] + box["height"] <= at["y"]  # above the quote
    shoot(page, f"hover-card-bottom-{size[0]}")
    context.close()


def test_the_forms_offer_what_the_api_accepts(page, server):
    """The sampling controls come from the API's schema (config.SampleConfig): min-p is there without being listed."""
    page.goto(server.url + "#write")
    min_p = page.locator("#write-form [name=min_p]")
    expect(min_p).to_have_attribute("max", "1")
    expect(min_p).to_have_attribute("placeholder", "off")
    expect(page.locator("#write-form [name=length]")).to_have_attribute("max", "5000")
    expect(page.locator("#prompt")).to_have_value(". ")
    expect(page.locator("#chat-form [name=temperature]")).to_have_value("0.7")
    expect(page.locator("#chat-form [name=min_p]")).to_be_attached()
    min_p.fill("1")  # the likeliest character only: greedy, whatever the temperature
    page.fill("#write-form [name=temperature]", "1.5")
    page.click("#generate")
    expect(page.locator("#write-out")).to_have_attribute("data-state", "done")
    greedy = httpx.post(server.url + "api/generate", json={"temperature": 0}, timeout=60).json()["text"]
    assert shown_text(page, "#write-out") == greedy


def test_two_tabs_generate_at_once_and_the_dashboard_answers(browser, server):
    context = browser.new_context()
    tabs = [context.new_page() for _ in range(3)]
    try:
        for tab, seed in zip(tabs, (11, 12)):
            tab.goto(server.url)
            tab.fill("#write-form [name=length]", "5000")
            tab.fill("#write-form [name=seed]", str(seed))
        for tab in tabs[:2]:
            tab.click("#generate", no_wait_after=True)
        tabs[2].goto(server.url + "#dashboard")
        expect(tabs[2].locator('article[data-name="test/tiny"] .badge')).to_have_text("stopped")
        for tab, seed in zip(tabs, (11, 12)):
            expect(tab.locator("#write-out")).to_have_attribute("data-state", "done")
            expected = httpx.post(server.url + "api/generate", json={"length": 5000, "seed": seed}, timeout=60).json()
            assert shown_text(tab, "#write-out") == expected["text"]
        shoot(tabs[0], "two-tabs")
    finally:
        context.close()


def test_chat_keeps_the_conversation_and_resets(page, server):
    page.goto(server.url + "#chat")
    answers = []
    for turn in ("It is a truth", "Mr. Bennet"):
        page.fill("#chat-text", turn)
        with page.expect_response("**/api/chat") as reply:
            page.keyboard.press("Enter")
        answers.append(reply.value.json()["answer"])
        expect(page.locator(".turn.poet").last).not_to_be_empty()
    shown = page.eval_on_selector_all(".turn.poet .text", "ts => ts.map(t => t.textContent.replace(/\\d+(?=\\D|$)/g, ''))")
    assert any(re.search(r"(?<!\n)\n(?!\n)", a) for a in answers)  # the model writes its books' hard line breaks
    assert not any(re.search(r"(?<!\n)\n(?!\n)", t) for t in shown)  # the bubbles flow them
    expect(page.locator(".turn.you")).to_have_count(2)
    expect(page.locator(".turn.poet")).to_have_count(2)
    expect(page.locator(".turn.poet .quote").first).to_be_visible()  # this model quotes its books
    shoot(page, "chat")
    page.click("#chat-reset")
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#chat-status")).to_have_text("the conversation starts afresh")


def test_chat_never_cuts_a_word_at_the_length_limit(page, server, serve_home):
    """An answer that reaches the 1,000-character limit ends with a whole word: the same turn through the Python
    API (same model, seed and settings, one thread as the server) leaves the next character a space."""
    page.goto(server.url + "#chat")
    page.fill("#chat-form [name=sentences]", str(MAX_SENTENCES))
    page.fill("#chat-form [name=seed]", "3")
    page.fill("#chat-text", "It is a truth")
    with page.expect_response("**/api/chat") as reply:
        page.keyboard.press("Enter")
    answer, sent = reply.value.json()["answer"], reply.value.request.post_data_json
    assert MAX_CHARS <= len(answer) <= MAX_CHARS + WORD_SLACK  # it ran into the limit
    expect(page.locator(".turn.poet .text")).to_have_text(re.compile(re.escape(answer[-20:].replace("\n", " "))))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dialog = Conversation(Poet.load(serve_home / "projects/test/tiny", device="cpu"))
        assert dialog.turn(sent["text"], sent["sentences"], sampling(ChatRequest(**sent))) == answer
    finally:
        torch.set_num_threads(threads)
    assert dialog.transcript[-1].isspace() and answer[-1].isalnum()  # a whole word, then the turn ends


def test_the_dashboard_follows_a_training_process(page, server, trainer):
    page.goto(server.url + "#dashboard")
    card = page.locator('article[data-name="live/tiny"]')
    expect(card.locator(".badge")).to_have_text("running", timeout=TIMEOUT)
    points = "n => Number(document.querySelector('[data-name=\"live/tiny\"] svg.chart').dataset.points) >= n"
    page.wait_for_function(points, arg=1, timeout=TIMEOUT)
    live = card.locator(".live progress")  # the trainer's heartbeat, between snapshots
    expect(live).to_be_visible(timeout=TIMEOUT)
    before = float(live.get_attribute("value"))
    page.wait_for_function("v => Number(document.querySelector('[data-name=\"live/tiny\"] .live progress').value) > v",
                           arg=before, timeout=5_000)  # at least one live update in 5 s  # fmt: skip
    expect(card.locator(".live")).to_contain_text("chars/s")
    card.locator("details").last.locator("summary").click()  # the reader opens the library's list
    seen = int(card.locator("svg.chart").get_attribute("data-points"))
    page.wait_for_function(points, arg=seen + 1, timeout=TIMEOUT)  # a new snapshot lands: the curve grows
    expect(card.locator("details").last).to_have_attribute("open", "")  # and what was open stays open
    expect(card.locator(".key li.val")).to_have_text("validation")  # the curves' key
    expect(card).to_contain_text("Lady Susan")
    expect(card).to_contain_text("chars/s")
    expect(card.locator("details").first).to_contain_text("latest samples (step")
    shoot(page, "dashboard-training")
    trainer.send_signal(signal.SIGINT)  # Ctrl-C: a last snapshot, then the process ends
    assert trainer.wait(timeout=60) == 130
    expect(card.locator(".badge")).to_have_text("stopped", timeout=TIMEOUT)


def test_the_samples_are_browsable_by_step_and_highlighted(page, server, trainer, serve_home):
    model_dir = serve_home / "projects/live/tiny"
    deadline = time.monotonic() + TIMEOUT / 1000
    while len(samples.steps(model_dir)) < 2 and time.monotonic() < deadline:  # written every ~1 s of training
        time.sleep(0.5)
    first = samples.steps(model_dir)[0]
    page.goto(server.url + "#dashboard")
    card = page.locator('article[data-name="live/tiny"]')
    card.locator("details.samples summary").click()
    card.locator(".sample-step").select_option(str(first))  # an earlier step than the latest
    parts = samples.read(model_dir, first)["parts"]
    expect(card.locator(".sample")).to_have_count(len(parts))
    expect(card.locator(".sample h4").first).to_have_text(parts[0]["head"])
    expect(card.locator(".sample .legend li").first).to_contain_text("quoted in")  # checked against the library
    assert shown_text(page, '[data-name="live/tiny"] .sample .text') == parts[0]["text"]


@pytest.fixture(scope="module")
def finished(server, gutenberg_server):
    """other/tiny: a second model on Lady Susan, trained for 60 steps with a snapshot every few of them."""
    args = ["--project", "other", "--model", "tiny", "--book", "946", "--layers", "1", "--hidden", "32",
            "--batch-size", "8", "--seq-len", "32", "--eval-chars", "2000", "--steps", "60", "--snapshot-every", "0.01"]
    subprocess.run([sys.executable, "-m", "torch_poet", "train", *args], check=True, capture_output=True, timeout=300,
                   env={**server.env, "POET_GUTENBERG_URL": gutenberg_server.url})  # fmt: skip


def test_two_models_overlaid_on_shared_axes(page, server, trainer, finished, serve_home):
    if history_len(serve_home / "projects/live/tiny") < 2:  # this test alone: the trainer is still starting
        wait_for_snapshot(serve_home / "projects/live/tiny", timeout=TIMEOUT / 1000)
    page.goto(server.url + "#dashboard")
    for name in ("other/tiny", "live/tiny"):
        page.check(f'#compare-models input[value="{name}"]')
    overlay = page.locator("#compare")
    expect(overlay.locator(".key li")).to_have_text(["live/tiny", "other/tiny"])  # as the models are listed
    expect(overlay.locator("polyline")).to_have_count(2)
    expect(overlay.locator("polyline, circle").first).to_be_attached()
    assert overlay.locator("text.label").first.text_content() == "step"
    page.select_option("#x-axis", "time")  # the axes follow the choice, in the cards too
    expect(overlay.locator("text.label").first).to_have_text("minutes")
    expect(page.locator('[data-name="live/tiny"] text.label').first).to_have_text("minutes")
    page.select_option("#curve", "readability")
    expect(overlay.locator("text.label").last).to_have_text("readability")
    box = overlay.locator("svg.chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)  # the values under the pointer
    expect(overlay.locator(".chart-tip")).to_contain_text("minutes")
    assert page.evaluate("() => getComputedStyle(document.querySelector('#compare text.tick')).fontSize") == "12px"
    shoot(page, "dashboard-overlay")
    page.reload()  # the choice is kept
    expect(page.locator("#compare .key li")).to_have_count(2)


def test_a_run_started_from_the_page_is_followed_stopped_and_resumed(page, server, serve_home):
    page.goto(server.url + "#library")
    page.fill("#search-form [name=author]", "austen")
    page.click("#search-form button[type=submit]")
    page.locator("#results tbody tr", has_text="Lady Susan").locator("input[type=checkbox]").check()
    expect(page.locator("#picked")).to_contain_text("1 book picked: Lady Susan")
    page.fill("#train-form [name=project]", "web")
    page.fill("#train-form [name=model]", "tiny")
    for name, value in (("layers", 1), ("hidden", 32), ("batch_size", 8), ("seq_len", 32), ("minutes", 5)):
        page.fill(f"#train-form [name={name}]", str(value))
    page.click("#train-start")
    expect(page).to_have_url(re.compile("#dashboard$"))
    card = page.locator('article[data-name="web/tiny"]')
    expect(card.locator(".badge")).to_have_text("running", timeout=TIMEOUT)
    live = card.locator(".live progress")
    expect(live).to_be_visible(timeout=TIMEOUT)
    before = float(live.get_attribute("value"))
    page.wait_for_function("v => Number(document.querySelector('[data-name=\"web/tiny\"] .live progress').value) > v",
                           arg=before, timeout=5_000)  # at least one live update in 5 s  # fmt: skip
    shoot(page, "training-started-from-the-page")
    card.locator("button.stop").click()
    expect(card.locator(".badge")).to_have_text("stopped", timeout=TIMEOUT)
    model_dir = serve_home / "projects/web/tiny"
    stopped = snapshot_step(model_dir)
    assert stopped > 0  # the snapshot written on the way out
    card.locator("details.output summary").click()
    expect(card.locator("details.output pre")).to_contain_text(f"snapshot saved at step {stopped}")
    card.locator(".actions input").fill("6")
    card.locator("button.resume").click()
    expect(card.locator(".badge")).to_have_text("running", timeout=TIMEOUT)
    expect(card.locator("details.output pre")).to_contain_text(f"from the last snapshot at step {stopped}",
                                                               timeout=TIMEOUT)  # fmt: skip
    card.locator("button.stop").click()
    expect(card.locator(".badge")).to_have_text("stopped", timeout=TIMEOUT)
    assert snapshot_step(model_dir) > stopped
    assert json.loads((model_dir / "config.json").read_text())["train"]["minutes"] == 6


def snapshot_step(model_dir: Path) -> int:
    return snapshots.newest(model_dir)[1]["step"]


def test_the_library_shows_which_books_a_model_was_trained_on(page, server, trainer, serve_home):
    model_dir = serve_home / "projects/live/tiny"
    if not (model_dir / "config.json").exists():  # this test alone: the trainer is still starting
        wait_for_snapshot(model_dir, timeout=TIMEOUT / 1000)
    page.goto(server.url + "#library")
    page.select_option("#model", "live/tiny")
    page.fill("#search-form [name=author]", "austen")
    page.click("#search-form button[type=submit]")
    row = page.locator("#results tbody tr", has_text="Lady Susan")
    expect(row).to_have_class("mine")
    expect(row.locator("td").last).to_have_text(re.compile(r"^✓ (.*, )?live/tiny(, |$)"))  # other models may have it too
    expect(page.locator("#search-status")).to_contain_text("1 in live/tiny's library")
    assert page.locator("#results tbody tr.mine").count() == 1
    page.click("#model-books")  # the model's own books
    expect(page.locator("#search-status")).to_have_text("1 book of live/tiny's library")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr")).to_contain_text("Lady Susan")
    page.fill("#search-form [name=author]", "")
    page.fill("#search-form [name=language]", "english")
    page.click("#search-form button[type=submit]")  # more than a page of results
    expect(page.locator("#results tbody tr")).to_have_count(100)
    page.click("#more-results")
    expect(page.locator("#results tbody tr")).to_have_count(200)
    expect(page.locator("#search-status")).to_contain_text("(200 shown)")


def test_phone_width_dark_theme_and_keyboard(browser, server):
    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="dark", has_touch=True)
    page = context.new_page()
    try:
        page.goto(server.url)
        background = "() => getComputedStyle(document.body).backgroundColor"
        assert page.evaluate(background) == "rgb(30, 30, 30)"  # the system's dark theme
        page.focus("#prompt")
        page.fill("#prompt", "There was no")
        page.keyboard.press("Control+Enter")  # generate without the mouse
        expect(page.locator("#write-out")).to_have_attribute("data-state", "done")
        for name in ("write", "check", "chat", "dashboard", "library"):
            page.goto(f"{server.url}#{name}")
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
        page.fill("#search-form [name=author]", "austen")  # the results: which model has a book, in view
        page.click("#search-form button[type=submit]")
        trained = page.locator("#results tbody tr").first.locator("td").last
        expect(trained).to_be_visible()
        box = trained.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and trained.evaluate(
            "td => getComputedStyle(td, '::before').content").startswith('"trained into')
        shoot(page, "phone-library")
        page.goto(server.url + "#write")
        shoot(page, "phone-dark")
        page.focus("#theme")
        page.keyboard.press("Enter")  # auto -> light
        assert page.evaluate(background) == "rgb(255, 255, 255)"
        page.keyboard.press("Enter")  # light -> dark
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    finally:
        context.close()

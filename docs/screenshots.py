"""The README's pictures of the web app: each tab, in light and dark, taken in headless Chromium from a real
`poet serve` over a model trained here, while a second model, started from the Library tab, trains.

    .venv/bin/python docs/screenshots.py        # or: make screenshots (about 4 minutes on 2 cores)

Writes docs/screenshots/<tab>-<theme>.png. Books come from $POET_GUTENBERG_URL, else ../shared/gutenberg.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots"
MIRROR = os.environ.get("POET_GUTENBERG_URL") or str(HERE.parents[1] / "shared" / "gutenberg")
CHROMIUM = "/usr/bin/chromium"
VIEW = {"width": 1280, "height": 820}
PRIDE = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
         "want of a wife. However little known the feelings or views of such a man may be on his first entering a "
         "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
         "considered the rightful property of some one or other of their daughters.")  # fmt: skip


def poet(*args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "torch_poet", *args], env=env, check=True)


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POET_HOME": f"{tmp}/home", "POET_CACHE": f"{tmp}/cache", "POET_GUTENBERG_URL": MIRROR}
        poet("train", "--project", "austen", "--model", "demo", "--author", "jane austen", "--language", "en",
             "--minutes", "2", "--snapshot-every", "0.25", "--sample-every", "0.5", "--sample-below", "100", env=env)
        server = subprocess.Popen([sys.executable, "-m", "torch_poet", "serve", "--port", "0"], env=env,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        url = re.search(r"serving (http://\S+/)", server.stderr.readline()).group(1)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport=VIEW)
                start_second_model(page, url, expect)
                for theme in ("light", "dark"):
                    page = browser.new_page(viewport=VIEW, color_scheme=theme)
                    shoot_tabs(page, url, theme, expect)
                browser.close()
        finally:
            server.terminate()  # stops the run it started, with a snapshot
            server.wait()
    print(f"wrote {len(list(OUT.glob('*.png')))} screenshots to {OUT}")


def start_second_model(page, url: str, expect) -> None:
    """The Library tab's own way: search, pick the Brontës' books, start a model on them."""
    page.goto(url + "#library")
    page.fill("#search-form [name=author]", "brontë")
    page.click("#search-form button[type=submit]")
    page.click("#pick-all")
    page.fill("#train-form [name=project]", "brontes")
    page.fill("#train-form [name=model]", "live")
    page.fill("#train-form [name=snapshot_every]", "0.25")
    page.click("#train-start")
    expect(page.locator('[data-name="brontes/live"] .live progress')).to_be_visible(timeout=120_000)


def shoot_tabs(page, url: str, theme: str, expect) -> None:
    page.goto(url + "#write")
    page.select_option("#model", "austen/demo")
    page.fill("#prompt", "It is a truth universally acknowledged")
    page.fill("#write-form [name=length]", "500")
    page.fill("#write-form [name=seed]", "7")
    page.click("#generate")
    expect(page.locator("#write-out")).to_have_attribute("data-state", "done", timeout=60_000)
    shot(page, "write", theme)
    page.goto(url + "#check")
    page.fill("#check-text", f"A letter began thus. {PRIDE} So much for the letter.")
    page.click("#check")
    expect(page.locator("#check-out")).to_have_attribute("data-state", "done", timeout=60_000)
    page.hover("#check-out .quote")
    shot(page, "check", theme)
    page.goto(url + "#chat")
    for i, turn in enumerate(("Who is coming to Netherfield?", "And what of the daughters?")):
        page.fill("#chat-text", turn)
        page.keyboard.press("Enter")
        expect(page.locator(".turn.poet")).to_have_count(i + 1, timeout=60_000)
    shot(page, "chat", theme)
    page.goto(url + "#dashboard")
    page.wait_for_function("() => document.querySelector('[data-name=\"brontes/live\"] svg.chart')?.dataset.points >= 2",
                           timeout=120_000)  # two snapshots of the run started from the page  # fmt: skip
    for name in ("austen/demo", "brontes/live"):
        page.locator(f'#compare-models input[value="{name}"]').check()
    page.locator('[data-name="austen/demo"] details.samples summary').click()
    expect(page.locator('[data-name="austen/demo"] .sample').first).to_be_visible(timeout=30_000)
    shot(page, "training", theme)
    page.goto(url + "#library")
    page.fill("#search-form [name=author]", "austen")
    page.click("#search-form button[type=submit]")
    page.click("#take-books")
    shot(page, "library", theme)


def shot(page, tab: str, theme: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the top of the tab, as a visitor first sees it
    page.wait_for_timeout(300)  # the last paint
    page.screenshot(path=OUT / f"{tab}-{theme}.png")


if __name__ == "__main__":
    main()

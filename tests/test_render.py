import ast
import subprocess
import sys
from pathlib import Path

import pytest

from torch_poet import render
from torch_poet.attribution import Index
from torch_poet.library import Library, Text
from torch_poet.render import Highlighted, ansi, highlight_data, html, html_page

PRIDE = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
    "want of a wife.\nHowever little known the feelings or views of such a man may be on his first entering "
    "a neighbourhood, this truth is so well fixed in the minds of the surrounding families."
)
NOTES = "notes: a single man in possession of a good fortune; the minds & friends"
TEXTS = [
    Text("pg1342", "Pride and Prejudice", "Austen, Jane", PRIDE, "https://www.gutenberg.org/ebooks/1342", 1342),
    Text("file:notes.txt", "My <notes>", "", NOTES),
]
GENERATED = (  # U+4E00 is in neither text, so it ends any quote
    "Zq<script>alert('x')</script>\u4e00a single man in possession of a good fortune\u4e00 and so the minds & friends"
)


@pytest.fixture
def spans():
    return Index.build(Library.from_texts(TEXTS)).segment(GENERATED, 10)


def test_fixture_has_a_quote_from_each_book(spans):
    assert [s.books for s in spans if s.quoted] == [("pg1342", "file:notes.txt"), ("file:notes.txt",)]


def test_html_escapes_generated_text_and_book_metadata(spans):
    out = html(spans)
    assert "<script>" not in out and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert "My &lt;notes&gt;" in out and "the minds &amp; friends" in out


def test_html_has_tooltip_with_context_link_and_reference_numbers(spans):
    out = html(spans)
    assert 'href="https://www.gutenberg.org/ebooks/1342"' in out
    assert 'class="poet-tip"' in out and ":hover .poet-tip" in out  # CSS tooltip, no script needed
    assert "that <mark>a single man in possession of a good fortune</mark>, must be in" in out  # context
    assert "<i>also in [2]; 2 places in all</i>" in out
    assert "<sup>1,2</sup>" in out and "<sup>2</sup>" in out
    assert "Austen, Jane: Pride and Prejudice</a> (1 quote, 44 chars)" in out
    assert "<script" not in out and "src=" not in out and "@import" not in out  # self-contained


def test_html_themes(spans):
    assert "prefers-color-scheme:dark" in html(spans)
    light, dark = html(spans, theme="light"), html(spans, theme="dark")
    first_light, first_dark = render.HTML_BACKGROUNDS[0]
    assert "prefers-color-scheme" not in light and "poet-light" in light and first_light in light
    assert "poet-dark" in dark and first_dark in dark and first_light not in dark
    with pytest.raises(ValueError):
        html(spans, theme="sepia")


def test_html_page_is_a_standalone_document(spans):
    page = html_page([("first <b>", spans), ("plain", "<script>x</script>")], title="Sample <1>")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<title>Sample &lt;1&gt;</title>" in page and html(spans) in page
    assert "<h2>first &lt;b&gt;</h2>" in page and "<pre>&lt;script&gt;x&lt;/script&gt;</pre>" in page


def test_ansi_colours_quotes_and_prints_a_legend(spans, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = ansi(spans)
    assert "\x1b[48;5;229;38;5;16ma single man in possession of a good fortune\x1b[0m" in out
    assert "[1]\x1b[0m Austen, Jane: Pride and Prejudice (1 quote, 44 chars)" in out
    assert "[2]\x1b[0m My <notes> (2 quotes, 64 chars)" in out
    assert "\n\n62.7% of 102 chars quoted in 2 quotes (19.6 per 1,000 chars), the longest 44 chars\n" in out


def test_no_color_env_and_flag_give_markers_instead(spans, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = ansi(spans)
    assert "\x1b" not in out
    assert "«a single man in possession of a good fortune»[1,2]\u4e00 and so« the minds & friends»[2]" in out
    assert "\n[1] Austen, Jane: Pride and Prejudice (1 quote, 44 chars)" in out
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: an empty value does not count
    assert "\x1b[" in ansi(spans)
    assert ansi(spans, color=False) == out


def test_ansi_reopens_colour_on_each_line_and_defuses_escapes(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    spans = Index.build(Library.from_texts(TEXTS)).segment("a wife.\nHowever little known\x1b[2J", 10)
    out = ansi(spans)
    assert "wife.\x1b[0m\n\x1b[48;5;229;38;5;16mHowever" in out
    assert "\x1b[2J" not in out and "␛[2J" in out


def test_highlighted_prints_ansi_and_shows_html_in_jupyter(spans, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    h = Highlighted.from_spans(spans)
    assert h.text == GENERATED and h.summary.quotes == 2
    assert str(h) == ansi(spans) and h._repr_html_() == html(spans)
    assert repr(h) == "<Highlighted: 62.7% of 102 chars quoted in 2 quotes (19.6 per 1,000 chars), the longest 44 chars>"


def test_plain_text_and_empty_input():
    assert '<div class="poet-text"></div>' in html([]) and "0.0% of 0 chars quoted in 0 quotes" in html([])
    assert ansi(Index.build(Library.from_texts(TEXTS)).segment("xyz"), color=False) == "xyz\n\n0.0% of 3 chars quoted in 0 quotes"


def test_the_legend_states_the_rule_and_one_book_needs_no_numbers(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    index = Index.build(Library.from_texts(TEXTS))
    text = "Zq: It is a truth universally acknowledged, that a single man in possession of a good fortune \u4e00"
    rule = index.rule()
    spans = index.segment(text)
    assert [s.books for s in spans if s.quoted] == [("pg1342",)]
    page = html(spans, rule=rule)
    assert "<sup>" not in page and f"<li>quotes ≥ {rule.min_quote} chars (longer than unseen text" in page
    assert ansi(spans, rule=rule).endswith(f"{rule.describe()}\n\x1b[48;5;229;38;5;16m[1]\x1b[0m Austen, Jane: "
                                           "Pride and Prejudice (1 quote, 89 chars)")  # fmt: skip
    override = index.rule(12)
    assert override.describe().startswith("quotes ≥ 12 chars (as asked")


def test_phrases_are_faint_and_not_in_the_legend(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    spans = Index.build(Library.from_texts(TEXTS)).segment("zz the minds & friends zz in possession of a good fortune zz", 25, phrases=True)
    [quote] = [s for s in spans if s.quoted]
    [phrase] = [s for s in spans if s.phrase]
    assert quote.text == " in possession of a good fortune" and phrase.text == " the minds & friends"
    assert "\x1b[2m the minds & friends\x1b[22m" in ansi(spans) and "(1 quote, 32 chars)" in ansi(spans)
    assert '<span class="poet-p" title="a common phrase: 1 place in the library"> the minds &amp; friends' in html(spans)


def test_json_for_the_cli_and_api_and_its_lighter_form_for_the_web_page(spans):
    data = Highlighted.from_spans(spans).as_dict()
    assert list(data) == ["summary", "spans"] and "".join(s["text"] for s in data["spans"]) == GENERATED
    books = [(b["key"], b["quotes"], b["chars"]) for b in data["summary"]["sources"]]
    assert books == [("pg1342", 1, 44), ("file:notes.txt", 2, 64)] and data["summary"]["fraction"] == 0.627451
    assert [(s["key"], s["offset"]) for s in data["spans"][1]["sources"]] == [("pg1342", 45), ("file:notes.txt", 7)]
    page = highlight_data(spans[2:], None, spans)  # a stream's newest spans, with the summary of all so far
    assert page["summary"] == data["summary"] and page["spans"][0] == data["spans"][2]
    assert page["spans"][1] == {**data["spans"][3], "before": NOTES[:52], "after": ""}
    repeated = Index.build(Library.from_texts([Text("a", "A", "", "the cat sat. " * 3)])).segment("so the cat sat. ", 5)
    [quote] = [s for s in highlight_data(repeated, None)["spans"] if s["quoted"]]
    assert quote["count"] == 2 and [s["offset"] for s in quote["sources"]] == [12]  # one source per book


def test_render_knows_nothing_of_torch():
    tree = ast.parse(Path(render.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any("torch" in name or "library" in name for name in imported), imported


def test_importing_render_loads_no_torch():
    """In a fresh interpreter: neither render nor anything it imports in turn loads torch."""
    code = "import sys, torch_poet.render; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[]\n"


def lab(colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour #rrggbb: distances in it follow how far apart colours look."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    xyz = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
           (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)  # fmt: skip
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def test_twelve_books_have_colours_apart_and_text_stays_readable_on_them():
    """Books near in number are far in colour (the old palette's 1st and 8th were two yellows, 1.01:1 apart); the
    text on each keeps a contrast of 4.5:1 (black on the light ones, white on the dark ones)."""
    import itertools
    import math

    assert len(render.HTML_BACKGROUNDS) == 12
    for theme in (0, 1):
        colours = [lab(pair[theme]) for pair in render.HTML_BACKGROUNDS]
        assert min(math.dist(a, b) for a, b in itertools.combinations(colours, 2)) >= 13  # clearly different
        assert min(math.dist(colours[i], colours[j]) for i in range(12) for j in range(i + 1, min(12, i + 4))) >= 20
        for light, _, _ in colours:
            y = ((light + 16) / 116) ** 3  # relative luminance from L*
            assert ((y + 0.05) / 0.05 if theme == 0 else 1.05 / (y + 0.05)) >= 4.5


def test_a_quotes_number_stays_by_its_last_word_when_it_ends_in_a_line_break():
    spans = Index.build(Library.from_texts(TEXTS)).segment("zz must be in want of a wife.\nqq the minds & friends", 10)
    assert spans[1].text.endswith("wife.\n") and spans[-1].quoted  # two books: the quotes carry numbers
    page = html(spans)
    assert "wife.<sup>1</sup>" in page and "</span>\nqq" in page


def test_a_rule_that_chance_meets_says_so_in_its_own_words():
    from torch_poet.attribution import Figures, Rule

    chancy = Rule(15, False, 12_000_000, Figures(0.78, 40, 90.0)).describe()
    assert chancy == ("quotes ≥ 15 chars (as asked; at this length most quotes are chance: text this library never "
                      "saw scores 78%)")  # fmt: skip
    fair = Rule(36, True, 12_000_000, Figures(0.0004, 38, 0.1)).describe()
    assert "chance:" not in fair and fair.endswith("unseen text: 0.0% quoted, longest 38)") and "--" not in fair

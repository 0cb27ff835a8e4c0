"""Quotes made visible: spans → a `Highlighted` result (text, spans, summary) and its views: ANSI text for
terminals (body and legend apart), an HTML fragment or page, Jupyter output, and the JSON that the CLI's
--json, the Python API and the web app share.

Every book gets a number (in order of first appearance) and a colour. A quote found in several books is
coloured by its first book and counted for each of them in the legend. Plain data in, views out: this
module knows nothing of torch, models or the library.
"""

from __future__ import annotations

import html as _html
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .attribution.results import CONTEXT, Figures, Rule, Source, SourceStats, Span, Summary, summary

# xterm-256 backgrounds that stay readable on dark and light terminals; the foreground follows the luminance
ANSI_BACKGROUNDS = (229, 153, 157, 218, 183, 223, 159, 192, 210, 147, 121, 224, 31, 97, 130, 65)
# (light theme, dark theme) backgrounds for HTML, the text colour the theme's: books 1.., 12 hues 30 degrees apart
# taken 150 degrees at a time, so that books near in number are far in colour; past 12 the colours repeat and the
# superscript numbers tell the books apart
HTML_BACKGROUNDS = (
    ("#f9e594", "#776622"), ("#94c7f9", "#224c77"), ("#94f994", "#227722"), ("#f994be", "#772245"),
    ("#cf94f9", "#542277"), ("#f9be94", "#774522"), ("#94f9f9", "#227777"), ("#f99494", "#772222"),
    ("#9494f9", "#222277"), ("#cff994", "#547722"), ("#f994f9", "#772277"), ("#94f9c7", "#22774d"),
)  # fmt: skip
_RESET = "\x1b[0m"


def no_color() -> bool:
    """True when the NO_COLOR environment variable is set to anything but "" (https://no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


def _rgb(index: int) -> tuple[int, int, int]:
    """The usual RGB of an xterm-256 colour from the cube (16-231) or the grey ramp (232-255)."""
    if index >= 232:
        return (8 + 10 * (index - 232),) * 3
    levels = (0, 95, 135, 175, 215, 255)
    i = index - 16
    return levels[i // 36], levels[i // 6 % 6], levels[i % 6]


def _ansi_style(number: int) -> str:
    bg = ANSI_BACKGROUNDS[(number - 1) % len(ANSI_BACKGROUNDS)]
    r, g, b = _rgb(bg)
    fg = 16 if 0.299 * r + 0.587 * g + 0.114 * b > 140 else 231  # black on light, white on dark
    return f"\x1b[48;5;{bg};38;5;{fg}m"


def _numbers(stats: Summary) -> dict[str, int]:
    return {s.key: i + 1 for i, s in enumerate(stats.sources)}


def _name(source: Source | SourceStats) -> str:
    return f"{source.author}: {source.title}" if source.author else source.title


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _headline(stats: Summary) -> str:
    """The memorisation figures, then the rule that made them (and what unseen text scores under it)."""
    line = f"{stats.fraction:.1%} of {_plural(stats.chars, 'char')} quoted in {_plural(stats.quotes, 'quote')}"
    if stats.quotes:
        line += f" ({stats.per_1000:.1f} per 1,000 chars), the longest {stats.longest_chars:,} chars"
    return line + (f"\n{stats.rule.describe()}" if stats.rule else "")


def _count(stat: SourceStats) -> str:
    return f"({_plural(stat.quotes, 'quote')}, {_plural(stat.chars, 'char')})"


def ansi(spans: Sequence[Span], color: bool = True, rule: Rule | None = None) -> str:
    """The text with each quote on its book's background colour, then a numbered legend.

    Without colour (color=False, or NO_COLOR set) quotes read «like this»[1] instead.
    """
    return "\n\n".join(ansi_parts(spans, color, rule))


def ansi_parts(spans: Sequence[Span], color: bool = True, rule: Rule | None = None) -> tuple[str, str]:
    """`ansi` as (the text, the legend)."""
    stats = summary(spans, rule)
    numbers = _numbers(stats)
    color = color and not no_color()
    return "".join(ansi_span(s, numbers, color) for s in spans), ansi_legend(stats, color)


def ansi_span(span: Span, numbers: dict[str, int], color: bool) -> str:
    """One span for a terminal: a quote on its first book's colour (or «marked»[n]), a phrase faint."""
    text = span.text.replace("\x1b", "␛")  # generated text must not drive the terminal
    if span.phrase and color:  # a common phrase: faint, no colour, not in the legend
        return "\n".join(f"\x1b[2m{line}\x1b[22m" if line else "" for line in text.split("\n"))
    if not span.quoted:
        return text
    if color:  # reopen the colour on each line, so it does not bleed to the terminal's edge
        style = _ansi_style(numbers[span.books[0]])
        return "\n".join(f"{style}{line}{_RESET}" if line else "" for line in text.split("\n"))
    return f"«{text}»[{','.join(str(numbers[k]) for k in span.books)}]"


def ansi_legend(stats: Summary, color: bool) -> str:
    """The memorisation figures, the quote rule, then one line per book."""
    legend = [_headline(stats)]
    for n, stat in enumerate(stats.sources, 1):
        label = f"{_ansi_style(n)}[{n}]{_RESET}" if color else f"[{n}]"
        legend.append(f"{label} {_name(stat)} {_count(stat)}")
    return "\n".join(legend)


_CSS = """
.poet{color:var(--poet-fg);background:var(--poet-bg);line-height:1.55;font-family:Georgia,'Times New Roman',serif}
.poet-text{white-space:pre-wrap}
.poet-q{position:relative;border-radius:3px;padding:0 1px}
.poet-q sup{font-size:.65em;margin-left:1px;opacity:.8}
.poet-p{text-decoration:underline dotted;text-decoration-color:var(--poet-line);text-underline-offset:3px}
.poet-tip{display:none;position:absolute;left:0;top:100%;z-index:1000;width:34em;max-width:80vw;padding:.5em .7em;
 white-space:normal;font-size:.85em;line-height:1.4;color:var(--poet-fg);background:var(--poet-tip);
 border:1px solid var(--poet-line);border-radius:4px;box-shadow:0 2px 8px rgba(0,0,0,.25)}
.poet-q:hover .poet-tip,.poet-q:focus-within .poet-tip{display:block}
.poet-tip b{display:block;margin-bottom:.3em}
.poet-tip mark{color:inherit;background:var(--poet-mark)}
.poet-tip i{display:block;margin-top:.3em;opacity:.75}
.poet a{color:var(--poet-link)}
.poet-legend{margin:.8em 0 0;padding-left:0;list-style:none;font-size:.9em}
.poet-legend span{border-radius:3px;padding:0 .3em}
"""
_THEMES = {
    "light": dict(fg="#1b1b1b", bg="#ffffff", tip="#fbfbf8", line="#c8c8c8", mark="#fff3a0", link="#0b57d0"),
    "dark": dict(fg="#e6e6e6", bg="#1e1e1e", tip="#2a2a2a", line="#555555", mark="#5c4f00", link="#8ab4f8"),
}


def _variables(theme: str) -> str:
    names = {f"--poet-{k}": v for k, v in _THEMES[theme].items()}
    column = 0 if theme == "light" else 1
    names |= {f"--poet-c{i}": pair[column] for i, pair in enumerate(HTML_BACKGROUNDS)}
    return ";".join(f"{k}:{v}" for k, v in names.items())


def _style(theme: str) -> str:
    if theme not in ("auto", "light", "dark"):
        raise ValueError(f"theme must be auto, light or dark, not {theme!r}")
    colours = "".join(f".poet-c{i}{{background:var(--poet-c{i})}}\n" for i in range(len(HTML_BACKGROUNDS)))
    auto = f"@media (prefers-color-scheme:dark){{.poet-auto{{{_variables('dark')}}}}}\n" if theme == "auto" else ""
    base = "light" if theme == "auto" else theme
    return f"<style>\n.poet-{theme}{{{_variables(base)}}}\n{auto}{_CSS}{colours}</style>"


def _colour(number: int) -> str:
    return f"poet-c{(number - 1) % len(HTML_BACKGROUNDS)}"


def _book_link(source: Source | SourceStats) -> str:
    name = _html.escape(_name(source))
    return f'<a href="{_html.escape(source.url)}" target="_blank" rel="noopener">{name}</a>' if source.url else name


def _html_quote(span: Span, numbers: dict[str, int], marks: bool) -> str:
    first = span.sources[0]
    refs = ",".join(str(numbers[k]) for k in span.books)
    before = "…" if first.offset > len(first.before) else ""  # the book goes on beyond the context
    after = "…" if len(first.after) == CONTEXT else ""
    passage = f"{before}{_html.escape(first.before)}<mark>{_html.escape(first.text or span.text)}</mark>"
    passage += f"{_html.escape(first.after)}{after}"
    others = "also in " + ", ".join(f"[{numbers[k]}]" for k in span.books[1:]) + "; " if len(span.books) > 1 else ""
    elsewhere = f"<i>{others}{span.count:,} places in all</i>" if span.count > 1 else ""
    tip = f"<b>[{numbers[first.key]}] {_book_link(first)}, character {first.offset:,}</b>{passage}{elsewhere}"
    sup = f"<sup>{refs}</sup>" if marks else ""  # with one book the colour says it all
    words = span.text.rstrip()  # the number stays by the last word, not after a line break
    return (
        f'<span class="poet-q {_colour(numbers[first.key])}" tabindex="0">{_html.escape(words)}'
        f'{sup}<span class="poet-tip" role="tooltip">{tip}</span></span>{_html.escape(span.text[len(words):])}'
    )


def _html_span(span: Span, numbers: dict[str, int], marks: bool) -> str:
    if span.quoted:
        return _html_quote(span, numbers, marks)
    if span.phrase:
        where = _plural(span.count, "place")
        return f'<span class="poet-p" title="a common phrase: {where} in the library">{_html.escape(span.text)}</span>'
    return _html.escape(span.text)


def html(spans: Sequence[Span], theme: str = "auto", rule: Rule | None = None) -> str:
    """A self-contained HTML fragment: coloured quotes with hover tooltips (source passage and link), a legend.

    theme: "light", "dark" or "auto" (follows the reader's prefers-color-scheme).
    """
    style = _style(theme)
    stats = summary(spans, rule)
    numbers = _numbers(stats)
    body = "".join(_html_span(s, numbers, len(numbers) > 1) for s in spans)
    legend = "".join(
        f'<li><span class="{_colour(n)}">[{n}]</span> {_book_link(stat)} {_count(stat)}</li>'
        for n, stat in enumerate(stats.sources, 1)
    )
    return (
        f'<div class="poet poet-{theme}">{style}<div class="poet-text">{body}</div>'
        f'<ul class="poet-legend">{"".join(f"<li>{_html.escape(line)}</li>" for line in _headline(stats).split(chr(10)))}'
        f"{legend}</ul></div>"
    )


def html_page(
    sections: Sequence[tuple[str, Sequence[Span] | str]],
    title: str = "torch-poet",
    theme: str = "auto",
    rule: Rule | None = None,
) -> str:
    """A standalone HTML document (for --html out.html, samples/): one section per (heading, spans);
    a plain string instead of spans is shown as it is (text whose library could not be read)."""
    parts = []
    for heading, item in sections:
        body = f"<pre>{_html.escape(item)}</pre>" if isinstance(item, str) else html(item, theme, rule)
        parts.append(f"<h2>{_html.escape(heading)}</h2>\n{body}" if heading else body)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{_html.escape(title)}</title>\n'
        f"<style>body{{margin:2em auto;max-width:50em;padding:0 1em}}</style>\n</head>\n"
        f"<body>\n<h1>{_html.escape(title)}</h1>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )


@dataclass(frozen=True, repr=False)
class Highlighted:
    """A generated text with its quotes: prints in colour, shows as HTML in Jupyter."""

    text: str
    spans: tuple[Span, ...]
    summary: Summary

    @classmethod
    def from_spans(cls, spans: Sequence[Span], rule: Rule | None = None) -> Highlighted:
        return cls("".join(s.text for s in spans), tuple(spans), summary(spans, rule))

    def __str__(self) -> str:
        return ansi(self.spans, rule=self.summary.rule)

    def __repr__(self) -> str:
        return f"<Highlighted: {_headline(self.summary).splitlines()[0]}>"

    def _repr_html_(self) -> str:
        return html(self.spans, rule=self.summary.rule)

    def as_dict(self) -> dict:
        """Plain JSON-able data: the summary and every span with its sources (`poet generate --json`)."""
        return {"summary": _summary_data(self.summary), "spans": [_span_data(span) for span in self.spans]}


def _fields(item: object, *names: str) -> dict:
    return {name: getattr(item, name) for name in names}


def _summary_data(s: Summary) -> dict:
    unseen = s.rule.unseen if s.rule else None
    return {
        "chars": s.chars,
        "quoted_chars": s.quoted_chars,
        "fraction": round(s.fraction, 6),
        "quotes": s.quotes,
        "per_1000": round(s.per_1000, 3),
        "longest_chars": s.longest_chars,
        "longest_text": s.longest_text,
        "min_quote": s.rule.min_quote if s.rule else None,
        "rule": s.rule.describe() if s.rule else None,
        "chancy": bool(s.rule and s.rule.chancy),
        "unseen": _figures_data(unseen) if unseen else None,
        "sources": [_fields(b, "key", "title", "author", "url", "quotes", "chars") for b in s.sources],
    }


def _figures_data(f: Figures) -> dict:
    return {"fraction": round(f.fraction, 6), "longest_chars": f.longest, "per_1000": round(f.per_1000, 3)}


def _span_data(span: Span) -> dict:
    return {
        **_fields(span, "start", "end", "text", "quoted", "phrase", "count"),
        "sources": [_fields(s, "key", "title", "author", "url", "offset", "text") for s in span.sources],
    }


def highlight_data(spans: Sequence[Span], rule: Rule | None, everything: Sequence[Span] | None = None) -> dict:
    """`Highlighted.as_dict` of spans (the summary of `everything`, default the same spans), lightened for the
    web page: one source per book, and the first source's passage around each quote (`before`, `after`) for its
    hover card."""
    whole = summary(spans if everything is None else everything, rule)
    data = Highlighted("".join(s.text for s in spans), tuple(spans), whole).as_dict()
    for item, span in zip(data["spans"], spans):
        if span.quoted:
            first: dict[str, dict] = {}
            for source in item["sources"]:
                first.setdefault(source["key"], source)
            item["sources"] = list(first.values())
            item["before"], item["after"] = span.sources[0].before, span.sources[0].after
    return data

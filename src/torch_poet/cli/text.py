"""`poet generate`, `poet highlight`: text printed with its quotes coloured by book, as it is made or read."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import warnings

from ..config import DEFAULT_PROMPT
from ..errors import PoetError, say
from .args import (
    add_command,
    add_dataclass_args,
    add_model_args,
    add_output_args,
    load_poet,
    overrides,
    use_color,
    write,
)


class LivePrinter:
    """Prints a text as it arrives: given a rule, the spans as they become final, numbered and coloured as
    render.ansi would the whole text (books are numbered in order of first appearance), then the legend; without
    one, the text alone. Keeps the spans only when asked to."""

    def __init__(self, color: bool, rule=None, keep: bool = True):
        from ..attribution import Tally
        from ..render import no_color

        self.color, self.rule, self.tally = color and not no_color(), rule, Tally()
        self.spans: list | None = [] if keep else None

    def add(self, chunk: str, spans: list) -> None:
        """A chunk of the text with the spans that became final with it (`attribution.segment_stream`)."""
        from ..render import ansi_span

        if self.rule is None:
            sys.stdout.write(chunk)
        for span in spans:
            self.tally.add(span)
        numbers = {key: n for n, key in enumerate(self.tally.books, 1)}
        sys.stdout.write("".join(ansi_span(s, numbers, self.color) for s in spans))
        sys.stdout.flush()
        if self.spans is not None:
            self.spans += spans

    @property
    def legend(self) -> str:
        from ..render import ansi_legend

        return ansi_legend(self.tally.summary(self.rule), self.color)


def cmd_generate(args: argparse.Namespace) -> int:
    import secrets

    from ..config import SampleConfig
    from ..render import Highlighted, ansi, html_page

    given = overrides(args, SampleConfig)
    temperatures = given.pop("temperature", [SampleConfig.temperature])
    given.setdefault("seed", secrets.randbelow(2**31))  # the same seed at every temperature
    configs = [SampleConfig(**given, temperature=t) for t in temperatures]  # refused before the model loads
    poet = load_poet(args)
    tty, color = sys.stdout.isatty(), use_color(args)
    index = rule = None
    if not args.plain:
        try:
            index = poet.index(log=say)
            rule = index.rule(args.min_quote)
        except PoetError as e:
            warnings.warn(f"quotes will not be highlighted: {e}")
    num, seed = configs[0].num, configs[0].seed
    many = len(configs) > 1 or num > 1
    live = tty and num == 1 and not args.json
    samples, sections = [], []
    for temperature, config in zip(temperatures, configs):
        printer = LivePrinter(color, rule)
        if live:
            head = f"── temperature {temperature:g} · seed {seed} ──"
            print(f"\x1b[2m{head}\x1b[0m" if color else head, flush=True)
            parts = []
            for chunk, spans in poet.stream_highlighted(args.prompt, config, args.min_quote, args.phrases,
                                                        skip_unknown=args.skip_unknown, quotes=index is not None):  # fmt: skip
                parts.append(chunk)
                printer.add(chunk, spans)
            print("\n\n" + printer.legend + "\n" if index else "\n", flush=True)
            texts = ["".join(parts)]
        else:
            texts = poet.stream(args.prompt, config, skip_unknown=args.skip_unknown).read_all()
        for i, text in enumerate(texts):
            highlighted = None
            if index:
                spans = printer.spans if live else index.segment(text, args.min_quote, args.phrases)
                highlighted = Highlighted.from_spans(spans, rule)
            head = f"temperature {temperature:g}" + (f" · sample {i + 1} of {num}" if num > 1 else "")
            head += f" · seed {seed + i}"
            readable = poet.readability(text) if index else None  # the library is at hand where the index is
            samples.append({"temperature": temperature, "sample": i, "seed": seed + i, "text": text,
                            **(highlighted.as_dict() if highlighted else {"summary": None, "spans": None}),
                            "readability": readable})  # fmt: skip
            sections.append((head, highlighted.spans if highlighted else text))
            line = f"readability {readable:.1%} (share of its words found in the library)" if index else None
            if live and line:
                print(line + "\n", flush=True)
            if live or args.json:
                continue
            if many or tty:
                print(f"── {head} ──")
            print(
                ansi(highlighted.spans, color, rule) if highlighted else text, end="\n\n" if many and not line else "\n"
            )
            if line:
                print(line, end="\n\n" if many else "\n")
    if args.html:
        write(args.html, html_page(sections, title=f"torch-poet: {args.project}/{args.model}", rule=rule))
    if args.json:
        settings = {k: v for k, v in dataclasses.asdict(configs[0]).items() if k not in ("temperature", "seed")}
        out = {"model": str(poet.dir), "snapshot": args.snapshot, "prompt": args.prompt, **settings,
               "min_quote": rule.min_quote if rule else None, "samples": samples}  # fmt: skip
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


def register_generate(sub) -> None:
    from ..config import SampleConfig

    p = add_command(
        sub,
        "generate",
        cmd_generate,
        help="generate text with a trained model, quotes highlighted",
        description="Generate text with a trained model and highlight the passages copied verbatim from its\n"
        "books (the legend names them). On a terminal the text streams as it is made; piped, it is printed\n"
        "once, with quotes marked «like this»[1]. Sample i uses seed + i, so a seed reproduces a text exactly.",
        epilog="examples:\n  poet generate --temperature 0.6 0.7 0.8 --length 500\n"
        "  poet generate --prompt 'It is a truth' --num 4 --seed 1 --top-p 0.95 --html out.html",
    )
    add_model_args(p, weights=True)
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"text the model continues (default: {DEFAULT_PROMPT!r})")
    add_dataclass_args(p.add_argument_group("sampling"), SampleConfig, many=("temperature",))
    p.add_argument("--skip-unknown", action="store_true", help="drop prompt characters the model never saw")
    p.add_argument("--plain", action="store_true", help="print the text only: no highlighting, no legend")
    add_output_args(p)


def cmd_highlight(args: argparse.Namespace) -> int:
    """Reads the text in chunks: on a terminal or a pipe, memory follows the chunk, not the file."""
    from ..attribution import segment_stream
    from ..gutenberg.clean import text_reader
    from ..render import Highlighted, html_page

    if args.file == "-" and sys.stdin is None:
        raise PoetError("standard input is closed: pipe a text in, or name a FILE")
    poet = load_poet(args, weights=False)
    index = poet.index(log=say)
    rule = index.rule(args.min_quote)
    whole = bool(args.json or args.html)  # these need every span at once
    printer = LivePrinter(use_color(args), rule, keep=whole) if not args.json else None
    spans = []
    try:
        with text_reader(sys.stdin.buffer if args.file == "-" else open(args.file, "rb")) as f:
            chunks = iter(lambda: f.read(1 << 20), "")
            for chunk, found in segment_stream(chunks, index.segmenter(args.min_quote, args.phrases)):
                if printer:
                    printer.add(chunk, found)
                else:
                    spans += found
    except OSError as e:
        raise PoetError(f"cannot read {args.file}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise PoetError(f"{args.file} is not UTF-8 text (nor UTF-16 or UTF-32 with a byte-order mark): convert it "
                        "(iconv -t UTF-8) or pick a text file") from None
    if printer:
        print("\n\n" + printer.legend)
        spans = printer.spans
    if args.html:
        write(args.html, html_page([("", spans)], title=f"torch-poet: {args.file}", rule=rule))
    if args.json:
        data = Highlighted.from_spans(spans, rule).as_dict()
        print(json.dumps({"model": str(poet.dir), "min_quote": rule.min_quote, **data}, ensure_ascii=False, indent=1))
    return 0


def register_highlight(sub) -> None:
    p = add_command(
        sub,
        "highlight",
        cmd_highlight,
        help="highlight the passages of any text copied verbatim from a model's books",
        description="Find the passages of a text (a file, or - for stdin) that occur verbatim in the books a\n"
        "model was trained on, and show them coloured by book with a legend.",
        epilog="example:\n  poet generate --plain > out.txt && poet highlight out.txt",
    )
    add_model_args(p)
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - to read stdin")
    add_output_args(p)

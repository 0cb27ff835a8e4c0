"""The `poet` command: parse arguments, call the Python API, print. Nothing else lives here."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings

from .config import DEFAULT_MODEL, DEFAULT_PROJECT, DEFAULT_PROMPT
from .errors import PoetError


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every command understands: where data, cache and books come from."""
    p.add_argument("--root", help="data root for models (default: $POET_HOME or the user data dir)")
    p.add_argument("--cache", help="cache dir for catalog and books (default: $POET_CACHE or the user cache dir)")
    p.add_argument(
        "--mirror",
        help="Gutenberg source: URL or local directory (default: $POET_GUTENBERG_URL or https://www.gutenberg.org/)",
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Which model a command works on: $POET_HOME/projects/<project>/<model>."""
    p.add_argument("--project", default=DEFAULT_PROJECT, help=f"project name (default: {DEFAULT_PROJECT})")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name within the project (default: {DEFAULT_MODEL})")


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach users as one line each, without source locations."""
    print(f"poet: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poet",
        description="Train character-level LSTMs on Project Gutenberg books, generate text, "
        "and see which passages were copied verbatim from which book.",
        epilog="a five-minute tour:\n  poet search --author austen --language en\n"
        "  poet train --project austen --author 'jane austen' --minutes 5\n"
        "  poet generate --project austen --temperature 0.6 0.8\n  poet chat --project austen\n\n"
        "`poet COMMAND --help` shows each command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def add_dataclass_args(
    p: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (), sized: tuple[str, ...] = (), many: tuple[str, ...] = ()
) -> None:
    """One `--field-name` flag per config field (default None = keep the saved or default value); the
    `sized` fields default to what the sizing rule picks for a new model, the `many` fields take one or more
    values. cls may be an instance, whose values are then the defaults shown."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = "sized to the device and --minutes" if f.name in sized else getattr(cls, f.name, f.default)
        if default is None and f.metadata.get("unset"):
            default = f.metadata["unset"]  # what leaving it unset means: "all", "random"
        flag = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "")
        if isinstance(default, tuple):
            shown = " ".join(map(str, default))
            p.add_argument(flag, type=type(default[0]), nargs="+", default=None, help=f"{text} (default: {shown})")
        elif isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f"{text} (default: {default})")
        else:
            kind = int if f.type in ("int", "int | None") else float if "float" in str(f.type) else str
            shown = "" if default is None or "default" in text else f" (default: {default})"
            nargs = {"nargs": "+", "help": f"{text}; one or more{shown}"} if f.name in many else {"help": text + shown}
            p.add_argument(flag, type=kind, default=None, **nargs)


def overrides(args: argparse.Namespace, cls) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def add_library_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("library (any mix; none = the model's saved library, or the default women_writers)")
    g.add_argument("--author", action="append", default=[], help="Gutenberg search by author (repeatable, OR'ed)")
    g.add_argument("--title", action="append", default=[], help="... by title")
    g.add_argument("--language", action="append", default=[], help="... by language name or code")
    g.add_argument("--subject", action="append", default=[], help="... by subject")
    g.add_argument("--book", action="append", type=int, default=[], dest="books", help="a Gutenberg id (repeatable)")
    g.add_argument("--file", action="append", default=[], dest="files", help="a local UTF-8 text file (repeatable)")
    g.add_argument("--dir", action="append", default=[], dest="dirs", help="a folder of .txt files (repeatable)")


def cmd_train(args: argparse.Namespace) -> int:
    from .config import ModelConfig, TrainConfig
    from .library import LibrarySpec
    from .paths import model_dir
    from .train import distributed, train_model, workers

    spec = LibrarySpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(LibrarySpec)})
    project = args.project if args.project is not None else DEFAULT_PROJECT if spec.is_empty() else "library"
    where = model_dir(project, args.model, args.root)
    if args.nproc > 1 and distributed.current().world == 1:  # become the launcher of nproc workers
        return workers.launch(args.nproc, without_option(args.argv, "--nproc"), where)
    model, train = overrides(args, ModelConfig), overrides(args, TrainConfig)
    train_model(where, spec, model, train, restart=args.restart, mirror=args.mirror, cache=args.cache)
    if distributed.current().main:  # under torchrun, rank 0 speaks for all
        print(where)
    return 0


def without_option(argv: list[str], flag: str) -> list[str]:
    """argv less `flag VALUE` / `flag=VALUE`."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def register_train(sub) -> None:
    from .config import ModelConfig, TrainConfig
    from .sizing import MODEL_FIELDS, TRAIN_FIELDS

    p = sub.add_parser(
        "train",
        help="train (or resume) a model on a library of books",
        description="Train a character-level LSTM on a library. Rerunning the same command resumes from the last "
        "snapshot. --minutes/--steps are totals for the model; without them it trains until Ctrl-C. A new model's "
        "shape (layers, hidden, dropout, batch, seq-len, lr) is sized to this device and --minutes after a few "
        "seconds of probing, unless given; the choice is printed and kept in config.json.",
        epilog="examples:\n  poet train --minutes 10\n  poet train --project austen --author 'jane austen' --minutes 30\n"
        "  poet train --project mine --file notes.txt --layers 2 --hidden 256 --seq-len 64 --batch-size 256\n"
        "  poet train --nproc 4 --batch-size 256                      # 4 GPUs (or CPU processes), one machine\n"
        "  torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\\n"
        "      -m torch_poet train --batch-size 1024                   # on each of 2 machines",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--project", default=None, help="project name (default: women_writers, or library for own sources)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name within the project (default: {DEFAULT_MODEL})")
    p.add_argument("--restart", action="store_true", help="start this model over instead of resuming")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel worker processes on this machine: one per "
                   "GPU, or a few on CPU (default: 1; for several machines run it under torchrun)")  # fmt: skip
    add_library_args(p)
    sized = MODEL_FIELDS + TRAIN_FIELDS
    add_dataclass_args(p.add_argument_group("model"), ModelConfig, skip=("vocab_size",), sized=sized)
    add_dataclass_args(p.add_argument_group("training"), TrainConfig, sized=sized)
    p.set_defaults(func=cmd_train)


def cmd_search(args: argparse.Namespace) -> int:
    from .gutenberg import load_catalog, search

    catalog = load_catalog(args.mirror, args.cache, refresh=args.refresh)
    books = search(catalog, author=args.author, title=args.title, language=args.language, subject=args.subject,
                   bookshelf=args.bookshelf, ids=args.ids, include_all_types=args.all_types)  # fmt: skip
    if args.json:
        for book in books:
            print(json.dumps({**dataclasses.asdict(book), "author": book.author, "url": book.url}, ensure_ascii=False))
    else:
        from rich.console import Console
        from rich.table import Table

        caption = f"{len(books)} book{'' if len(books) == 1 else 's'}"
        table = Table("id", "author", "title", "language", caption=caption)
        for book in books:
            table.add_row(str(book.id), book.author, book.title.split("\n")[0], ", ".join(book.language))
        Console(markup=False, highlight=False).print(table)  # titles such as "Love and Freindship [sic]"
    return 0 if books else 1


def register_search(sub) -> None:
    p = sub.add_parser(
        "search",
        help="search Project Gutenberg's catalog",
        description="Find books in Project Gutenberg's catalog (downloaded once, refreshed weekly). Values of one "
        "option are OR'ed, different options AND'ed; matching ignores case and accents, and every word of a value "
        "must occur in the same author (title, subject...), so 'jane austen' finds 'Austen, Jane'.",
        epilog="example:\n  poet search --author bronte --author 'jane austen' --language en",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--author", action="append", default=[], help="author words (repeatable)")
    p.add_argument("--title", action="append", default=[], help="title words (repeatable)")
    p.add_argument("--language", action="append", default=[], help="language name or code: english, en, deutsch...")
    p.add_argument("--subject", action="append", default=[], help="subject words (repeatable)")
    p.add_argument("--bookshelf", action="append", default=[], help="bookshelf words (repeatable)")
    p.add_argument("--id", action="append", default=[], dest="ids", help="a Gutenberg book id (repeatable)")
    p.add_argument("--all-types", action="store_true", help="include audio books, images, datasets... (not only Text)")
    p.add_argument("--refresh", action="store_true", help="download the catalog again even if the cached one is fresh")
    p.add_argument("--json", action="store_true", help="print one JSON object per book instead of a table")
    p.set_defaults(func=cmd_search)


def cmd_download(args: argparse.Namespace) -> int:
    from .gutenberg import download

    for book_id in args.ids:
        print(download(book_id, args.mirror, args.cache))
    return 0


def register_download(sub) -> None:
    p = sub.add_parser(
        "download",
        help="download and clean books into the cache",
        description="Download books by id (politely: one request at a time, 2 s apart on gutenberg.org, at most 100 "
        "books a day from it; use --mirror for more), strip the Project Gutenberg header and footer, cache the text "
        "and print where it is.",
        epilog="examples:\n  poet download 1342 768\n  poet download 1342 --mirror /data/gutenberg  # a local copy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("ids", nargs="+", metavar="ID", help="Gutenberg book ids, e.g. 1342 768")
    p.set_defaults(func=cmd_download)


def cmd_show(args: argparse.Namespace) -> int:
    from .gutenberg import book_text

    sys.stdout.write(book_text(args.id, args.mirror, args.cache))
    sys.stdout.flush()  # inside main's try, so a closed pipe (`| head`) is handled there
    return 0


def register_show(sub) -> None:
    p = sub.add_parser("show", help="print the cleaned text of a book", description="Print a book's cleaned text "
                       "(downloaded and cached first if needed).", epilog="examples:\n  poet show 1342 | head -40\n"
                       "  poet show 768 > wuthering.txt", formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_common(p)
    p.add_argument("id", metavar="ID", help="Gutenberg book id")
    p.set_defaults(func=cmd_show)


# --- generate, highlight, chat ---------------------------------------------------------------------------------


def load_poet(args: argparse.Namespace, weights: bool = True):
    from .poet import Poet

    return Poet.load(project=args.project, model=args.model, root=args.root, which=getattr(args, "snapshot", "best"),
                     device=getattr(args, "device", None), source=args.mirror, cache=args.cache, weights=weights)  # fmt: skip


def use_color(args: argparse.Namespace) -> bool:
    from .render import no_color

    return sys.stdout.isatty() and not args.no_color and not no_color()


def say(message: str) -> None:
    print(f"poet: {message}", file=sys.stderr, flush=True)


class LivePrinter:
    """Prints spans as they become final, numbered and coloured as render.ansi would the whole text (books
    are numbered in order of first appearance), then the legend; keeps the spans only when asked to."""

    def __init__(self, color: bool, rule=None, keep: bool = True):
        from .attribution import Tally
        from .render import no_color

        self.color, self.rule, self.tally = color and not no_color(), rule, Tally()
        self.spans: list | None = [] if keep else None

    def add(self, spans: list) -> None:
        from .render import ansi_span

        for span in spans:
            self.tally.add(span)
        numbers = {key: n for n, key in enumerate(self.tally.books, 1)}
        sys.stdout.write("".join(ansi_span(s, numbers, self.color) for s in spans))
        sys.stdout.flush()
        if self.spans is not None:
            self.spans += spans

    @property
    def legend(self) -> str:
        from .render import ansi_legend

        return ansi_legend(self.tally.summary(self.rule), self.color)


def cmd_generate(args: argparse.Namespace) -> int:
    import secrets

    from .config import SampleConfig
    from .render import Highlighted, ansi, html_page

    given = overrides(args, SampleConfig)
    temperatures = given.pop("temperature", [SampleConfig.temperature])
    configs = [SampleConfig(**given, temperature=t) for t in temperatures]  # refused before the model loads
    if args.min_quote is not None and args.min_quote < 1:
        raise PoetError("--min-quote must be >= 1")
    poet = load_poet(args)
    tty, color = sys.stdout.isatty(), use_color(args)
    index = rule = None
    if not args.plain:
        try:
            index = poet.index(log=say)
            rule = index.rule(args.min_quote)
        except PoetError as e:
            warnings.warn(f"quotes will not be highlighted: {e}")
    num = configs[0].num
    seed = configs[0].seed if configs[0].seed is not None else secrets.randbelow(2**31)
    many = len(configs) > 1 or num > 1
    live = tty and num == 1 and not args.json
    samples, sections = [], []
    for temperature, config in zip(temperatures, configs):
        options = dataclasses.asdict(dataclasses.replace(config, seed=seed))
        stream = poet.stream_samples(args.prompt, **options, skip_unknown=args.skip_unknown)
        printer = None
        if live:
            head = f"── temperature {temperature:g} · seed {seed} ──"
            print(f"\x1b[2m{head}\x1b[0m" if color else head, flush=True)
            segmenter = poet.live(args.min_quote, args.phrases) if index else None
            printer = LivePrinter(color, rule) if index else None
            for chunk in stream:
                if printer:
                    printer.add(segmenter.feed(chunk[0]))
                else:
                    sys.stdout.write(chunk[0])
                    sys.stdout.flush()
            if printer:
                printer.add(segmenter.finish())
                print("\n\n" + printer.legend + "\n", flush=True)
            else:
                print("\n", flush=True)
        else:
            stream.read_all()
        for i, text in enumerate(stream.texts):
            spans = printer.spans if printer else index.segment(text, args.min_quote, args.phrases) if index else None
            highlighted = Highlighted.from_spans(spans, rule) if spans is not None else None
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
            print(ansi(highlighted.spans, color, rule) if highlighted else text, end="\n\n" if many and not line else "\n")
            if line:
                print(line, end="\n\n" if many else "\n")
    if args.html:
        _write(args.html, html_page(sections, title=f"torch-poet: {args.project}/{args.model}", rule=rule))
    if args.json:
        settings = {k: v for k, v in dataclasses.asdict(configs[0]).items() if k not in ("temperature", "seed")}
        out = {"model": str(poet.dir), "snapshot": args.snapshot, "prompt": args.prompt, **settings,
               "min_quote": rule.min_quote if rule else None, "samples": samples}  # fmt: skip
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise PoetError(f"cannot write {path}: {e.strerror}") from None
    say(f"wrote {path}")


MIN_QUOTE_HELP = "shortest verbatim match counted as a quote (default: the length unseen text reaches by chance)"


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-quote", type=int, default=None, metavar="N", help=MIN_QUOTE_HELP)
    p.add_argument("--phrases", action="store_true", help="also show shorter matches (common phrases), faintly")
    p.add_argument("--no-color", action="store_true", help="mark quotes «like this»[1] instead of colouring them")
    p.add_argument("--html", metavar="FILE", help="also write the highlighted text as an HTML page (hover for sources)")
    p.add_argument("--json", action="store_true", help="print JSON (text, quotes and their sources) instead")


def register_generate(sub) -> None:
    from .config import SampleConfig

    p = sub.add_parser(
        "generate",
        help="generate text with a trained model, quotes highlighted",
        description="Generate text with a trained model and highlight the passages copied verbatim from its\n"
        "books (the legend names them). On a terminal the text streams as it is made; piped, it is printed\n"
        "once, with quotes marked «like this»[1]. Sample i uses seed + i, so a seed reproduces a text exactly.",
        epilog="examples:\n  poet generate --temperature 0.6 0.7 0.8 --length 500\n"
        "  poet generate --prompt 'It is a truth' --num 4 --seed 1 --top-p 0.95 --html out.html",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    add_model_args(p)
    p.add_argument("--snapshot", choices=("best", "last"), default="best", help="which snapshot (default: best)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available, else cpu)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"text the model continues (default: {DEFAULT_PROMPT!r})")
    add_dataclass_args(p.add_argument_group("sampling"), SampleConfig, many=("temperature",))
    p.add_argument("--skip-unknown", action="store_true", help="drop prompt characters the model never saw")
    p.add_argument("--plain", action="store_true", help="print the text only: no highlighting, no legend")
    add_output_args(p)
    p.set_defaults(func=cmd_generate)


def cmd_highlight(args: argparse.Namespace) -> int:
    """Reads the text in chunks: on a terminal or a pipe, memory follows the chunk, not the file."""
    from .render import Highlighted, html_page

    if args.min_quote is not None and args.min_quote < 1:
        raise PoetError("--min-quote must be >= 1")
    poet = load_poet(args, weights=False)
    rule = poet.index(log=say).rule(args.min_quote)
    segmenter = poet.live(args.min_quote, args.phrases)
    whole = bool(args.json or args.html)  # these need every span at once
    printer = LivePrinter(use_color(args), rule, keep=whole) if not args.json else None
    spans = [] if whole else None
    try:
        with sys.stdin if args.file == "-" else open(args.file, encoding="utf-8") as f:
            while chunk := f.read(1 << 20):
                found = segmenter.feed(chunk)
                if args.json:
                    spans += found
                else:
                    printer.add(found)
    except OSError as e:
        raise PoetError(f"cannot read {args.file}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise PoetError(f"{args.file} is not UTF-8 text: convert it (iconv -t UTF-8) or pick a text file") from None
    rest = segmenter.finish()
    if args.json:
        spans += rest
    else:
        printer.add(rest)
        print("\n\n" + printer.legend)
        spans = printer.spans
    if args.html:
        _write(args.html, html_page([("", spans)], title=f"torch-poet: {args.file}", rule=rule))
    if args.json:
        data = Highlighted.from_spans(spans, rule).as_dict()
        print(json.dumps({"model": str(poet.dir), "min_quote": rule.min_quote, **data}, ensure_ascii=False, indent=1))
    return 0


def register_highlight(sub) -> None:
    p = sub.add_parser(
        "highlight",
        help="highlight the passages of any text copied verbatim from a model's books",
        description="Find the passages of a text (a file, or - for stdin) that occur verbatim in the books a\n"
        "model was trained on, and show them coloured by book with a legend.",
        epilog="example:\n  poet generate --plain > out.txt && poet highlight out.txt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    add_model_args(p)
    p.add_argument("file", metavar="FILE", help="a UTF-8 text file, or - to read stdin")
    add_output_args(p)
    p.set_defaults(func=cmd_highlight)


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import CHAT_SAMPLING, Conversation, repl
    from .config import SampleConfig

    sampling = dataclasses.replace(CHAT_SAMPLING, **overrides(args, SampleConfig))  # refused before the model loads
    conversation = Conversation(load_poet(args), sampling)
    return repl(conversation, args.sentences, args.min_quote, color=use_color(args))


def register_chat(sub) -> None:
    from .chat import CHAT_SAMPLING, SENTENCES

    p = sub.add_parser(
        "chat",
        help="talk with a model: it answers with a few sentences continuing your words",
        description="A dialog: you type, the model answers with up to --sentences sentences continuing from your "
        "words, quotes from its books highlighted. Its state carries over between turns. Commands: bye (or Ctrl-D), "
        "reset, temperature=0.7, sentences=3, help. Reads a script from a pipe as well.",
        epilog="examples:\n  poet chat\n  poet chat --project austen --temperature 0.5 --sentences 2\n"
        "  printf 'Who is she?\\nreset\\nbye\\n' | poet chat --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    add_model_args(p)
    p.add_argument("--snapshot", choices=("best", "last"), default="best", help="which snapshot (default: best)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available, else cpu)")
    p.add_argument(
        "--sentences", type=int, default=SENTENCES, help=f"sentences per answer at most (default: {SENTENCES})"
    )
    add_dataclass_args(p.add_argument_group("sampling"), CHAT_SAMPLING, skip=("length", "num"))
    p.add_argument("--min-quote", type=int, default=None, metavar="N", help=MIN_QUOTE_HELP)
    p.add_argument("--no-color", action="store_true", help="mark quotes «like this»[1] instead of colouring them")
    p.set_defaults(func=cmd_chat)


def cmd_plot(args: argparse.Namespace) -> int:
    from .paths import model_dir
    from .plot import plot_history, read_history

    where = model_dir(args.project, args.model, args.root)
    out = plot_history(read_history(where), args.output or where / "history.png", title=f"{args.project}/{args.model}")
    print(out)
    return 0


def register_plot(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="plot a model's training history to a PNG",
        description="Training and validation loss (and bits per char) against time and step, as a PNG.",
        epilog="examples:\n  poet plot\n  poet plot --project austen --model big -o austen.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    add_model_args(p)
    p.add_argument("-o", "--output", help="PNG to write (default: history.png next to the model)")
    p.set_defaults(func=cmd_plot)


def cmd_models(args: argparse.Namespace) -> int:
    import datetime
    import json

    from .models import list_models
    from .paths import data_root

    rows = list_models(data_root(args.root))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    if not rows:
        print(f"no models under {data_root(args.root)}: train one with `poet train`", file=sys.stderr)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("project", "model", "step", "best val bpc", "size", "updated", "status")
    for r in rows:
        when = datetime.datetime.fromtimestamp(r["updated"]).strftime("%Y-%m-%d %H:%M")
        bpc = "-" if r["best_bpc"] is None else f"{r['best_bpc']:.3f}"
        status = "broken" if r["broken"] else "training" if r["training"] else "stopped"
        table.add_row(r["project"], r["model"], str(r["step"] or 0), bpc, f"{r['bytes'] / 1e6:.1f} MB", when, status)
    Console().print(table)
    for r in rows:
        if r["broken"]:
            warnings.warn(f"{r['project']}/{r['model']} is broken: {r['broken']}")
    return 0


def register_models(sub) -> None:
    p = sub.add_parser(
        "models",
        aliases=["list"],
        help="list the projects and models on disk",
        description="Every model under the data root with its step, best validation bpc, size, last update and "
        "whether a process is training it now.",
        epilog="examples:\n  poet models\n  poet models --json | jq .best_bpc",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    p.set_defaults(func=cmd_models)


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    serve(args.host, args.port, args.root, args.cache, args.mirror, args.project, args.model)
    return 0


def register_serve(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="a local web app: write and chat with highlighted quotes, training dashboard, catalog search",
        description="Serve a web page (and a JSON API under /api/, described at /openapi.json) to generate and chat\n"
        "with your models, their quotes highlighted as the text streams in, follow training live and search the\n"
        "catalog. Works offline. There is no authentication: it listens on 127.0.0.1 unless --host says otherwise.",
        epilog="examples:\n  poet serve                      # then open http://127.0.0.1:8000/\n"
        "  poet serve --project austen --model big --port 8080\n"
        "  poet serve --host 0.0.0.0       # reachable from other machines: anyone there can use it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.add_argument("--project", default=None, help=f"the model the page starts with (default: {DEFAULT_PROJECT} or the "
                   "first)")  # fmt: skip
    p.add_argument("--model", default=None, help=f"model name within --project (default: {DEFAULT_MODEL})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    p.set_defaults(func=cmd_serve)


# Each entry adds one subcommand (with `set_defaults(func=...)`); kept in the order `poet --help` lists them.
COMMANDS: list = [register_search, register_download, register_show, register_train, register_plot, register_models]
COMMANDS += [register_generate, register_highlight, register_chat, register_serve]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "train" and not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & set(os.environ):
        # Idle OpenMP threads sleep instead of spinning: on cores shared with other work, spinning threads
        # made a training step 3-4x slower (BENCHMARKS.md). Read when torch loads, so before that.
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    warnings.showwarning = show_warning
    speaks = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 speaks for all
    try:
        return args.func(args) or 0
    except PoetError as e:
        if "POET_LAUNCHED" in os.environ:  # a worker of `poet train --nproc`: its launcher says it, once
            from .train.workers import hand_over

            if hand_over(str(e)):
                return 2
        if speaks:
            print(f"poet: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if speaks:
            print("poet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `poet show 1342 | head` closes the pipe early; that is not an error.
        sys.stderr.close()
        return 0

"""`poet train`, `poet plot`, `poet models`: training a model and looking at the ones on disk."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings

from ..config import DEFAULT_MODEL, DEFAULT_PROJECT
from .args import add_command, add_dataclass_args, add_library_args, add_model_args, number, overrides


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import LibrarySpec, ModelConfig, TrainConfig
    from ..paths import model_dir
    from ..train import distributed, workers
    from ..train.run import train_model

    spec = LibrarySpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(LibrarySpec)})
    project = args.project if args.project is not None else DEFAULT_PROJECT if spec.is_empty() else "library"
    where = model_dir(project, args.model, args.root)
    if args.nproc > 1 and distributed.current().world == 1:  # become the launcher of nproc workers
        return workers.launch(args.nproc, without_option(args.argv, "--nproc"), where)
    settings = {**overrides(args, ModelConfig), **overrides(args, TrainConfig)}
    train_model(where, spec, settings, restart=args.restart, mirror=args.mirror, cache=args.cache)
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
    from ..config import ModelConfig, TrainConfig
    from ..train.sizing import MODEL_FIELDS, TRAIN_FIELDS

    sized = MODEL_FIELDS + TRAIN_FIELDS
    p = add_command(
        sub,
        "train",
        cmd_train,
        help="train (or resume) a model on a library of books",
        description="Train a character-level LSTM on a library. Rerunning the same command resumes from the last "
        "snapshot. --minutes/--steps are totals for the model; without them it trains until Ctrl-C. A new model's "
        f"shape ({', '.join(f.replace('_', '-') for f in sized)}) is sized to this device and --minutes after a few "
        "seconds of probing, unless given; the choice is printed and kept in config.json.",
        epilog="examples:\n  poet train --minutes 10\n  poet train --project austen --author 'jane austen' --minutes 30\n"
        "  poet train --project mine --file notes.txt --layers 2 --hidden 256 --seq-len 64 --batch-size 256\n"
        "  poet train --nproc 4 --batch-size 256                      # 4 GPUs (or CPU processes), one machine\n"
        "  torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\\n"
        "      -m torch_poet train --batch-size 1024                   # on each of 2 machines",
    )
    p.add_argument("--project", default=None, help="project name (default: women_writers, or library for own sources)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name within the project (default: {DEFAULT_MODEL})")
    p.add_argument("--restart", action="store_true", help="start this model over instead of resuming")
    p.add_argument("--nproc", type=number(int, "--nproc", ge=1, le=1024), default=1, help="data-parallel worker processes on this machine: one per "
                   "GPU, or a few on CPU (default: 1; for several machines run it under torchrun)")  # fmt: skip
    add_library_args(p)
    add_dataclass_args(p.add_argument_group("model"), ModelConfig, skip=("vocab_size",), sized=sized)
    add_dataclass_args(p.add_argument_group("training"), TrainConfig, sized=sized)


def cmd_plot(args: argparse.Namespace) -> int:
    from ..disk import history
    from ..paths import model_dir
    from ..plot import plot_history

    where = model_dir(args.project, args.model, args.root)
    out = plot_history(history.read(where), args.output or where / "history.png", title=f"{args.project}/{args.model}")
    print(out)
    return 0


def register_plot(sub) -> None:
    p = add_command(
        sub,
        "plot",
        cmd_plot,
        help="plot a model's training history to a PNG",
        description="Training and validation loss (and bits per char) against time and step, as a PNG.",
        epilog="examples:\n  poet plot\n  poet plot --project austen --model big -o austen.png",
    )
    add_model_args(p)
    p.add_argument("-o", "--output", help="PNG to write (default: history.png next to the model)")


def cmd_models(args: argparse.Namespace) -> int:
    import datetime
    import json

    from ..disk.models import list_models
    from ..paths import data_root

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
    p = add_command(
        sub,
        "models",
        cmd_models,
        aliases=["list"],
        help="list the projects and models on disk",
        description="Every model under the data root with its step, best validation bpc, size, last update and "
        "whether a process is training it now.",
        epilog="examples:\n  poet models\n  poet models --json | jq .best_bpc",
    )
    p.add_argument("--json", action="store_true", help="JSON lines instead of a table")

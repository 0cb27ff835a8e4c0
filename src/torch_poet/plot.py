"""Training history -> PNG: loss and validation bits per char against wall time and against step, and
beside them how much of the model's own text is quoted from its books."""

from __future__ import annotations

import os
from pathlib import Path

from .config import LN2
from .errors import PoetError


def plot_history(history: list[dict], out: str | os.PathLike, title: str = "") -> Path:
    """Two panels (against minutes, against step), train and validation loss in nats with validation
    bits per char on a second axis, and a third of memorisation against minutes (share quoted, longest
    quote): where the validation loss levels off and quoting climbs, the model starts reciting its books.
    A dot marks each snapshot."""
    if not history:
        raise PoetError("no training history yet: train the model until its first snapshot (poet train)")
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), dpi=100)
    for ax, key, label in ((axes[0], "time", "training time (minutes)"), (axes[1], "step", "step")):
        x = [h[key] / 60 if key == "time" else h[key] for h in history]
        ax.plot(x, [h["train_loss"] for h in history], "o-", ms=3, label="train loss")
        ax.plot(x, [h["val_loss"] for h in history], "o-", ms=3, label="validation loss")
        ax.set_xlabel(label)
        ax.set_ylabel("loss (nats/char)")
        ax.grid(alpha=0.3)
        bpc = ax.secondary_yaxis("right", functions=(lambda n: n / LN2, lambda b: b * LN2))
        bpc.set_ylabel("bits per char")
        ax.legend(loc="upper right")
    measured = [h for h in history if h.get("quoted") is not None]
    ax = axes[2]
    ax.plot([h["time"] / 60 for h in measured], [100 * h["quoted"] for h in measured], "o-", ms=3, color="C3",
            label="quoted (% of a sample's chars)")  # fmt: skip
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("quoted (%)")
    ax.grid(alpha=0.3)
    longest = ax.twinx()
    longest.plot([h["time"] / 60 for h in measured], [h["longest_quote"] for h in measured], "s--", ms=3, color="C4",
                 label="longest quote (chars)")  # fmt: skip
    longest.set_ylabel("longest quote (chars)")
    ax.set_title("memorisation")
    ax.legend(handles=ax.get_lines() + longest.get_lines(), loc="upper left")
    best = min(history, key=lambda h: h["val_loss"])
    fig.suptitle(f"{title}  best validation {best['val_loss']:.3f} nats = {best['val_bpc']:.3f} bpc at step {best['step']}")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out)
    return out

"""`poet plot` (plot.py): the history of a trained model as three panels; a model without one is a one-line error."""

import subprocess
import sys

from helpers import SHAKESPEARE, lib, tiny, trainer

from torch_poet.model import ModelConfig


def test_poet_plot_writes_three_panels(tmp_path):
    from PIL import Image

    text = SHAKESPEARE.read_text()[:10_000]
    trainer(lib(text), tmp_path / "projects" / "x" / "y", ModelConfig(layers=1, hidden=32), tiny(steps=6)).run()
    assert (tmp_path / "projects" / "x" / "y" / "history.png").exists()  # written at each snapshot
    cmd = [sys.executable, "-m", "torch_poet", "plot", "--root", str(tmp_path), "--project", "x"]
    out = subprocess.run(cmd + ["--model", "y", "-o", str(tmp_path / "p.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    img = Image.open(tmp_path / "p.png").convert("L")
    assert img.size == (1700, 450)
    w, h = img.size
    for k in range(3):  # loss against minutes and against step, memorisation: each panel has real content
        third = img.crop((k * w // 3, 0, (k + 1) * w // 3, h))
        assert len(set(third.get_flattened_data())) > 20
        assert sum(1 for v in third.get_flattened_data() if v < 128) > 500
    missing = subprocess.run(cmd + ["--model", "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no training history" in missing.stderr and "Traceback" not in missing.stderr

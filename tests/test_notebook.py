"""The notebook runs end to end, headless, against the offline mirror, with a tiny configuration."""

import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
from nbclient import NotebookClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "gutenberg"

TINY = f"""
PROJECT = "nb"
MODEL = "tiny"
AUTHORS = []
LANGUAGES = []
BOOKS = [946, 29220]            # Lady Susan, Monday or Tuesday: two small books
MIRROR = {str(MIRROR)!r}
MINUTES = 0.3
LAYERS, HIDDEN = None, None     # sized, as a user gets it
SNAPSHOT_EVERY = 0.1
USE_GOOGLE_DRIVE = False
"""


@pytest.mark.slow
def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("POET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POET_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(ROOT / "notebooks" / "torch_poet.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    params[0].source = TINY
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "Austen, Jane: Lady Susan" in html or "Woolf, Virginia: Monday or Tuesday" in html  # the legend
    assert "gutenberg.org/ebooks/" in html
    assert "<caption>2 books</caption>" in html and ">946</a>" in html  # the search results as a table
    assert "<progress" in html and "chars/s" in html  # the training progress, updated in place
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the training curves
    assert (tmp_path / "home" / "projects" / "nb" / "tiny" / "best.safetensors").exists()
    text = json.dumps([o.get("text", "") for o in outputs])
    assert "val" in text and "bpc" in text  # the training statistics line
    assert "torch-poet is installed" in text  # the install cell found it and said so
    assert "0.3 minutes on " in text and "LSTM, batch" in text  # a new model sized to the machine and MINUTES
    config = json.loads((tmp_path / "home" / "projects" / "nb" / "tiny" / "config.json").read_text())
    assert config["sizing"]["picked"].startswith("0.3 minutes on ")

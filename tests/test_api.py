"""The Python API end to end, through the names `torch_poet` exports: build a library from the mirror,
train briefly, load the model, generate, and highlight with a legend, escaped for Jupyter."""

import torch_poet
from torch_poet import LibrarySpec, Poet, Start, Trainer, build_library, model_dir


def test_build_train_load_generate_highlight(gutenberg_server):
    library = build_library(LibrarySpec(books=[946]), gutenberg_server.url)  # Lady Susan
    assert [e.title for e in library.entries] == ["Lady Susan"] and library.entries[0].author == "Austen, Jane"
    where = model_dir("api", "tiny")
    settings = dict(layers=1, hidden=32, steps=40, batch_size=8, seq_len=32, snapshot_every=1e9, precision="fp32")
    history = Trainer(library, Start.resolve(where, settings), log=lambda m: None).run()
    assert history[-1]["step"] == 40 and history[-1]["val_bpc"] < 6

    poet = Poet.load(project="api", model="tiny", source=gutenberg_server.url)
    text = poet.generate("Lady ", 200, temperature=0.8, seed=1)
    assert len(text) == 200 and text == poet.generate("Lady ", 200, temperature=0.8, seed=1)

    passage = library.text(0, 5000, 5200)
    shown = poet.highlight("<script>alert(1)</script> " + passage + " & ours")
    html = shown._repr_html_()
    assert "Austen, Jane: Lady Susan" in html and "gutenberg.org/ebooks/946" in html  # the legend, linked
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert str(shown).count("Lady Susan") == 1  # the legend in plain text too
    assert "Poet" in torch_poet.__all__ and "Trainer" in (torch_poet.__doc__ or "")

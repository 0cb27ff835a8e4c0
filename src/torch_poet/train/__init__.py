"""Training: `Start.resolve` (resume.py) decides where a run starts (a new model, or the saved one it resumes),
`Trainer` (loop.py) trains it over batches of the library (data.py) with the hooks it is handed (hooks.py:
display.py, samples.py, TensorBoard), data-parallel under torchrun (distributed.py, workers.py);
`train_model` (run.py) is a whole run as `poet train` makes one, sized to the device (sizing.py).

Nothing is imported here, so that reading the sizing table (for `poet train --help`) loads no torch; the
names are in `torch_poet`'s public API."""

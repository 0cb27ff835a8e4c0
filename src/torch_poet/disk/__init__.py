"""A model directory on disk, one module per file format: config.json (`config_json`), the snapshots
(`snapshots`), history.jsonl (`history`), the training lock (`lock`), and the models under a data root as
listings show them (`models`). Every file is published by write-temp, fsync, rename (`paths.atomic_write`):
a reader never sees half a file. Nothing here imports torch at import time, so listings stay light."""

"""Data-parallel training (train/distributed.py, train/workers.py) with real worker processes on gloo, from the
command line and from the Python API: the same numbers as one process, resume across world sizes, and a dead
worker or Ctrl-C stopping the whole job cleanly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SHARED, poet, wait_for_snapshot

from torch_poet.disk import snapshots
from torch_poet.cli import without_option

# fp32 and no dropout: two processes then compute the one-process step up to float summation order
ARGS = ["train", "--project", "p", "--layers", "1", "--hidden", "48", "--batch-size", "8", "--seq-len", "32",
        "--dropout", "0", "--precision", "fp32", "--eval-chars", "20000", "--snapshot-every", "100"]  # fmt: skip


@pytest.fixture
def book(tmp_path) -> Path:
    path = tmp_path / "book.txt"
    path.write_text((SHARED / "corpora" / "tiny-shakespeare.txt").read_text()[:60_000])
    return path


def train(env, book, model, steps, nproc=1, timeout=180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch_poet", *ARGS, "--file", str(book), "--model", model, "--steps", str(steps)]
    out = subprocess.run(cmd + ["--nproc", str(nproc)], env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


def history(env, model) -> list[dict]:
    path = Path(env["POET_HOME"]) / "projects" / "p" / model / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_on_any_number(env, book):
    train(env, book, "one", 20)
    out = train(env, book, "two", 20, nproc=2)
    (one,), (two,) = history(env, "one"), history(env, "two")
    assert two["step"] == one["step"] == 20
    assert two["val_loss"] == pytest.approx(one["val_loss"], abs=2e-3)
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=2e-3)
    assert out.stderr.count("library:") == 1 and out.stdout.count("projects/p/two") == 1  # rank 0 speaks alone
    assert {p.name for p in (Path(env["POET_HOME"]) / "projects/p/two").glob("*.safetensors")} == {
        "last.safetensors",
        "best.safetensors",
    }

    # torchrun itself, as on a cluster: the same workers, rendezvous from its environment variables
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "torch_poet",
           *ARGS, "--file", str(book), "--model", "torchrun", "--steps", "20"]  # fmt: skip
    out = subprocess.run(cmd, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert history(env, "torchrun")[0]["val_loss"] == pytest.approx(one["val_loss"], abs=2e-3)

    # a 2-process snapshot resumes on 1 process, a 1-process one on 2, and both go on as one process would
    train(env, book, "two", 30, nproc=1)
    train(env, book, "one", 30, nproc=2)
    a, b = history(env, "two")[-1], history(env, "one")[-1]
    assert a["step"] == b["step"] == 30
    assert a["val_loss"] == pytest.approx(b["val_loss"], abs=2e-3)


# The Python API as a user writes it for torchrun: the same Trainer as in a notebook, kept to the end of the script.
SCRIPT = """
import sys
from pathlib import Path

from torch_poet import Library, Start, Trainer, standard_hooks
from torch_poet.library import read_file

book, where, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
library = Library.from_texts([read_file(Path(book))])
start = Start.resolve(where, dict(layers=1, hidden=48, dropout=0, batch_size=8, seq_len=32, precision="fp32",
                                  eval_chars=20000, snapshot_every=100, steps=steps))
trainer = Trainer(library, start, standard_hooks(start, print))
trainer.run()
"""


@pytest.mark.slow
def test_the_python_api_under_torchrun_trains_like_one_process_and_resumes(tmp_path, env, book):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)

    def api(model: str, steps: int, nproc: int) -> subprocess.CompletedProcess:
        launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)] if nproc > 1 else []
        cmd = [sys.executable, *launch, str(script), str(book), str(tmp_path / model), str(steps)]
        out = subprocess.run(cmd, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        return out

    def rows(model: str) -> list[dict]:
        return [json.loads(line) for line in (tmp_path / model / "history.jsonl").read_text().splitlines()]

    api("one", 20, nproc=1)
    api("two", 20, nproc=2)
    (one,), (two,) = rows("one"), rows("two")
    assert two["step"] == one["step"] == 20
    assert two["val_loss"] == pytest.approx(one["val_loss"], abs=2e-3)
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=2e-3)
    assert {p.name for p in (tmp_path / "two").glob("*.safetensors")} == {"last.safetensors", "best.safetensors"}

    # the second run resumes from the snapshot: the step goes on, the history grows, as one process's would
    out = api("two", 30, nproc=2)
    assert out.stderr.count("from the last snapshot at step 20") == 1  # rank 0 speaks for the job
    api("one", 30, nproc=1)
    assert [r["step"] for r in rows("two")] == [r["step"] for r in rows("one")] == [20, 30]
    assert rows("two")[-1]["val_loss"] == pytest.approx(rows("one")[-1]["val_loss"], abs=2e-3)


@pytest.mark.slow
def test_a_dead_worker_stops_the_job_with_one_clear_line(tmp_path, env, book):
    model_dir = tmp_path / "home" / "projects" / "p" / "default"
    args = [*without_option(ARGS, "--snapshot-every"), "--snapshot-every", "0.005", "--file", str(book), "--nproc", "2"]
    proc = poet(*args, env=env)
    wait_for_snapshot(model_dir, timeout=120)
    workers = worker_pids(proc.pid)
    mapped = [{line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
               if line.endswith("tokens.bin")} for pid in workers]  # fmt: skip
    assert len(workers) == 2 and mapped[0] == mapped[1] and len(mapped[0]) == 1  # both map the one prepared library
    rank1 = next(pid for pid in workers if environ(pid).get("RANK") == "1")
    t = time.monotonic()
    os.kill(rank1, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)  # no hang: the launcher stops rank 0 too
    err = err.decode()
    assert time.monotonic() - t < 30
    assert proc.returncode == 2, err
    assert "poet: error: worker 1 of 2 was killed by SIGKILL" in err and "rerun the same command to resume" in err
    assert "Traceback" not in err
    assert not worker_pids(proc.pid)
    _, _, meta = snapshots.load_model(model_dir, "last")  # the last snapshot is intact
    assert meta["step"] > 0


@pytest.mark.slow
def test_ctrl_c_snapshots_once_and_exits_130(tmp_path, env, book):
    model_dir = tmp_path / "home" / "projects" / "p" / "default"
    args = [*without_option(ARGS, "--snapshot-every"), "--snapshot-every", "0.005", "--file", str(book), "--nproc", "2"]
    proc = poet(*args, env=env, start_new_session=True)
    wait_for_snapshot(model_dir, timeout=120)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the launcher and the workers all get it
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert err.count("interrupted: snapshot saved at step") == 1 and "Traceback" not in err
    step = int(err.split("snapshot saved at step ")[1].split()[0])
    assert snapshots.meta(snapshots.path(model_dir, "last"))["step"] == step


def worker_pids(launcher: int) -> list[int]:
    children = Path(f"/proc/{launcher}/task/{launcher}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def environ(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_without_option_drops_the_flag_and_its_value():
    argv = ["train", "--nproc", "2", "--steps", "5", "--nproc=3", "--model", "m"]
    assert without_option(argv, "--nproc") == ["train", "--steps", "5", "--model", "m"]


def test_batch_must_split_over_the_processes(env, book):
    out = subprocess.run([sys.executable, "-m", "torch_poet", *ARGS, "--file", str(book), "--batch-size", "7",
                          "--nproc", "2", "--steps", "1"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "poet: error: --batch-size 7 does not split over 2 processes: use a multiple of 2"
    )


def test_only_a_lost_peer_becomes_a_one_line_error():
    from torch_poet.train.distributed import lost_peer

    gone = RuntimeError(
        "[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer [::1]:1\nx"
    )
    assert lost_peer(gone) == "Connection closed by peer [::1]:1"
    assert lost_peer(RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x8 and 9x2)")) is None  # a bug

"""The `poet` command's generate and highlight (cli.py), as a process, against the Python API on the same tiny
trained model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ANSI, AUSTEN, ENV, MODEL, poet_cli

from torch_poet.poet import Poet

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def poet(home) -> Poet:
    return Poet.load(home / "projects/test/tiny", device="cpu")


def test_cli_generate_json_matches_the_api(home, poet):
    r = poet_cli(home, "generate", *MODEL, "--json", "--seed", "5", "--length", "120", "--num", "2",
                 "--temperature", "0.5", "1.0", "--prompt", "It is")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(s["temperature"], s["seed"]) for s in out["samples"]] == [(0.5, 5), (0.5, 6), (1.0, 5), (1.0, 6)]
    assert [s["text"] for s in out["samples"][:2]] == poet.generate("It is", 120, temperature=0.5, num=2, seed=5)
    assert all("".join(sp["text"] for sp in s["spans"]) == s["text"] for s in out["samples"])
    assert out["samples"][0]["summary"]["chars"] == 120
    assert [s["readability"] for s in out["samples"]] == [poet.readability(s["text"]) for s in out["samples"]]


def test_cli_generate_piped_prints_once_highlighted(home, poet, tmp_path):
    page = tmp_path / "out.html"
    r = poet_cli(home, "generate", *MODEL, "--seed", "1", "--length", "200", "--temperature", "0",
                 "--prompt", "It is a truth", "--html", str(page))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout  # piped: no colour codes
    text = poet.generate("It is a truth", 200, temperature=0)
    assert "»[1]" in r.stdout or "»[2]" in r.stdout  # greedy text quotes the books it learned by heart
    assert "quoted in" in r.stdout and "[1] austen" in r.stdout
    assert r.stdout.endswith(f"\nreadability {poet.readability(text):.1%} (share of its words found in the library)\n")
    assert "poet-q" in page.read_text() and "wrote" in r.stderr
    plain = poet_cli(
        home, "generate", *MODEL, "--length", "200", "--temperature", "0", "--prompt", "It is a truth", "--plain"
    )
    assert plain.stdout == text + "\n"


def test_cli_generate_min_p(home, poet):
    r = poet_cli(home, "generate", *MODEL, "--json", "--seed", "3", "--length", "150", "--temperature", "1.5",
                 "--min-p", "1", "--prompt", "It is")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["min_p"] == 1.0 and out["samples"][0]["text"] == poet.generate("It is", 150, temperature=0)
    r = poet_cli(home, "generate", *MODEL, "--min-p", "2")
    assert r.returncode == 2 and r.stderr == "poet: error: --min-p must be a number from 0 to 1, not 2.0\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "--temperature must be a number >= 0"),
        (["--top-p", "2"], "--top-p must be a number > 0 and <= 1"),
        (["--top-k", "0"], "--top-k must be a whole number >= 1"),
        (["--prompt", "snow ☃"], "characters the model never saw: '☃'; remove them, or add --skip-unknown to drop"),
        (["--model", "nope"], "no model in"),
        (["--device", "floppy"], "unknown device 'floppy'"),
    ],
)
def test_cli_generate_errors_are_one_line(home, args, message):
    r = poet_cli(home, "generate", "--project", "test", "--model", "tiny", *args)
    assert r.returncode == 2
    assert r.stderr.startswith("poet: error: ") and message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_cli_highlight_file_stdin_json(home, tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("Well. It is a truth universally acknowledged, said nobody.\n")
    r = poet_cli(home, "highlight", str(f), *MODEL)
    assert r.returncode == 0, r.stderr
    assert "«It is a truth universally acknowledged, »[1]" in r.stdout and "[1] austen" in r.stdout
    r = poet_cli(home, "highlight", "-", *MODEL, "--json", "--min-quote", "5", stdin=f.read_text())
    data = json.loads(r.stdout)
    assert data["summary"]["quotes"] >= 1 and data["spans"][1]["sources"][0]["key"] == "file:austen.txt"
    r = poet_cli(home, "highlight", str(tmp_path / "missing.txt"), *MODEL)
    assert r.returncode == 2 and r.stderr.startswith("poet: error: cannot read") and "Traceback" not in r.stderr


def test_cli_highlight_states_the_rule_and_shows_phrases(home, tmp_path, poet):
    f = tmp_path / "mine.txt"
    f.write_text("Well. It is a truth universally acknowledged, said nobody; a rain so penetrating.\n")
    rule = poet.index().rule()
    r = poet_cli(home, "highlight", str(f), *MODEL, "--json")
    data = json.loads(r.stdout)
    assert data["min_quote"] == rule.min_quote and data["summary"]["rule"] == rule.describe()
    assert data["summary"]["unseen"]["fraction"] == round(rule.unseen.fraction, 6)
    assert "per_1000" in data["summary"] and all("phrase" in s for s in data["spans"])
    r = poet_cli(home, "highlight", str(f), *MODEL, "--min-quote", "30", "--phrases", "--json")
    data = json.loads(r.stdout)
    assert data["min_quote"] == 30 and "(as asked" in data["summary"]["rule"]
    assert [s["text"] for s in data["spans"] if s["quoted"]] == ["It is a truth universally acknowledged, "]
    assert [s["text"] for s in data["spans"] if s["phrase"]] == [" a rain so penetrating"]
    r = poet_cli(home, "highlight", str(f), *MODEL)
    assert f"\n{rule.describe()}\n" in r.stdout


@pytest.mark.slow
def test_cli_highlight_reads_a_big_file_in_bounded_memory(home, tmp_path):
    piece = "Zqx vvv. " + AUSTEN[:300] + " qqq zzx jjj kk." * 20 + "\n"
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(piece)
    big.write_text(piece * (4_000_000 // len(piece)))
    code = ("import resource, sys; from torch_poet.cli import main; rc = main(sys.argv[1:]); "
            "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")  # fmt: skip

    def run(path: Path) -> tuple[subprocess.CompletedProcess, int]:
        r = subprocess.run([sys.executable, "-c", code, "highlight", str(path), *MODEL, "--no-color"],
                           capture_output=True, text=True, timeout=600, env={**ENV, "POET_HOME": str(home)})  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r, int(re.search(r"maxrss (\d+)", r.stderr).group(1))  # KiB

    _, base = run(small)
    r, peak = run(big)
    pieces = 4_000_000 // len(piece)
    assert r.stdout.count("»[1]") == pieces  # each copy of the passage is one quote, wherever the chunks end
    assert f"quoted in {pieces:,} quotes" in r.stdout
    assert peak - base < 150_000  # memory follows the chunk (1 MB of text), not the 4 MB file


def test_cli_generate_streams_on_a_terminal(home, poet):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "generate", *MODEL, "--seed", "3", "--length", "400",
                         "--temperature", "0.7", "0", "--prompt", "It "],
        env={**ENV, "POET_HOME": str(home), "TERM": "xterm-256color"}, encoding="utf-8", timeout=60,
        dimensions=(50, 200),
    )  # fmt: skip
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    out = ANSI.sub("", child.before.replace("\r\n", "\n"))
    assert "── temperature 0.7 · seed 3 ──" in out and "── temperature 0 · seed 3 ──" in out
    for t in (0.7, 0):
        text = poet.generate("It ", 400, temperature=t, seed=3)
        assert text in out  # streamed, coloured, and the same text as the API's
    assert out.count("quoted in") == 2 and out.count("% (share of its words found in the library)") == 2
    assert "\x1b[48;5;" in child.before  # quotes coloured on the terminal
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "generate", *MODEL, "--seed", "3", "--length", "400", "--prompt", "It "],
        env={**ENV, "POET_HOME": str(home), "NO_COLOR": "1"}, encoding="utf-8", timeout=60,
    )  # fmt: skip
    child.expect(pexpect.EOF)
    assert "\x1b[" not in child.before and "»[1]" in child.before  # NO_COLOR: marked, not coloured

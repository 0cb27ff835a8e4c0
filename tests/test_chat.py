"""Chat: a `Conversation` (chat.py) carries the model's state from turn to turn; `poet chat` (cli/dialog.py)
scripted through a pipe and interactive on a pseudo-terminal (pexpect)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import ANSI, ENV

from torch_poet.chat import CHAT_SAMPLING, WORD_SLACK, Conversation, SentenceCounter
from torch_poet.config import SampleConfig
from torch_poet.generate import encode, prime
from torch_poet.poet import Poet


@pytest.fixture(scope="module")
def poet(home) -> Poet:
    return Poet.load(home / "projects/test/tiny", device="cpu")


def test_sentence_counter():
    c = SentenceCounter()
    assert c.feed("Mr. Bennet said so. Really? ") == 2
    assert c.feed('"Yes!" she cried. ') == 4
    assert c.feed("No") == 4


def test_chat_turns_carry_state_and_reset(poet):
    dialog = Conversation(poet)
    first = dialog.turn("It is a truth", 1, SampleConfig(temperature=0.5, seed=3))
    assert 0 < SentenceCounter().feed(first + " ") <= 1
    dialog.turn("It is a truth", 1, SampleConfig(temperature=0.5, seed=3))
    dialog.reset()
    assert dialog.turn("It is a truth", 1, SampleConfig(temperature=0.5, seed=3)) == first
    # the state carries over: after two turns it is the state after reading the whole conversation
    dialog.reset()
    dialog.turn("It is a truth", 1, SampleConfig(temperature=0.5, seed=3))
    dialog.turn("Mr. Bennet", 2, SampleConfig(temperature=0.8, seed=4))
    transcript = dialog.transcript
    assert transcript.startswith("It is a truth") and first in transcript and "Mr. Bennet" in transcript
    ref = prime(poet.model, encode(poet.vocab, transcript))
    torch.testing.assert_close(dialog.context.logits, ref.logits, atol=1e-4, rtol=1e-4)
    # an empty turn lets the model go on; characters it never saw are dropped
    with pytest.warns(UserWarning):
        assert dialog.turn("☃", 1, replace(CHAT_SAMPLING, seed=1))
    dialog.reset()
    assert dialog.transcript == ""


# --- `poet chat` ----------------------------------------------------------------------------------------------------


def chat(home: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torch_poet", "chat", "--project", "test", "--model", "tiny", *args],
        input=script, capture_output=True, text=True, timeout=120, env={**ENV, "POET_HOME": str(home)},
    )  # fmt: skip


def test_chat_through_a_pipe(home):
    script = "It is a truth\ntemperature=0.3\nMr. Bennet\nsentences=1\nreset\nThere was\nhelp\nbye\nnever read\n"
    r = chat(home, script, "--seed", "1", "--sentences", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert "(temperature 0.3)" in lines and "(the conversation starts afresh)" in lines
    assert "(up to 1 sentence per answer)" in lines and "bye" in r.stdout  # the help text names it
    assert "\x1b[" not in r.stdout and "you>" not in r.stdout  # piped: no colour, no prompts
    answers = [line for line in lines if line and not line.startswith(("(", " ", "commands:", "anything"))]
    assert len(answers) >= 3  # one answer per turn (legend lines are indented)
    # quotes from the books it learned are marked, and the legend names the book
    assert "»[" in r.stdout and "austen" in r.stdout
    # the same script and seed give the same dialog; stops at bye (the last line is never read)
    assert chat(home, script, "--seed", "1", "--sentences", "2").stdout == r.stdout


def test_chat_answers_have_at_most_n_sentences(home):
    r = chat(home, "It is a truth\nThere was no\n", "--seed", "2", "--sentences", "1", "--no-color")
    assert r.returncode == 0, r.stderr  # end of input without bye is a normal end
    answers = [line for line in r.stdout.split("\n") if line and not line.startswith(" ")]
    assert len(answers) == 2
    for answer in answers:
        plain = re.sub(r"[«»]|\[\d+(,\d+)*\]", "", answer)
        assert SentenceCounter().feed(plain + " ") <= 1


def test_chat_errors(home):
    r = chat(home, "temperature=-3\nhello\n", "--seed", "1")
    assert r.returncode == 0
    assert "poet: --temperature must be a number >= 0" in r.stdout
    r = chat(home, "", "--temperature", "-1")
    assert r.returncode == 2 and r.stderr.startswith("poet: error: --temperature") and "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "torch_poet", "chat", "--project", "test", "--model", "missing"],
        input="", capture_output=True, text=True, timeout=120, env={**ENV, "POET_HOME": str(home)},
    )  # fmt: skip
    assert r.returncode == 2 and "no model in" in r.stderr


def test_chat_on_a_terminal(home):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "chat", "--project", "test", "--model", "tiny", "--seed", "3"],
        env={**ENV, "POET_HOME": str(home), "TERM": "xterm-256color"}, encoding="utf-8", timeout=60,
        dimensions=(40, 160),
    )  # fmt: skip
    child.expect("help for commands")
    child.expect("you> ")
    child.sendline("It is a truth universally")
    child.expect("you> ")
    answer = ANSI.sub("", child.before).strip()
    assert answer and "It is a truth universally" in answer  # the echo of the typed line, then the answer
    assert len(answer) > len("It is a truth universally") + 5
    child.sendline("temperature=0.5")
    child.expect(r"\(temperature 0\.5\)")
    child.expect("you> ")
    child.sendline("reset")
    child.expect(r"\(the conversation starts afresh\)")
    child.expect("you> ")
    child.sendline("There was no possibility")
    child.expect("you> ")
    assert "\x1b[48;5;" in child.before  # a terminal gets coloured quotes
    child.sendline("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_ends_on_ctrl_d(home):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable, ["-m", "torch_poet", "chat", "--project", "test", "--model", "tiny"],
        env={**ENV, "POET_HOME": str(home)}, encoding="utf-8", timeout=60,
    )  # fmt: skip
    child.expect("you> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_sampling_flags(home):
    """SampleConfig's flags reach `poet chat`: min-p 1 keeps the likeliest character only, as temperature 0 does."""
    greedy = chat(home, "It is a truth\nMr. Bennet\n", "--seed", "1", "--temperature", "0", "--no-color")
    assert greedy.returncode == 0, greedy.stderr
    assert (
        chat(home, "It is a truth\nMr. Bennet\n", "--temperature", "1.5", "--min-p", "1", "--no-color").stdout
        == greedy.stdout
    )
    r = chat(home, "", "--min-p", "-1")
    assert r.returncode == 2 and r.stderr.startswith("poet: error: --min-p must be a number from 0 to 1")


def test_an_answer_at_the_length_limit_ends_with_a_whole_word(poet):
    """At max_chars the word under way is finished first, so the next turn never goes on with half a word."""
    for seed in range(6):
        dialog = Conversation(poet)
        answer = dialog.turn("It is a truth", 20, SampleConfig(temperature=0.8, seed=seed), max_chars=25)
        assert 20 <= len(answer) <= 25 + WORD_SLACK
        assert dialog.transcript[-1].isspace(), (seed, dialog.transcript[-30:])

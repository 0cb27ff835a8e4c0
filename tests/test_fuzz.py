"""Fuzzing (hypothesis): request bodies for every endpoint of the API, and the contents of config.json and of the
snapshots. Whatever comes in: no 500, no traceback, a one-line error, and the model directory as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from urllib.parse import quote

import pytest
import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from torch_poet.disk.models import model_row
from torch_poet.disk.snapshots import load_model
from torch_poet.disk.snapshots import read as read_snapshot
from torch_poet.errors import PoetError
from torch_poet.poet import Poet
from torch_poet.serve import create_app
from torch_poet.train.resume import Start

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# values near the valid ones, so that many requests get past validation and into the model
near_valid = {
    "project": st.sampled_from(["test", "nope", "..", "", "test/../test", None]),
    "model": st.sampled_from(["tiny", "../tiny", "\x00", None]),
    "prompt": st.text(max_size=40),
    "text": st.text(max_size=200),
    "length": st.integers(-5, 6000),
    "temperature": st.floats(-1, 6) | st.sampled_from([0, 1e-300, float("inf"), float("nan")]),
    "top_k": st.integers(-2, 100),
    "top_p": st.floats(-0.5, 1.5) | st.sampled_from([1e-300, 0.0]),
    "seed": st.integers(-1, 2**40),
    "min_quote": st.integers(-1, 2000),
    "sentences": st.integers(-1, 30),
    "session": st.text(max_size=70) | st.none(),
    "skip_unknown": st.booleans(),
    "highlight": st.booleans(),
}
fields = st.sampled_from(sorted(near_valid)).flatmap(lambda k: st.tuples(st.just(k), near_valid[k] | json_values))
bodies = st.lists(fields, max_size=7).map(dict) | json_values
ENDPOINTS = ["/api/generate", "/api/stream", "/api/chat", "/api/chat/reset", "/api/highlight"]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_home(serve_home, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("fuzz-home")
    shutil.copytree(serve_home / "projects", home / "projects")
    return home


@pytest.fixture(scope="module")
def api(fuzz_home):
    with TestClient(create_app(root=fuzz_home), base_url="http://127.0.0.1") as c:
        assert c.post("/api/highlight", json={"text": "warm up"}).status_code == 200  # loaded, index built
        yield c


def test_no_request_body_makes_the_api_fail_or_touch_the_model(api, fuzz_home):
    before = digest(fuzz_home)

    @FUZZ
    @given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
    def check(endpoint, body):
        response = api.post(endpoint, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code < 500, (endpoint, body, response.text)
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            error = response.json()["error"]
            assert isinstance(error, str) and "\n" not in error
        elif endpoint == "/api/stream":
            assert "event: error" not in response.text, (body, response.text)

    check()
    assert digest(fuzz_home) == before


# training requests near the valid ones: most are refused before anything is written, a few start a real run
near_valid_training = {
    "project": st.sampled_from(["test", "fuzz", "..", "", "a/b", "\x00", None]),
    "model": st.sampled_from(["tiny", "other", "../tiny", None]),
    "library": st.fixed_dictionaries({}, optional={
        "books": st.lists(st.sampled_from([946, 0, -3, 99999999, 2**40]), max_size=3),
        "author": st.lists(st.sampled_from(["austen", "zzqxj", ""]), max_size=2),
        "language": st.lists(st.sampled_from(["en", "klingon"]), max_size=1),
        "files": st.just(["/etc/passwd"]),
        "all_editions": st.booleans()}),  # fmt: skip
    "minutes": st.floats(-1, 0.05) | st.sampled_from([0, float("nan"), 1e309]),
    "steps": st.integers(-1, 3),
    "layers": st.integers(-1, 2),
    "hidden": st.integers(-1, 16),
    "cell": st.sampled_from(["lstm", "gru", "rnn", ""]),
    "batch_size": st.integers(-1, 4),
    "seq_len": st.integers(-1, 16),
    "restart": st.booleans(),
}
training_fields = st.sampled_from(sorted(near_valid_training)).flatmap(
    lambda k: st.tuples(st.just(k), near_valid_training[k] | json_values))
training_bodies = st.lists(training_fields, max_size=8).map(dict) | json_values


def test_no_training_request_fails_or_writes_before_it_is_accepted(fuzz_home, gutenberg_server, tmp_path_factory):
    """Starting, stopping and listing runs, and reading samples: never a 500 or a traceback; a refused start writes
    nothing; an accepted one is a real `poet train` run, stopped with the server."""
    home = tmp_path_factory.mktemp("fuzz-train")
    shutil.copytree(fuzz_home / "projects", home / "projects")
    before = digest(home)
    accepted: set[tuple[str, str]] = set()
    app = create_app(root=home, cache=tmp_path_factory.mktemp("fuzz-cache"), mirror=gutenberg_server.url)
    with TestClient(app, base_url="http://127.0.0.1") as api:

        @FUZZ
        @example("/api/train", {"project": "fuzz", "library": {"books": [946]}, "layers": 1, "hidden": 8}, 1)
        @example("/api/train", {"project": "fuzz", "library": {"books": [946]}}, 1)  # refused: it is training
        @example("/api/train/stop", {"project": "fuzz"}, 1)
        @given(endpoint=st.sampled_from(["/api/train", "/api/train/stop"]), body=training_bodies,
               step=st.integers(-2, 10**12) | st.text(st.characters(min_codepoint=33), max_size=8))  # fmt: skip
        def check(endpoint, body, step):
            response = api.post(endpoint, content=json.dumps(body), headers={"Content-Type": "application/json"})
            assert response.status_code < 500, (endpoint, body, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert isinstance(error, str) and "\n" not in error and "Traceback" not in error
            elif endpoint == "/api/train":
                accepted.add((response.json()["project"], response.json()["model"]))
            listing = api.get("/api/train")
            assert listing.status_code == 200 and {(r["project"], r["model"]) for r in listing.json()["runs"]} == accepted
            read = api.get(f"/api/models/test/tiny/samples/{quote(str(step), safe='')}")
            assert read.status_code in (404, 422) and "\n" not in read.json()["error"]

        check()
    assert ("fuzz", "default") in accepted
    untouched = {k: v for k, v in digest(home).items() if not k.startswith(tuple(f"projects/{p}/{m}/" for p, m in accepted))}
    assert untouched == {k: v for k, v in before.items() if k in untouched}  # nothing else changed
    made = {tuple(p.relative_to(home / "projects").parts) for p in (home / "projects").glob("*/*")}
    assert made <= {tuple(k.split("/")[1:3]) for k in before} | accepted  # no model the checks refused


def test_no_file_or_query_makes_the_file_check_fail(api, fuzz_home):
    """/api/highlight/stream takes any bytes as the file and its settings from the query."""
    before = digest(fuzz_home)
    queries = st.dictionaries(st.sampled_from(["project", "model", "min_quote", "phrases", "offset"]),
                              st.text(max_size=8) | st.integers(-3, 2000).map(str), max_size=3)  # fmt: skip

    @FUZZ
    @given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), query=queries)
    def check(body, query):
        response = api.post("/api/highlight/stream", params=query, content=body)
        assert response.status_code < 500, (body, query, response.text)
        if response.status_code >= 400:
            assert "\n" not in response.json()["error"]
        else:
            assert "event: error" not in response.text and "event: done" in response.text, response.text

    check()
    assert digest(fuzz_home) == before


def test_no_search_query_fails(fuzz_home, gutenberg_server, tmp_path_factory):
    """/api/search's fields, a model's books, pages: any query is an answer or a one-line 4xx."""
    fields = st.sampled_from(["author", "title", "language", "subject", "model", "offset", "limit", "id"])
    values = st.sampled_from(["austen", "test/tiny", "test/../x", "/", "-1", "0", "99999999999", "1e3", ""]) | st.text(
        max_size=12)
    queries = st.lists(st.tuples(fields, values), max_size=5)
    app = create_app(root=fuzz_home, cache=tmp_path_factory.mktemp("search-cache"), mirror=gutenberg_server.url)
    with TestClient(app, base_url="http://127.0.0.1") as c:

        @FUZZ
        @given(query=queries)
        def check(query):
            response = c.get("/api/search", params=query)
            assert response.status_code < 500, (query, response.text)
            if response.status_code >= 400:
                assert "\n" not in response.json()["error"]
            else:
                found = response.json()
                assert 0 <= len(found["books"]) <= found["count"]

        check()


def mutations(config: dict) -> st.SearchStrategy:
    """config.json with one part replaced by anything, removed, or an unknown key added; or anything at all."""
    model_keys = sorted(config["model"])
    replace_model = st.tuples(st.sampled_from(model_keys + ["colour"]), json_values).map(
        lambda kv: {**config, "model": {**config["model"], kv[0]: kv[1]}}
    )
    replace_section = st.tuples(st.sampled_from(sorted(config) + ["extra"]), json_values).map(
        lambda kv: {**config, kv[0]: kv[1]}
    )
    remove_section = st.sampled_from(sorted(config)).map(lambda k: {key: v for key, v in config.items() if key != k})
    return replace_model | replace_section | remove_section | json_values


def loads_or_says_why(d: Path) -> None:
    """Everything that reads a model either works or raises PoetError, never anything else."""
    for read in (lambda: Poet.load(d, device="cpu"), lambda: Poet.load(d, weights=False), lambda: model_row(d),
                 lambda: Start.resolve(d), lambda: load_model(d, "last")):  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "using the best snapshot instead"
                read()
        except PoetError as e:
            assert "\n" not in str(e)


def test_no_config_json_makes_loading_fail_other_than_by_poet_error(serve_home, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-config") / "m"
    shutil.copytree(serve_home / "projects/test/tiny", d, ignore=lambda *a: ["index"])
    config = json.loads((d / "config.json").read_text())

    @FUZZ
    @given(content=mutations(config))
    def check(content):
        text = json.dumps(content)
        (d / "config.json").write_text(text)
        before = digest(d)
        loads_or_says_why(d)
        assert digest(d) == before and (d / "config.json").read_text() == text

    check()


def test_no_snapshot_content_makes_loading_fail_other_than_by_poet_error(serve_home, tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz-snapshot") / "m"
    shutil.copytree(serve_home / "projects/test/tiny", d, ignore=lambda *a: ["index"])
    tensors, header = read_snapshot(d / "best.safetensors")
    names = sorted(tensors)

    @FUZZ
    @given(
        meta=json_values.map(json.dumps) | st.text(max_size=30),
        dropped=st.lists(st.sampled_from(names), max_size=2),
        reshaped=st.lists(st.sampled_from(names), max_size=2),
        which=st.sampled_from(["last", "best"]),
    )
    def check(meta, dropped, reshaped, which):
        changed = {k: (torch.zeros(2, 3) if k in reshaped else v) for k, v in tensors.items() if k not in dropped}
        save_file(changed, str(d / f"{which}.safetensors"), metadata={**header, "meta": meta})
        before = digest(d)
        loads_or_says_why(d)
        assert digest(d) == before
        save_file(tensors, str(d / f"{which}.safetensors"), metadata=dict(header))  # the next example starts whole

    check()


# --- the command line ----------------------------------------------------------------------------------------------


def numeric_flags() -> list[tuple[str, str, type]]:
    """(command, flag, int or float) of every numeric option of every command, read from the parser itself."""
    import argparse

    from torch_poet.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, parser in sub.choices.items():
        for action in parser._actions:
            kind = {"int": int, "float": float}.get(getattr(action.type, "__name__", ""))
            if action.option_strings and kind:
                found.append((command, action.option_strings[0], kind))
    return found


FLAGS = numeric_flags()
WILD_INTS = st.integers(max_value=0) | st.integers(min_value=2**31, max_value=2**70)
WILD_FLOATS = st.sampled_from(["nan", "inf", "-inf", "1e999"]) | st.floats(max_value=-1e-9, allow_nan=False).map(repr)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_out_of_range_numbers_on_any_command_are_one_line(data, tmp_path, monkeypatch):
    """Seeds, lengths, counts, temperatures, ports...: a number out of range is one `poet: error` line and exit 1 or
    2, never a traceback (a value in range ends at the missing model or library, one line too)."""
    import contextlib
    import io

    from torch_poet.cli import main

    command, flag, kind = data.draw(st.sampled_from(FLAGS), label="flag")
    value = data.draw(WILD_INTS.map(str) if kind is int else WILD_FLOATS | WILD_INTS.map(str), label="value")
    if flag == "--port" and 0 <= int(float(value)) <= 65535:
        value = "-1"  # a port in range would serve
    for name, where in (("POET_HOME", "home"), ("POET_CACHE", "cache"), ("POET_GUTENBERG_URL", "no-mirror")):
        monkeypatch.setenv(name, str(tmp_path / where))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main sets its own; put it back after
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([command, flag, value])
        except SystemExit as e:
            code = e.code
    lines = err.getvalue().splitlines()
    assert code in (1, 2), (command, flag, value, lines)
    assert "Traceback" not in err.getvalue()
    assert len([line for line in lines if line.startswith("poet: error")]) == 1, lines

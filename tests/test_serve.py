"""`poet serve`'s JSON API: in-process (TestClient) against the Python API, and a real server for concurrency,
cancellation and the command line."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx2 as httpx
import pytest
from conftest import PRIDE_AND_PREJUDICE, SHARED, poet
from fastapi.testclient import TestClient

from torch_poet.chat import Conversation
from torch_poet.config import SampleConfig, TrainConfig
from torch_poet.disk import samples, snapshots
from torch_poet.disk.lock import is_training
from torch_poet.disk.config_json import write_json
from torch_poet.poet import Poet
from torch_poet.render import HTML_BACKGROUNDS
from torch_poet.serve import MAX_FILE, MAX_LENGTH, MAX_PROMPT, create_app

SEEDED = {"prompt": "It is a truth", "length": 400, "temperature": 0.5, "seed": 7}


@pytest.fixture(scope="module")
def client(serve_home):
    with TestClient(create_app(root=serve_home), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(scope="module")
def same_model(serve_home) -> Poet:
    """The same model through the Python API, to compare with."""
    return Poet.load(serve_home / "projects/test/tiny", device="cpu")


def sse(lines) -> list[tuple[str, dict]]:
    """(event, data) pairs of a server-sent event stream."""
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_models_are_listed_and_described(client):
    listing = client.get("/api/models").json()
    assert listing["default"] == "test/tiny"
    [row] = listing["models"]
    assert (row["project"], row["model"], row["step"], row["training"]) == ("test", "tiny", 250, False)
    assert "path" not in row  # the page has no business with the file system
    detail = client.get("/api/models/test/tiny").json()
    assert detail["shape"]["layers"] == 2 and detail["shape"]["hidden"] == 64
    assert [(t["key"], t["url"]) for t in detail["library"]] == [("file:austen.txt", PRIDE_AND_PREJUDICE),
                                                                 ("file:bronte.txt", None)]  # fmt: skip
    assert detail["samples"] is None and detail["chars_per_sec"] is None and detail["sample_steps"] == []
    train = TrainConfig()  # as helpers.train_model wrote config.json: what the page says of its samples and time
    assert (detail["minutes"], detail["sample_every"], detail["sample_below"]) == (None, train.sample_every,
                                                                                   train.sample_below)  # fmt: skip
    assert client.get("/api/models/test/tiny/history").json() == {"history": []}


def test_generate_is_the_python_api_with_its_quotes(client, same_model):
    answer = client.post("/api/generate", json=SEEDED).json()
    assert answer["seed"] == 7
    assert answer["text"] == same_model.generate(SEEDED["prompt"], 400, temperature=0.5, seed=7)
    spans, summary = answer["spans"], answer["summary"]
    assert "".join(s["text"] for s in spans) == answer["text"]
    assert summary["quotes"] == sum(s["quoted"] for s in spans) > 0  # this model recites its two short texts
    library = same_model.library()
    books = {e.key: library.text(i) for i, e in enumerate(library.entries)}
    for span in spans:
        if span["quoted"]:  # the passage around each quote, for its hover card, is where the source says
            first = span["sources"][0]
            passage = span["before"] + first["text"] + span["after"]  # the book's own line breaks
            assert books[first["key"]].find(passage) == first["offset"] - len(span["before"])
            assert len({s["key"] for s in span["sources"]}) == len(span["sources"])  # one source per book
    austen = [s for s in summary["sources"] if s["key"] == "file:austen.txt"]
    assert austen and austen[0]["url"] == PRIDE_AND_PREJUDICE


def test_stream_sends_the_same_text_and_quotes_as_it_goes(client):
    whole = client.post("/api/generate", json=SEEDED).json()
    with client.stream("POST", "/api/stream", json=SEEDED) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response.iter_lines())
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and names.count("text") >= 400 // 64
    assert events[0][1] == {"seed": 7, "warning": None}
    assert "".join(d["text"] for n, d in events if n == "text") == events[-1][1]["text"] == whole["text"]
    spans = [s for n, d in events if n == "spans" for s in d["spans"]]
    assert "".join(s["text"] for s in spans) == whole["text"]  # final spans as they came: the whole text, and
    assert [s for s in spans if s["count"]] == [s for s in whole["spans"] if s["count"]]  # its segmentation
    assert [d for n, d in events if n == "spans"][-1]["summary"] == whole["summary"]


def test_chat_keeps_the_conversation_until_reset(client, same_model):
    first = client.post("/api/chat", json={"text": "It is a truth", "seed": 1, "sentences": 1}).json()
    second = client.post(
        "/api/chat", json={"text": "Mr. Bennet", "seed": 2, "sentences": 1, "session": first["session"]}
    ).json()
    assert second["session"] == first["session"]
    dialog = Conversation(same_model)
    assert first["answer"] == dialog.turn("It is a truth", 1, SampleConfig(temperature=0.7, seed=1))
    # the context of turn 1 carried over
    assert second["answer"] == dialog.turn("Mr. Bennet", 1, SampleConfig(temperature=0.7, seed=2))
    assert "".join(s["text"] for s in second["spans"]) == second["answer"]
    assert client.post("/api/chat/reset", json={"session": first["session"]}).json() == {"forgotten": True}
    again = client.post(
        "/api/chat", json={"text": "Mr. Bennet", "seed": 2, "sentences": 1, "session": first["session"]}
    ).json()
    assert again["session"] != first["session"]  # a new conversation, from a fresh state
    dialog.reset()
    assert again["answer"] == dialog.turn("Mr. Bennet", 1, SampleConfig(temperature=0.7, seed=2))


def test_min_p_and_the_sampling_fields_come_from_sample_config(client, same_model):
    greedy = same_model.generate(SEEDED["prompt"], 400, temperature=0)
    assert client.post("/api/generate", json={**SEEDED, "temperature": 1.5, "min_p": 1}).json()["text"] == greedy
    filtered = client.post("/api/generate", json={**SEEDED, "min_p": 0.3}).json()["text"]
    assert filtered == same_model.generate(SEEDED["prompt"], 400, temperature=0.5, seed=7, min_p=0.3)
    with client.stream("POST", "/api/stream", json={**SEEDED, "temperature": 1.5, "min_p": 1}) as response:
        assert sse(response.iter_lines())[-1][1]["text"] == greedy
    turn = {"text": "It is a truth", "sentences": 1, "temperature": 1.5, "min_p": 1}
    assert client.post("/api/chat", json=turn).json()["answer"] == Conversation(same_model).turn(
        "It is a truth", 1, SampleConfig(temperature=0)
    )
    error = client.post("/api/generate", json={"min_p": 1.5}).json()["error"]
    assert error == "min_p: Input should be less than or equal to 1 (got 1.5)"
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    sampling = {name for name, field in schemas["GenerateRequest"]["properties"].items() if field.get("x-sampling")}
    assert sampling == {"length", "temperature", "top_k", "top_p", "min_p", "seed"}  # the page's controls
    assert schemas["ChatRequest"]["properties"]["min_p"]["x-sampling"]


def test_highlight_any_text(client):
    text = "Zq It is a truth universally acknowledged, that a single man in possession xq"
    found = client.post("/api/highlight", json={"text": text}).json()
    assert [s["text"] for s in found["spans"] if s["quoted"]] == [
        "It is a truth universally acknowledged, that a single man in possession "
    ]
    assert found["spans"][1]["sources"][0]["url"] == PRIDE_AND_PREJUDICE
    assert client.post("/api/highlight", json={"text": "x" * 100_001}).status_code == 422


def test_a_file_past_the_box_is_checked_as_it_streams(client):
    """/api/highlight/stream: the same quotes as /api/highlight finds in each part, for a text of any size."""
    quote = "Zq It is a truth universally acknowledged, that a single man in possession xq"
    text = "\ufeff" + "Words of our own, said again. " * 10_000 + quote + " and more of ours.\n"
    response = client.post("/api/highlight/stream", params={"min_quote": 30}, content=text.encode(),
                           headers={"Content-Type": "text/plain"})  # fmt: skip
    events = sse(response.text.splitlines())
    assert events[0] == ("start", {"chars": len(text) - 1})  # less its byte-order mark
    assert "".join(d["text"] for e, d in events if e == "text") == text[1:]
    assert len([e for e, _ in events if e == "text"]) > 4  # in pieces, as it is checked
    spans = [s for e, d in events if e == "spans" for s in d["spans"]]
    assert [s["text"] for s in spans if s["quoted"]] == [quote[3:-2]]
    assert events[-1] == ("done", {"chars": len(text) - 1})
    assert client.get("/api/status").json()["max_file"] == MAX_FILE
    for body, params, status, words in ((b"\xff\xfe\x00", {}, 400, "the file is not UTF-8 text"),
                                        (b"x", {"min_quote": 0}, 422, "min_quote: Input should be greater"),
                                        (b"x", {"model": "huge"}, 404, "unknown model test/huge"),
                                        (b"x" * (MAX_FILE + 1), {}, 413, f"over {MAX_FILE:,} bytes")):  # fmt: skip
        response = client.post("/api/highlight/stream", params=params, content=body)
        assert response.status_code == status and words in response.json()["error"], response.text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"temperature": 5.5}, 422, "temperature: Input should be less than or equal to 5"),
        ({"temperature": -1}, 422, "temperature: Input should be greater than or equal to 0"),
        ({"top_k": -1}, 422, "top_k: Input should be greater than or equal to 0"),
        ({"top_p": 0}, 422, "top_p: Input should be greater than 0"),
        ({"top_p": 1.5}, 422, "top_p: Input should be less than or equal to 1"),
        ({"prompt": "x" * (MAX_PROMPT + 1)}, 422, f"prompt: String should have at most {MAX_PROMPT} characters"),
        ({"prompt": ""}, 422, "prompt: String should have at least 1 character"),
        ({"length": 0}, 422, "length: Input should be greater than or equal to 1"),
        ({"length": MAX_LENGTH + 1}, 422, f"length: Input should be less than or equal to {MAX_LENGTH}"),
        ({"length": "many"}, 422, "length: Input should be a valid integer"),
        ({"seed": -1}, 422, "seed: Input should be greater than or equal to 0"),
        ({"prompt": "\u4e00"}, 400, "the prompt has characters the model never saw: '\u4e00'; remove them, or tick "
                                   "“drop unknown characters” (skip_unknown) to drop them"),
        ({"project": "test", "model": "huge"}, 404, "unknown model test/huge: choose one of test/tiny"),
        ({"project": "..", "model": ".."}, 404, "unknown model ../..: choose one of test/tiny"),
        ({"project": "/etc", "model": "passwd"}, 404, "unknown model /etc/passwd"),
    ],
)
def test_bad_input_is_a_4xx_with_a_one_line_error(client, body, status, words):
    for path in ("/api/generate", "/api/stream"):
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert words in error and "\n" not in error


def test_names_from_the_client_never_become_paths(client, serve_home):
    (serve_home / "outside").mkdir()
    write_json(serve_home / "outside/config.json", {})  # a "model" next to projects/, reachable only by ../
    assert client.get("/api/models/../outside/history").status_code == 404
    assert client.get("/api/models/%2E%2E/outside").json()["error"].startswith("unknown model ../outside")
    assert client.post("/api/generate", json={"project": "..", "model": "outside"}).status_code == 404
    assert (
        client.post("/api/generate", content="{not json", headers={"Content-Type": "application/json"}).status_code
        == 422
    )


def test_search_marks_the_books_a_model_was_trained_on(tmp_path, gutenberg_server):
    # a model whose training has just begun: config.json names its library
    write_json(
        tmp_path / "projects/gut/pride/config.json", {"library": {"texts": [{"key": "pg1342", "book_id": 1342}]}}
    )
    with TestClient(create_app(root=tmp_path, mirror=gutenberg_server.url), base_url="http://localhost") as c:
        found = c.get("/api/search", params={"author": "jane austen", "language": "en"}).json()
        assert found["count"] == len(found["books"]) >= 5
        models = {b["id"]: b["models"] for b in found["books"]}
        assert models.pop(1342) == ["gut/pride"] and not any(models.values())
        assert c.get("/api/search", params={"author": "austen", "limit": 2}).json()["count"] > 2
        pages = [c.get("/api/search", params={"author": "austen", "limit": 2, "offset": o}).json() for o in (0, 2)]
        assert [b["id"] for p in pages for b in p["books"]] == [b["id"] for b in found["books"]][:4]  # page by page
        assert c.get("/api/search", params={"model": "gut/pride"}).json()["books"][0]["id"] == 1342  # a model's books
        assert c.get("/api/search", params={"model": "gut/pride", "author": "brontë"}).json()["count"] == 0
        assert c.get("/api/search", params={"model": "gut/none"}).status_code == 404
        assert c.get("/api/search").json() == {
            "error": "empty search: give an author, title, language or subject, or a model"}
    broken = create_app(root=tmp_path, mirror=str(tmp_path), cache=tmp_path / "empty-cache")  # no catalog anywhere
    with TestClient(broken, base_url="http://localhost") as c:
        response = c.get("/api/search", params={"title": "emma"})
        assert response.status_code == 503 and response.json()["error"].startswith("the catalog is not available: no ")


def test_the_page_is_self_contained(client):
    page = client.get("/")
    assert page.headers["content-security-policy"] == "default-src 'self'; frame-ancestors 'none'"  # nor frame it
    assets = [a for a in page.text.split('"') if a.startswith("/")]
    assert sorted(assets) == ["/palette.css", "/static/app.css", "/static/app.js", "/static/chart.js",
                              "/static/dashboard.js", "/static/page.js"]
    for asset in assets:
        assert client.get(asset).status_code == 200
    assert all(light in client.get("/palette.css").text for light, _ in HTML_BACKGROUNDS)
    api = client.get("/openapi.json").json()["paths"]
    assert {"/api/generate", "/api/stream", "/api/chat", "/api/highlight", "/api/models", "/api/search"} <= set(api)
    assert {"/api/models/{project}/{model}/history", "/api/models/{project}/{model}/samples/{step}"} <= set(api)
    assert {"/api/train", "/api/train/stop"} <= set(api)


def test_the_samples_of_each_step_are_listed_and_read(tmp_path):
    model = tmp_path / "projects/p/m"
    write_json(model / "config.json", {})
    samples.write(model, 40, [("temperature 0.6 · readability 50%", "It was\n\nthe best"), ("temperature 0.8", "of")],
                  "<p>page</p>")  # fmt: skip
    samples.write(model, 120, [("temperature 0.6", "later\n")], "<p>page</p>")
    (model / "samples/step00000130.txt").write_bytes(b"\xff\xfe not UTF-8")  # not one of ours: passed over
    with TestClient(create_app(root=tmp_path), base_url="http://127.0.0.1") as c:
        detail = c.get("/api/models/p/m").json()
        assert detail["sample_steps"] == [40, 120, 130] and detail["samples"]["step"] == 120
        parts = c.get("/api/models/p/m/samples/40").json()["parts"]
        assert parts == [{"head": "temperature 0.6 · readability 50%", "text": "It was\n\nthe best"},
                         {"head": "temperature 0.8", "text": "of"}]  # fmt: skip
        assert c.get("/api/models/p/m/samples/120").json()["parts"][0]["text"] == "later\n"
        for step, status in (("7", 404), ("130", 404), ("-1", 422), ("x", 422)):
            response = c.get(f"/api/models/p/m/samples/{step}")
            assert response.status_code == status and "\n" not in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"project": "new"}, 400, "choose the books to train on"),
        ({"project": "new", "library": {"author": ["zzqxj"]}}, 400, "the search matches no books"),
        ({"project": "new", "library": {"books": [99999999]}}, 400, "no book 99999999 in the catalog"),
        ({"project": "../x", "library": {"books": [946]}}, 400, "invalid project name '../x'"),
        ({"project": "new", "library": {"books": [946], "files": ["/etc/passwd"]}}, 422, "library.files: Extra"),
        ({"project": "new", "library": {"books": [946]}, "cell": "rnn"}, 422, "cell: Input should be 'lstm' or 'gru'"),
        ({"project": "new", "library": {"books": [946]}, "minutes": 0}, 422, "minutes: Input should be greater than 0"),
        ({"project": "new", "library": {"books": [946]}, "layers": 0}, 422, "layers: Input should be greater than"),
        ({"project": "new", "library": {"books": [946]}, "lr": 1}, 422, "lr: Extra inputs are not permitted"),
        ({"project": "test", "model": "tiny", "library": {"books": [946]}}, 409, "test/tiny was trained on other books"),
        ({"project": "test", "model": "tiny", "hidden": 32}, 409, "test/tiny is a 2×64 LSTM, its hidden 64"),
    ],
)
def test_a_training_start_is_checked_before_anything_is_written(body, status, words, serve_home, gutenberg_server,
                                                                 tmp_path):  # fmt: skip
    before = sorted(p.name for p in (serve_home / "projects").iterdir())
    app = create_app(root=serve_home, cache=tmp_path / "cache", mirror=gutenberg_server.url)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        response = c.post("/api/train", json=body)
        assert response.status_code == status, response.text
        assert words in response.json()["error"] and "\n" not in response.json()["error"]
        assert c.get("/api/train").json() == {"allowed": True, "why": None, "runs": []}
    assert sorted(p.name for p in (serve_home / "projects").iterdir()) == before


def test_a_run_that_fails_says_why_in_its_output(tmp_path, gutenberg_server):
    """Book 1212 is in the catalog but not on the mirror: the start is accepted, and the run ends at once with
    poet train's own one-line error, which GET /api/train shows (the page opens it on the model's card)."""
    app = create_app(root=tmp_path / "home", cache=tmp_path / "cache", mirror=gutenberg_server.url)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        started = c.post("/api/train", json={"project": "p", "library": {"books": [1212]}, "minutes": 1})
        assert started.json()["command"] == "poet train --project p --model default --book=1212 --minutes=1.0"
        deadline = time.monotonic() + 120
        while (run := c.get("/api/train").json()["runs"][0])["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert run["exit_code"] == 2 and run["output"][-1].startswith("poet: error: no book of the library could be")
    assert any("skipping book 1212" in line for line in run["output"])
    assert str(tmp_path) not in "\n".join(run["output"])  # the server's paths are not the page's business


def test_a_training_started_in_a_terminal_is_stopped_from_the_page(tmp_path, gutenberg_server):
    """The server did not start it: the pid its lock holds is sent SIGTERM, and it ends with a snapshot."""
    env = dict(os.environ, POET_HOME=str(tmp_path / "home"), POET_CACHE=str(tmp_path / "cache"))
    model = tmp_path / "home/projects/p/m"
    process = poet("train", "--project", "p", "--model", "m", "--book", "946", "--layers", "1", "--hidden", "16",
                   "--batch-size", "8", "--seq-len", "32", "--mirror", gutenberg_server.url, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (model / "heartbeat.json").exists():  # training, past its start-up
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        with TestClient(create_app(root=tmp_path / "home"), base_url="http://127.0.0.1") as c:
            assert c.post("/api/train/stop", json={"project": "p", "model": "m"}).json() == {
                "stopping": True, "pid": process.pid}
        assert process.wait(timeout=60) == 130 and snapshots.newest(model)[1]["step"] > 0
    finally:
        process.kill()
        process.wait()


def test_training_from_the_page_is_off_on_a_reachable_server_unless_allowed(serve_home):
    off = "training from the page is off here"
    with TestClient(create_app(root=serve_home, training_off=off), base_url="http://127.0.0.1") as c:
        assert c.get("/api/train").json() == {"allowed": False, "why": off, "runs": []}
        for path in ("/api/train", "/api/train/stop"):
            response = c.post(path, json={"project": "test", "model": "tiny"})
            assert (response.status_code, response.json()) == (403, {"error": off})
    with TestClient(create_app(root=serve_home), base_url="http://127.0.0.1") as c:
        response = c.post("/api/train/stop", json={"project": "test", "model": "tiny"})
        assert (response.status_code, response.json()) == (409, {"error": "test/tiny is not training"})


def test_other_hosts_are_refused(serve_home):
    """A web page elsewhere cannot reach a loopback server by renaming itself (DNS rebinding)."""
    with TestClient(create_app(root=serve_home), base_url="http://attacker.example") as c:
        assert c.get("/api/models").status_code == 400


# --- a real server ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(poet_server, tmp_path_factory):
    """`poet serve` on a 2x512 LSTM trained for one step by `poet train`: slow enough on one thread (about a second
    for MAX_LENGTH characters) that a stream is still running when a test looks at it."""
    home = tmp_path_factory.mktemp("big-home")
    shakespeare = tmp_path_factory.mktemp("books") / "shakespeare.txt"
    shakespeare.write_text((SHARED / "corpora/tiny-shakespeare.txt").read_text()[:100_000])
    env = dict(os.environ, POET_HOME=str(home), POET_CACHE=str(home / "cache"), OMP_NUM_THREADS="1")
    train = ["train", "--project", "big", "--model", "m", "--file", str(shakespeare), "--layers", "2",
             "--hidden", "512", "--steps", "1", "--batch-size", "4", "--seq-len", "32"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "torch_poet", *train], env=env, check=True, capture_output=True, timeout=300)
    return poet_server(home)


BIG = {**SEEDED, "length": MAX_LENGTH}


def first_event(lines) -> str:
    return next(line for line in lines if line.startswith("event: "))


def test_generations_run_side_by_side_and_do_not_block_the_dashboard(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        expected = [c.post("/api/generate", json={**BIG, "seed": seed}).json()["text"] for seed in (1, 2)]
        with c.stream("POST", "/api/stream", json={**BIG, "seed": 1}) as a, \
             c.stream("POST", "/api/stream", json={**BIG, "seed": 2}) as b:  # fmt: skip
            lines = [a.iter_lines(), b.iter_lines()]
            assert [first_event(each) for each in lines] == ["event: start"] * 2
            start = time.monotonic()
            assert c.get("/api/status").json()["generating"] == 2  # both at once, and the server still answers
            assert c.get("/api/models").status_code == 200
            assert time.monotonic() - start < 1
            texts = [sse(each)[-1][1]["text"] for each in lines]
        assert texts == expected


def test_a_closed_stream_stops_its_generation(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        before = c.get("/api/status").json()
        assert before["generating"] == 0
        with c.stream("POST", "/api/stream", json=BIG) as response:
            assert first_event(response.iter_lines()) == "event: start"
        # the connection is closed: the worker stops at its next chunk, long before 5,000 characters
        deadline = time.monotonic() + 10
        while (status := c.get("/api/status").json())["stopped"] == before["stopped"]:
            assert time.monotonic() < deadline, status
        assert status["generating"] == 0


def test_answers_on_a_kept_alive_connection_come_at_once(server):
    with httpx.Client(base_url=server.url) as c:
        c.get("/api/status")
        start = time.monotonic()
        for _ in range(5):
            c.get("/api/status")
        assert time.monotonic() - start < 0.15  # with Nagle's algorithm on, each would wait ~40 ms for a delayed ACK


def test_a_server_stopped_stops_the_runs_it_started_with_a_snapshot(poet_server, tmp_path, gutenberg_server):
    started = poet_server(tmp_path, "--mirror", gutenberg_server.url)
    run = {"project": "p", "model": "m", "library": {"books": [946]}, "layers": 1, "hidden": 16, "batch_size": 8,
           "seq_len": 32, "eval_chars": 2000}  # fmt: skip
    assert httpx.post(started.url + "api/train", json=run).json()["error"].startswith("eval_chars: Extra inputs")
    del run["eval_chars"]
    assert httpx.post(started.url + "api/train", json=run, timeout=60).json()["running"]
    deadline = time.monotonic() + 120
    while not any(m["live"] for m in httpx.get(started.url + "api/models").json()["models"]):  # training, between snapshots
        assert time.monotonic() < deadline, httpx.get(started.url + "api/train").json()
        time.sleep(0.2)
    started.process.send_signal(signal.SIGINT)  # Ctrl-C on the server
    assert started.process.wait(timeout=90) == 130  # as every command ends on Ctrl-C
    model = tmp_path / "projects/p/m"
    assert not is_training(model) and snapshots.newest(model)[1]["step"] > 0
    assert "stopping the training of p/m: a snapshot is written" in started.process.stderr.read()


def test_the_command_line(server):
    # another host than loopback: a warning, and it serves; the page trains only with --allow-training
    assert httpx.get(server.url + "api/train").json()["allowed"]  # on loopback it may
    for allow, said in (([], "its models"), (["--allow-training"], "its models, and train models on this machine")):
        process = poet("serve", "--host", "0.0.0.0", "--port", "0", *allow, env=server.env, text=True)
        try:
            warning = process.stderr.readline()
            assert warning.startswith("poet: warning: serving on 0.0.0.0: the app has no authentication")
            assert warning.rstrip().endswith(said)
            port = re.search(r":(\d+)/", process.stderr.readline()).group(1)
            assert httpx.get(f"http://127.0.0.1:{port}/api/models").json()["default"] == "big/m"
            training = httpx.get(f"http://127.0.0.1:{port}/api/train").json()
            assert training["allowed"] == bool(allow), training
            if not allow:
                assert "--allow-training" in training["why"]
                stop = httpx.post(f"http://127.0.0.1:{port}/api/train/stop", json={"project": "big", "model": "m"})
                assert stop.status_code == 403
        finally:
            process.terminate()
            process.wait(timeout=15)
    # a busy port and an unknown model: one line each, exit 2
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        refused = [(["--port", port], f"cannot listen on 127.0.0.1:{port}"),
                   (["--project", "big", "--model", "huge"], "unknown model big/huge: choose one of big/m")]  # fmt: skip
        for args, words in refused:
            r = subprocess.run([sys.executable, "-m", "torch_poet", "serve", *args], env=server.env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
            assert r.returncode == 2 and r.stderr.startswith(f"poet: error: {words}"), r.stderr
            assert len(r.stderr.splitlines()) == 1

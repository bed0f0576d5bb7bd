"""The app as a hostile client meets it: a table of bad inputs over raw HTTP, the watched-both rule, the vote rate
limit, trials across a restart, injected faults, cancelled requests, the bounded queue and the output folder.

Tiny seeded pipelines (tests/test_app_api.py): what is tested is the app's wiring and rules, not the models. Raw HTTP
(Gradio's `/call` API) sends what `gradio_client` would not: wrong types, NaN, lone surrogates, wrong argument counts.
"""

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import httpx
import pytest
import torch
from gradio_client import Client

import app
import ui
from mimir.generation import compare
from mimir.studio import gpu
from mimir.studio.requests import Client as StudioClient
from mimir.study import trials
from tests.test_app_api import STEPS, STUDY_PROMPTS, serve, tiny_pipes
from tests.tiny import SEQ


pytestmark = pytest.mark.timeout(300)
GOOD = ["a red circle", "", 0, 9, 16, 16, STEPS, 4.0]  # /generate
TOKENS_GOOD = ["a red circle\na blue square", "", 3, 5, 0]  # /tokens
TOO_LONG = "x" * (16 * SEQ + 1)  # one character past the tiny pipeline's limit


def _studio(tmp: Path, **kwargs) -> app.Studio:
    prompts = tmp / "study.txt"
    prompts.write_text("\n".join(STUDY_PROMPTS) + "\n")
    return app.Studio(
        tiny_pipes(), votes_path=tmp / "votes" / "votes.csv", study_prompts=prompts, out_dir=tmp / "out", **kwargs
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # As behind a Space's proxy: each test's voters come from their own address (X-Forwarded-For), so the vote rate
    # (keyed on the address) of one test does not spill into the next.
    os.environ["MIMIR_BEHIND_PROXY"] = "1"
    studio = _studio(tmp_path_factory.mktemp("hardening"), vote_rate=(4, 60.0))
    demo, client = serve(studio)
    yield client, studio
    client.close()
    demo.close()
    del os.environ["MIMIR_BEHIND_PROXY"]


def voter_at(client: Client, **kwargs) -> Client:
    """A new client session from a new address of its own."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    return Client(client.src, verbose=False, headers={"X-Forwarded-For": address}, **kwargs)


def call(client: Client, api: str, data: list) -> tuple[str, dict | list]:
    """Gradio's `/call` API with the arguments as given (NaN and lone surrogates pass as JSON escapes)."""
    base = client.src.rstrip("/")
    body = json.dumps({"data": data})  # ensure_ascii: a lone surrogate travels as \\ud800
    r = httpx.post(f"{base}/gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    r.raise_for_status()
    text = httpx.get(f"{base}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=120).text
    event = text.split("event: ")[-1].split("\n", 1)[0]
    payload = json.loads(text.rsplit("data: ", 1)[-1])
    return event, payload


def owner(voter: Client | None) -> str:
    """The session key the app gives `voter`'s requests (None: a direct call without a request)."""
    return StudioClient.from_request(getattr(voter, "session_hash", None), None, {}, behind_proxy=False).session


def direct() -> StudioClient:
    """The client of a direct call (no request), as `owner(None)` keys it."""
    return StudioClient.from_request(None, None, {}, behind_proxy=False)


def open_trial(studio: app.Studio, voter: Client | None, watch_seconds: float = 0.0, sent: bool = True) -> str:
    """A trial registered as the app registers one, for `voter`'s session (no generation: these tests are about the
    vote); `sent`: both videos count as sent whole, as a browser that loaded them."""
    trial = studio.trials.new_trial(trials.study_settings(studio.pipes), preset=studio.pipes.preset)
    studio.trial_store.add(trial, watch_seconds=watch_seconds, owner=owner(voter))
    for side in "AB" if sent else "":
        studio.trial_store.mark_fetched(trial.trial_id, side, complete=True)
    return trial.trial_id


def state(studio: app.Studio) -> tuple:
    """Everything a request could leave behind: vote bytes, output files, trial rows."""
    votes = studio.votes.path.read_bytes() if studio.votes.path.exists() else b""
    files = sorted(studio.out_dir.rglob("*")) if studio.out_dir.exists() else []
    with sqlite3.connect(studio.trial_store.path) as db:
        rows = db.execute("SELECT trial_id, fetched_a, fetched_b FROM trials ORDER BY trial_id").fetchall()
    return votes, files, rows


def with_arg(args: list, i: int, value) -> list:
    return [*args[:i], value, *args[i + 1 :]]


BAD_INPUTS = [
    # (class, endpoint, arguments, what the message must say)
    ("seed bool", "generate", with_arg(GOOD, 2, True), "seed: True is not a number"),
    ("seed fraction", "generate", with_arg(GOOD, 2, 2.5), "seed=2.5 must be a whole number"),
    ("seed float", "generate", with_arg(GOOD, 2, 2.0), "seed=2.0 must be a whole number, sent as an integer"),
    ("seed text", "generate", with_arg(GOOD, 2, "abc"), "seed: 'abc' is not a number"),
    ("seed NaN", "generate", with_arg(GOOD, 2, float("nan")), "seed: nan is not a finite number"),
    ("seed negative", "generate", with_arg(GOOD, 2, -1), "seed=-1 is outside [0, 4294967295]"),
    ("seed too large", "generate", with_arg(GOOD, 2, 2**32), "seed=4294967296 is outside [0, 4294967295]"),
    ("prompt list", "generate", with_arg(GOOD, 0, ["a red circle"]), "prompt: ['a red circle'] is not text"),
    ("prompt null", "generate", with_arg(GOOD, 0, None), "prompt: None is not text"),
    ("prompt surrogate", "generate", with_arg(GOOD, 0, "a \ud800"), "prompt: character 2 is a lone surrogate"),
    ("prompt empty", "generate", with_arg(GOOD, 0, "  "), "prompt must be non-empty text"),
    ("prompt characters", "generate", with_arg(GOOD, 0, TOO_LONG), f"at most {16 * SEQ} characters"),
    ("prompt tokens", "generate", with_arg(GOOD, 0, "red " * 40), f"tokens long; this model reads at most {SEQ}"),
    ("negative too long", "generate", with_arg(GOOD, 1, TOO_LONG), "negative_prompt is 257 characters long"),
    ("frames float", "generate", with_arg(GOOD, 3, 9.0), "num_frames: Value: 9.0 is not in the list of choices"),
    ("frames text", "generate", with_arg(GOOD, 3, "9"), "num_frames: Value: '9' is not in the list of choices"),
    ("height unsupported", "generate", with_arg(GOOD, 4, 20), "height: Value: 20 is not in the list of choices"),
    ("steps fraction", "generate", with_arg(GOOD, 6, 2.5), "num_inference_steps=2.5 must be a whole number"),
    ("steps bool", "generate", with_arg(GOOD, 6, True), "num_inference_steps: True is not a number"),
    ("guidance text", "generate", with_arg(GOOD, 7, "abc"), "guidance_scale: 'abc' is not a number"),
    ("guidance NaN", "generate", with_arg(GOOD, 7, float("nan")), "guidance_scale: nan is not a finite number"),
    ("guidance range", "generate", with_arg(GOOD, 7, 99.0), "Value 99.0 is greater than maximum value 20"),
    ("too few arguments", "generate", GOOD[:7], "/generate: takes 8 arguments (prompt, negative_prompt, seed"),
    ("too many arguments", "generate", [*GOOD, 1], "/generate: takes 8 arguments"),
    ("tokens seed -1", "tokens", with_arg(TOKENS_GOOD, 4, -1), "seed=-1 is outside [0, 4294967295]"),
    ("tokens K fraction", "tokens", with_arg(TOKENS_GOOD, 2, 2.5), "K answer samples (b)=2.5 must be a whole"),
    ("tokens perplexity NaN", "tokens", with_arg(TOKENS_GOOD, 3, float("nan")), "nan is not a finite number"),
    ("tokens too many prompts", "tokens", with_arg(TOKENS_GOOD, 0, "red\n" * 17), "17 prompts given"),
    ("tokens prompt too long", "tokens", with_arg(TOKENS_GOOD, 0, TOO_LONG), "prompt is 257 characters long"),
    ("tokens answer too long", "tokens", with_arg(TOKENS_GOOD, 1, TOO_LONG), "answer_prompt is 257 characters"),
    ("trial prompt list", "new_trial", [["x"]], "your own prompt (empty: the study list): ['x'] is not text"),
    ("trial prompt too long", "new_trial", [TOO_LONG], "prompt is 257 characters long"),
    ("trial no arguments", "new_trial", [], "/new_trial: takes 1 arguments"),
    ("vote unknown trial", "vote", ["nope", "A", "A", "A"], "unknown trial id 'nope'"),
    ("vote trial id null", "vote", [None, "A", "A", "A"], "trial id: None is not text"),
    ("vote choice number", "vote", ["nope", 1, "A", "A"], "Instruction following: 1 is not one of the choices"),
    ("vote extra argument", "vote", ["nope", "A", "A", "A", "A"], "/vote: takes 4 arguments"),
    # any JSON number: an integer of 401 digits made float() raise OverflowError and answered {"error": null}
    ("seed huge integer", "generate", with_arg(GOOD, 2, 10**400), "seed: an integer of about 401 digits is far"),
    ("steps huge integer", "generate", with_arg(GOOD, 6, -(10**400)), "a negative integer of about 401 digits"),
    ("tokens K huge", "tokens", with_arg(TOKENS_GOOD, 2, 10**400), "an integer of about 401 digits"),
    # a megabyte of trial id is refused without echoing it whole
    ("vote trial id 1 MB", "vote", ["f" * 2**20, "A", "A", "A"], "unknown trial id 'ffffffff"),
]


@pytest.mark.parametrize(("name", "api", "args", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_with_its_message_and_leaves_nothing(served, name, api, args, message):
    client, studio = served
    before = state(studio)
    event, payload = call(client, api, args)
    assert event == "error" and payload["error"] is not None, payload  # never {"error": null}
    assert message in payload["error"], payload["error"]
    assert payload["title"] == "Input refused"
    assert state(studio) == before


def test_refusals_never_echo_a_huge_value(served, caplog):
    client, _ = served
    with caplog.at_level(logging.WARNING, logger="mimir.app"):
        event, payload = call(client, "vote", ["f" * 2**20, "A", "A", "A"])
    assert event == "error" and len(payload["error"]) < 300
    assert all(len(r.getMessage()) < 400 for r in caplog.records)


def test_unknown_endpoint_is_a_404_naming_the_endpoints(served, caplog):
    client, _ = served
    base = client.src.rstrip("/")
    with caplog.at_level(logging.ERROR):
        r = httpx.post(f"{base}/gradio_api/call/nope", json={"data": []})
        g = httpx.get(f"{base}/gradio_api/call/nope/123")
    assert r.status_code == 404 and g.status_code == 404
    assert "no endpoint /nope" in r.json()["detail"] and "/generate" in r.json()["detail"]
    assert not [rec for rec in caplog.records if rec.exc_info]  # no traceback in the log


def test_telemetry_is_off_unless_asked_for(served):
    _, studio = served
    assert app.build_demo(studio).analytics_enabled is False
    assert app.build_demo(studio, analytics=True).analytics_enabled is True
    assert app.parse_args([]).analytics is False and app.parse_args(["--analytics"]).analytics is True


def test_bad_input_table_covers_twenty_classes():
    assert len({b[0] for b in BAD_INPUTS}) >= 20


def test_good_input_through_the_same_route(served):
    """The table's baseline: the same raw call with good arguments succeeds (so a refusal is the bad value's)."""
    client, _ = served
    event, payload = call(client, "generate", GOOD)
    assert event == "complete" and payload[-1] == 0


# ---- watched both --------------------------------------------------------------------------------------------------


def test_vote_needs_both_videos_sent_whole(served):
    """Only whole downloads count: a HEAD request and one-byte range probes do not; then the time to play both clips
    must pass from the first whole download."""
    client, studio = served
    bare = voter_at(client, download_files=False)  # fetches nothing by itself
    try:
        trial_id, _, _, video_a, video_b, *_ = bare.predict("", api_name="/new_trial")
        before = state(studio)
        with pytest.raises(Exception, match=r"play both videos first \(video A and B not loaded yet"):
            bare.predict(trial_id, "A", "B", "tie", api_name="/vote")
        assert httpx.get(video_a["url"]).status_code == 200
        assert httpx.head(video_b["url"]).status_code == 200  # a HEAD request sends no video: it does not count
        for probe in ("bytes=0-0", "bytes=0-99"):  # partial range requests: not a watched video
            with httpx.stream("GET", video_b["url"], headers={"Range": probe}) as r:
                assert r.status_code == 206
        with pytest.raises(Exception, match=r"video B not loaded yet"):
            bare.predict(trial_id, "A", "B", "tie", api_name="/vote")
        assert state(studio)[0] == before[0]  # refused votes wrote nothing
        started = time.monotonic()
        with httpx.stream("GET", video_b["url"], headers={"Range": "bytes=0-"}) as r:  # a browser's whole fetch
            assert r.status_code == 206 and len(r.read()) > 0
        with pytest.raises(Exception, match=r"both videos loaded, watch them first"):
            bare.predict(trial_id, "A", "B", "tie", api_name="/vote")
        time.sleep(max(0.0, 2 * 17 / 6 - (time.monotonic() - started)) + 0.2)  # two 2.8 s clips, from the first
        reveal = bare.predict(trial_id, "A", "B", "tie", api_name="/vote")
        assert "vote recorded" in (reveal[0] if isinstance(reveal, (list, tuple)) else reveal)
    finally:
        bare.close()


def test_waiting_alone_does_not_unlock_the_vote(served):
    client, studio = served
    voter = voter_at(client)
    trial_id = open_trial(studio, voter, watch_seconds=0.2, sent=False)
    try:
        time.sleep(0.3)
        with pytest.raises(Exception, match=r"play both videos first"):
            voter.predict(trial_id, "A", "A", "A", api_name="/vote")
        for side in "AB":
            studio.trial_store.mark_fetched(trial_id, side, complete=True)
        with pytest.raises(Exception, match=r"watch them first"):
            voter.predict(trial_id, "A", "A", "A", api_name="/vote")
        time.sleep(0.3)
        voter.predict(trial_id, "A", "A", "A", api_name="/vote")
    finally:
        voter.close()
    assert studio.votes.has_vote(trial_id)


def test_a_trial_is_voted_only_by_its_own_session(served):
    client, studio = served
    mine, thief = voter_at(client), voter_at(client)
    try:
        trial_id = open_trial(studio, mine)
        before = state(studio)
        with pytest.raises(Exception, match=r"was handed to another session"):
            thief.predict(trial_id, "A", "A", "A", api_name="/vote")
        assert state(studio) == before
        mine.predict(trial_id, "A", "A", "A", api_name="/vote")
    finally:
        mine.close()
        thief.close()


# ---- rate limit, restart -------------------------------------------------------------------------------------------


def test_vote_rate_limit_per_client_address(served):
    """Keyed on the address (behind a proxy: its X-Forwarded-For), so fresh sessions do not reset it."""
    client, studio = served
    here = {"X-Forwarded-For": "198.51.100.7"}
    voters = [Client(client.src, verbose=False, headers=here) for _ in range(5)]  # a fresh session per vote
    other = Client(client.src, verbose=False, headers={"X-Forwarded-For": "spoofed, 203.0.113.9"})
    ids = [open_trial(studio, v) for v in voters] + [open_trial(studio, other)]
    try:
        for voter, trial_id in zip(voters[:4], ids[:4]):
            voter.predict(trial_id, "A", "B", "tie", api_name="/vote")
        before = state(studio)
        with pytest.raises(Exception, match=r"too many votes from this client: at most 4 per 60 s"):
            voters[4].predict(ids[4], "A", "B", "tie", api_name="/vote")
        assert state(studio) == before
        other.predict(ids[5], "A", "B", "tie", api_name="/vote")  # another address is not held up
    finally:
        for c in (*voters, other):
            c.close()


def test_refused_votes_do_not_use_the_rate(served):
    client, studio = served
    voter = voter_at(client)
    try:
        for _ in range(6):  # more refusals than the limit of 4
            with pytest.raises(Exception, match="choose A, B, tie or both bad"):
                voter.predict(open_trial(studio, voter), "A", None, "A", api_name="/vote")
        voter.predict(open_trial(studio, voter), "A", "B", "tie", api_name="/vote")
    finally:
        voter.close()


def test_open_trials_survive_a_restart(tmp_path):
    first = _studio(tmp_path)
    second = _studio(tmp_path)  # a new app process on the same files
    demo, client = serve(second)
    try:
        open_id, voted_id = open_trial(first, client), open_trial(first, None)
        first.vote(voted_id, {"instruction_following": "A", "physics": "A", "visual_quality": "A"}, direct())
        client.predict(open_id, "B", "tie", "both_bad", api_name="/vote")
        with pytest.raises(Exception, match=f"trial '{voted_id}' already has a vote"):
            client.predict(voted_id, "B", "B", "B", api_name="/vote")
    finally:
        client.close()
        demo.close()
    assert len(second.votes.read()) == 6


# ---- faults, cancellation, queue -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (RuntimeError("CUDA error: injected fault"), "generate failed: RuntimeError: CUDA error: injected fault"),
        (torch.OutOfMemoryError("CUDA out of memory (injected)"), "Out of memory while generating"),
    ],
)
def test_fault_during_generation_is_shown_and_the_next_request_works(served, monkeypatch, fault, message):
    client, _ = served
    real = gpu.run_compare
    faults = [fault]

    def faulty(pipes, settings, progress=None):
        def failing_progress(model, step, total):
            if faults:
                raise faults.pop()  # inside the denoising loop, as a real fault would be
            if progress is not None:
                progress(model, step, total)

        return real(pipes, settings, failing_progress)

    monkeypatch.setattr(gpu, "run_compare", faulty)
    with pytest.raises(Exception) as err:
        client.predict(*GOOD, api_name="/generate")
    assert message in str(err.value), str(err.value)
    assert client.predict(*GOOD, api_name="/generate")[-1] == 0


def _slow_run(steps: list[int], total: int = 200):
    """A stand-in for the model run: `total` steps of 20 ms, each reported through the app's progress callback."""

    def run(pipes, settings, progress=None):
        for step in range(1, total + 1):
            time.sleep(0.02)
            steps.append(step)
            progress("mimir", step, total)
        return compare(pipes, settings)

    return run


def _submit_then(how: str, client: Client, steps: list[int]) -> None:
    """Start /generate, wait for its fifth step, then cancel it (Gradio's /cancel, what the client's `cancel` and the
    page's stop button send) or drop the connection (a closed browser tab: the event stream just ends)."""
    if how == "cancel":
        job = client.submit(*GOOD, api_name="/generate")
        _wait_for(lambda: len(steps) >= 5)
        job.cancel()
        return
    base, session = client.src.rstrip("/"), uuid.uuid4().hex
    body = {"data": GOOD, "fn_index": client._infer_fn_index("/generate", None), "session_hash": session}
    httpx.post(f"{base}/gradio_api/queue/join", json={**body, "event_data": None, "trigger_id": None})
    with httpx.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}, timeout=60) as r:
        for _ in r.iter_lines():
            if len(steps) >= 5:
                break  # leaving the block closes the connection mid-stream


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["cancel", "disconnect"])
def test_cancelled_request_stops_its_generation(served, monkeypatch, caplog, how):
    client, _ = served
    steps: list[int] = []
    monkeypatch.setattr(gpu, "run_compare", _slow_run(steps))
    with caplog.at_level(logging.INFO, logger="mimir.app"):
        _submit_then(how, client, steps)
        _wait_for(lambda: any("stopped" in r.getMessage() for r in caplog.records), 30)
    ran = len(steps)
    time.sleep(0.3)
    assert len(steps) == ran < 200, f"{ran} of 200 steps ran"  # it stopped, and stays stopped
    assert any("generate stopped: its request was cancelled" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    assert client.predict(*GOOD, api_name="/generate")[-1] == 0  # the slot is free again


def test_queue_is_bounded(served, monkeypatch):
    """300 /generate jobs at once (raw joins, as many clients would send them): one runs, MAX_QUEUE_SIZE wait, the
    rest are refused at once with HTTP 503 "Queue is full"."""
    client, _ = served
    release = threading.Event()

    calls = []

    def blocked(*args, **kwargs):
        calls.append(1)
        release.wait(60)
        raise gr.Error("released")  # answered at once after the release (as a user error: no traceback, no gc)

    monkeypatch.setattr(gpu, "run_compare", blocked)
    base, fn_index = client.src.rstrip("/"), client._infer_fn_index("/generate", None)
    statuses = []
    with httpx.Client() as http:
        for i in range(300):
            body = {"data": GOOD, "fn_index": fn_index, "session_hash": uuid.uuid4().hex}
            r = http.post(
                f"{base}/gradio_api/queue/join",
                json={**body, "event_data": None, "trigger_id": None},
                headers={"X-Forwarded-For": f"10.1.{i // 250}.{i % 250}"},  # 300 clients, one job each
            )
            statuses.append((r.status_code, r.json().get("detail", "")))
        release.set()
    accepted = [s for s in statuses if s[0] == 200]
    refused = [s for s in statuses if s[0] == 503]
    # the first job may or may not have left the queue for its worker before the others arrived
    assert len(accepted) in (ui.MAX_QUEUE_SIZE, ui.MAX_QUEUE_SIZE + 1), statuses[:3]
    assert len(refused) == 300 - len(accepted)
    assert all("Queue is full. Max size is 64" in detail for _, detail in refused)
    _wait_for(lambda: len(calls) == len(accepted))  # drained: none runs after the patch is undone


def test_one_client_cannot_fill_the_queue_nor_hold_up_votes(served, monkeypatch):
    """100 /call/generate POSTs from one address: MAX_QUEUED_PER_CLIENT wait, the rest are refused at once; another
    client still queues a generation, and votes and seeds are answered while the generations wait."""
    client, studio = served
    release, calls = threading.Event(), []

    def blocked(*args, **kwargs):
        calls.append(1)
        release.wait(60)
        raise gr.Error("released")

    monkeypatch.setattr(gpu, "run_compare", blocked)
    base = client.src.rstrip("/")
    flood = {"content-type": "application/json", "X-Forwarded-For": "198.51.100.66"}
    with httpx.Client(timeout=30) as http:
        codes = [
            http.post(f"{base}/gradio_api/call/generate", content=json.dumps({"data": GOOD}), headers=flood)
            for _ in range(100)
        ]
        _wait_for(lambda: len(calls) == 1)
        accepted = [r for r in codes if r.status_code == 200]
        # the first may already have left the queue for its worker, which frees one place
        assert len(accepted) in (ui.MAX_QUEUED_PER_CLIENT, ui.MAX_QUEUED_PER_CLIENT + 1)
        assert all("at most 4 per client" in r.json()["detail"] for r in codes if r.status_code == 503)
        other = {"content-type": "application/json", "X-Forwarded-For": "198.51.100.67"}
        r = http.post(f"{base}/gradio_api/call/generate", content=json.dumps({"data": GOOD}), headers=other)
        assert r.status_code == 200
        voter = voter_at(client)
        try:
            start = time.monotonic()
            reveal = voter.predict(open_trial(studio, voter), "A", "B", "tie", api_name="/vote")
            assert "vote recorded" in (reveal[0] if isinstance(reveal, (list, tuple)) else reveal)
            assert isinstance(voter.predict(api_name="/random_seed"), (int, float))
            assert time.monotonic() - start < 10  # not behind the waiting generations
        finally:
            voter.close()
        release.set()
    _wait_for(lambda: len(calls) == len(accepted) + 1)


def test_generated_files_stay_in_the_app_folder(served):
    client, studio = served
    before = set(studio.out_dir.iterdir()) if studio.out_dir.exists() else set()
    event, outputs = call(client, "generate", GOOD)  # raw: the server's own paths, not a client's downloads
    assert event == "complete"
    new = set(studio.out_dir.iterdir()) - before - {studio.outputs.cache}
    assert len(new) == 2  # one folder per model's mp4 + gif
    for folder in new:
        assert len(folder.name) == 32 and int(folder.name, 16) >= 0  # a generated name, nothing from the request
        assert sorted(p.suffix for p in folder.iterdir()) == [".gif", ".mp4"]
    # Gradio's copies of them live in the same app folder (and its delete_cache sweeps them by age too)
    served = [Path((video.get("video") or video)["path"]) for video in outputs[:2]]
    assert all(p.is_relative_to(studio.outputs.cache) and p.exists() for p in served), served
    assert app.build_demo(studio).delete_cache == (app.CACHE_SWEEP_SECONDS, 3600)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: Path("/proc/mimir-votes.csv"), "cannot open the votes file"),
        (lambda tmp: (tmp / "v.csv").write_bytes(b"\xff\xfe") and tmp / "v.csv", "is not UTF-8 text (byte 0)"),
    ],
)
def test_unusable_votes_path_stops_the_app_at_start(tmp_path, capsys, monkeypatch, make, message):
    """`python app.py --votes PATH` exits with status 2 and one clear line, before loading any model."""
    monkeypatch.setattr("mimir.loading.load_pipelines", lambda **kw: pytest.fail("loaded the models first"))
    path = make(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        app.main(["--votes", str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("mimir studio: ") and message in err and str(path) in err, err


def test_the_header_names_the_fast_switch_as_set(tmp_path):
    """off, on or fp8: the header reads the pipelines' settings, not only whether any are set."""
    from dataclasses import replace

    from mimir.fast import FastSettings

    studio = _studio(tmp_path)
    assert "**fast** `off`" in studio.header_markdown()
    for settings, shown in ((FastSettings(), "on"), (FastSettings(float8=True), "fp8")):
        studio.pipes = replace(studio.pipes, fast=settings)
        assert f"**fast** `{shown}`" in studio.header_markdown()

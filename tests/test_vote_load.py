"""Votes under load and under a kill, through the study flow of issue 22, against the app on loopback (marked slow).

* load: 50 `gradio_client` clients, each from its own address (X-Forwarded-For, the app started as behind a proxy),
  vote 10 times each at once on the trials handed to their own sessions: exactly 500 ballots (1500 rows), all
  parseable, no duplicate, every acknowledged vote present; one address past its rate is refused, even from a fresh
  session.
* kill: the same app process is SIGKILLed while 20 more clients vote; every acknowledged vote is in the file and the
  file parses; after a restart an open trial still takes the vote of its session; SIGTERM then removes the app's own
  output folder and Gradio's copies of its files, and nothing else in --out-dir.

The app runs in its own process, as deployed (the clients' threads do not share its interpreter), started once for
the load and the kill to keep the suite short.

The trials are pre-made by the app's own trial store (no generation: what is under test is the vote path), each for
the session of the client that votes on it, both videos marked sent whole and no watch time, as after a browser
played both; every vote still passes the owner, watched-both and rate checks.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from mimir.study import trials, votes
from mimir.study.trial_store import TrialStore, trial_store_path
from mimir.study.vote_store import VoteStore
from tests.net import free_port
from tests.scripts import load_benchmark
from tests.test_app_api import STUDY_PROMPTS


# 10 ballots per client, not the benchmark's 20 (benchmarks/vote_load.py and RESULTS.md hold the full-scale figures):
# the same concurrency and kill, at half the time in `make test`; a third of it is pre-making trials (3 commits each).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[1]
CLIENTS, VOTES_EACH, KILL_CLIENTS = 50, 10, 20
BALLOT = ("A", "tie", "both_bad")
flow = load_benchmark("vote_load")  # connect (own address), session_key, premake_trials: as the benchmark does


def vote_all(client: Client, trial_ids: list[str], acked: list[str], errors: list[str]) -> None:
    """One client (one session) votes on each of its trials in turn; records what the server acknowledged."""
    try:
        for trial_id in trial_ids:
            try:
                client.predict(trial_id, *BALLOT, api_name="/vote")
            except Exception as err:
                errors.append(repr(err))
                return
            acked.append(trial_id)
    finally:
        client.close()


def vote_at_once(clients: list[Client], ids: list[list[str]], acked: list[str], errors: list[str]) -> list:
    threads = [threading.Thread(target=vote_all, args=(c, mine, acked, errors)) for c, mine in zip(clients, ids)]
    for t in threads:
        t.start()
    return threads


def check_file(path: Path, acked: list[str]) -> None:
    df = VoteStore(path).open().read()  # open() first: a row the kill cut short is moved aside, never glued
    assert set(acked) <= set(df["trial_id"])
    assert not df.duplicated(["trial_id", "criterion"]).any()
    assert (df.groupby("trial_id").size() == len(votes.CRITERIA)).all()  # whole ballots only
    assert (df["app_version"] != "").all()


def start_server(tmp: Path, port: int, votes_per_minute: int = 10_000) -> subprocess.Popen:
    log = (tmp / f"server-{port}.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.serve_tiny",
            "--port",
            str(port),
            "--votes",
            str(tmp / "votes" / "votes.csv"),
            "--out-dir",
            str(tmp / "out"),
            "--study-prompts",
            str(tmp / "study.txt"),
            "--votes-per-minute",
            str(votes_per_minute),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        # As behind a Space's proxy: the client address (what the vote rate is keyed on) is the X-Forwarded-For.
        env={**os.environ, "PYTHONPATH": str(ROOT), "MIMIR_BEHIND_PROXY": "1"},
    )
    return flow.wait_until_serving(proc, port, tmp / f"server-{port}.log", timeout_s=180)


def connect_and_premake(
    url: str, store: TrialStore, group: int, n_clients: int
) -> tuple[list[Client], list[list[str]]]:
    """`n_clients` clients, each from its own address of `group`, connected first (the app keys their sessions),
    then VOTES_EACH trials pre-made for each one's session."""
    factory = trials.TrialFactory(list(STUDY_PROMPTS), seed=group)
    clients = [flow.connect(url, flow.address(group, i)) for i in range(n_clients)]
    ids = [flow.premake_trials(store, factory, flow.session_key(c), VOTES_EACH, "tiny") for c in clients]
    return clients, ids


def load_phase(url: str, store: TrialStore) -> tuple[list[str], str]:
    """50 clients x 10 votes at once, then one address past its rate. Returns the acknowledged trial ids and the
    trial the rate refused."""
    clients, ids = connect_and_premake(url, store, 1, CLIENTS)
    acked: list[str] = []
    errors: list[str] = []
    start = time.monotonic()
    for t in vote_at_once(clients, ids, acked, errors):
        t.join()
    print(f"\n{len(acked)} votes from {CLIENTS} clients in {time.monotonic() - start:.1f} s")
    assert errors == []
    assert len(acked) == CLIENTS * VOTES_EACH == len(set(acked))
    # An address that has cast its VOTES_EACH votes is refused one more, even from a fresh session (sessions are free).
    here = flow.address(2, 0)
    voter, fresh = flow.connect(url, here), flow.connect(url, here)  # two sessions, one address
    factory = trials.TrialFactory(list(STUDY_PROMPTS), seed=2)
    rate_ids = flow.premake_trials(store, factory, flow.session_key(voter), VOTES_EACH, "tiny")
    (refused_id,) = flow.premake_trials(store, factory, flow.session_key(fresh), 1, "tiny")
    for trial_id in rate_ids:
        voter.predict(trial_id, *BALLOT, api_name="/vote")
    with pytest.raises(Exception, match=f"too many votes from this client: at most {VOTES_EACH} per 60 s"):
        fresh.predict(refused_id, *BALLOT, api_name="/vote")
    voter.close()
    fresh.close()
    return [*acked, *rate_ids], refused_id


def test_load_then_sigkill_then_restart_then_sigterm(tmp_path):
    """One app process takes the load test, then is SIGKILLed while 20 more clients vote; a second one is started on
    the same files, takes a vote of an open trial's session and makes a new trial, and is stopped with SIGTERM."""
    (tmp_path / "study.txt").write_text("\n".join(STUDY_PROMPTS) + "\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine\n")  # the user's own file in --out-dir
    votes_path = tmp_path / "votes" / "votes.csv"
    port = free_port()
    proc = start_server(tmp_path, port, votes_per_minute=VOTES_EACH)
    url = f"http://127.0.0.1:{port}/"
    store = TrialStore(trial_store_path(votes_path)).open()  # the app's own trial file

    try:
        # 1. load: exactly 1000 ballots (3000 rows), parseable as they are on disk, no duplicate
        acked, refused_id = load_phase(url, store)
        kill_clients, kill_ids = connect_and_premake(url, store, 3, KILL_CLIENTS)
        df = votes.load_votes(votes_path)
        assert len(df) == len(acked) * len(votes.CRITERIA) and refused_id not in set(df["trial_id"])
        check_file(votes_path, acked)
        assert not (votes_path.parent / "votes.csv.damaged").exists()

        # 2. SIGKILL while 20 clients vote: every acknowledged vote is in the file, and it parses
        killed: list[str] = []
        errors: list[str] = []
        sessions = [c.session_hash for c in kill_clients]
        threads = vote_at_once(kill_clients, kill_ids, killed, errors)
        deadline = time.monotonic() + 120
        while len(killed) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # in the middle of the votes
        proc.wait()
        for t in threads:
            t.join()
        assert len(killed) >= 60 and errors, (len(killed), errors[:2])  # clients lost their server mid-vote
        acked += killed
        check_file(votes_path, acked)

        # 3. restart on the same files: an open trial (pre-made before the kill) still takes its session's vote
        first_folders = flow.own_folders(tmp_path / "out")  # the killed app's folder stays: it could not clean up
        port = free_port()
        proc = start_server(tmp_path, port)
        try:
            (own,) = flow.own_folders(tmp_path / "out") - first_folders
            written = VoteStore(votes_path)
            j, open_id = next((j, i) for j, mine in enumerate(kill_ids) for i in mine if not written.has_vote(i))
            url = f"http://127.0.0.1:{port}/"
            stranger = flow.connect(url, flow.address(3, j))  # same address, another session: not its trial
            with pytest.raises(Exception, match="handed to another session"):
                stranger.predict(open_id, *BALLOT, api_name="/vote")
            stranger.close()
            # the same browser tab (session) as before the kill, on the new server
            client = flow.connect(url, flow.address(3, j), sessions[j], download_files=False)
            client.predict(open_id, *BALLOT, api_name="/vote")
            outputs = client.predict("", api_name="/new_trial")  # writes videos to the app folder and Gradio's cache
            served_files = [Path(video["path"]) for video in outputs[3:5]]
            assert all(p.exists() and p.is_relative_to(own) for p in served_files), (served_files, own)
            client.close()
        finally:
            # 4. SIGTERM: the app's own folder goes, with Gradio's copies of its files; --out-dir and a user file stay
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # a failed assertion above: no server left behind
            proc.kill()
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "output folder" in log, log[-2000:]  # the clean-up line of app.serve
    assert not own.exists()
    assert not any(p.exists() for p in served_files)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine\n"
    assert flow.own_folders(tmp_path / "out") == first_folders
    check_file(votes_path, [*acked, open_id])

"""Votes under load and under a kill, against the app on loopback (marked slow: about a minute together).

* load: 50 `gradio_client` clients vote 20 times each at once: exactly 1000 ballots (3000 rows), all parseable, no
  duplicate, every acknowledged vote present; a 21st vote of one session is refused by the rate limit.
* kill: the same app process is SIGKILLed while 20 more clients vote; every acknowledged vote is in the file and the
  file parses; after a restart the open trials still take votes; SIGTERM then removes the app's output folder and
  Gradio's copies of its files.

The app runs in its own process, as deployed (the clients' threads do not share its interpreter), started once for
the load and the kill to keep the suite short.

The trials are registered in the trial store directly (a "fast fake pipeline": no generation), since what is under
test is the vote path; the "watched both" wait is zero for them.
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


pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {
    "negative_prompt": "",
    "num_frames": 17,
    "height": 16,
    "width": 16,
    "num_inference_steps": 2,
    "guidance_scale": 4.0,
}
CLIENTS, VOTES_EACH = 50, 20
BALLOT = ("A", "tie", "both_bad")


def register_trials(trial_path: Path, n: int) -> list[str]:
    store = TrialStore(trial_path).open()
    factory = trials.TrialFactory(list(STUDY_PROMPTS), seed=0)
    ids = []
    for _ in range(n):
        trial = factory.new_trial(SETTINGS, preset="tiny")
        store.add(trial, watch_seconds=0.0)
        ids.append(trial.trial_id)
    return ids


def vote_all(url: str, trial_ids: list[str], acked: list[str], errors: list[str]) -> None:
    """One client (one session) votes on each trial in turn; records what the server acknowledged."""
    try:
        client = Client(url, verbose=False)
    except Exception as err:  # the server was killed before this client connected
        errors.append(repr(err))
        return
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
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return load_benchmark("vote_load").wait_until_serving(proc, port, tmp / f"server-{port}.log", timeout_s=180)


def load_phase(url: str, ids: list[str], rate_ids: list[str]) -> list[str]:
    """50 clients x 20 votes at once, then one session past its rate. Returns the acknowledged trial ids."""
    acked: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=vote_all, args=(url, ids[i::CLIENTS], acked, errors)) for i in range(CLIENTS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\n{len(acked)} votes from {CLIENTS} clients in {time.monotonic() - start:.1f} s")
    assert errors == []
    assert len(acked) == CLIENTS * VOTES_EACH == len(set(acked))
    voter = Client(url, verbose=False)  # a session that has used its 20 votes is refused the 21st
    for trial_id in rate_ids[:VOTES_EACH]:
        voter.predict(trial_id, *BALLOT, api_name="/vote")
    with pytest.raises(Exception, match="too many votes from this session: at most 20 per 60 s"):
        voter.predict(rate_ids[-1], *BALLOT, api_name="/vote")
    voter.close()
    return [*acked, *rate_ids[:VOTES_EACH]]


def test_load_then_sigkill_then_restart_then_sigterm(tmp_path):
    """One app process takes the load test, then is SIGKILLed while 20 more clients vote; a second one is started on
    the same files, takes a vote on an open trial and a new trial, and is stopped with SIGTERM."""
    (tmp_path / "study.txt").write_text("\n".join(STUDY_PROMPTS) + "\n")
    votes_path = tmp_path / "votes" / "votes.csv"
    ids = register_trials(trial_store_path(votes_path), CLIENTS * VOTES_EACH + 2 * VOTES_EACH + 1 + 20 * VOTES_EACH)
    load_ids, rate_ids = ids[: CLIENTS * VOTES_EACH], ids[CLIENTS * VOTES_EACH :][: VOTES_EACH + 1]
    kill_ids = ids[CLIENTS * VOTES_EACH + VOTES_EACH + 1 :]
    port = free_port()
    proc = start_server(tmp_path, port, votes_per_minute=VOTES_EACH)
    url = f"http://127.0.0.1:{port}/"

    # 1. load: exactly 1000 ballots (3000 rows), parseable as they are on disk, no duplicate
    try:
        acked = load_phase(url, load_ids, rate_ids)
    except BaseException:
        proc.kill()
        raise
    df = votes.load_votes(votes_path)
    assert len(df) == len(acked) * len(votes.CRITERIA) and rate_ids[-1] not in set(df["trial_id"])
    check_file(votes_path, acked)
    assert not (votes_path.parent / "votes.csv.damaged").exists()

    # 2. SIGKILL while 20 clients vote: every acknowledged vote is in the file, and it parses
    killed: list[str] = []
    errors: list[str] = []
    threads = [threading.Thread(target=vote_all, args=(url, kill_ids[i::20], killed, errors)) for i in range(20)]
    for t in threads:
        t.start()
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

    # 3. restart on the same files: the open trials (registered before the kill) still take votes
    port = free_port()
    proc = start_server(tmp_path, port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        open_id = next(i for i in kill_ids if i not in set(killed) and not VoteStore(votes_path).has_vote(i))
        client.predict(open_id, *BALLOT, api_name="/vote")
        outputs = client.predict("", api_name="/new_trial")  # writes videos to the app folder and Gradio's cache
        served_files = [Path(video["path"]) for video in outputs[3:5]]
        assert all(p.exists() for p in served_files) and any((tmp_path / "out").iterdir())
        client.close()
    finally:
        # 4. SIGTERM: the app folder goes, with Gradio's copies of its files
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    log = (tmp_path / f"server-{port}.log").read_text()
    assert "removed the output folder" in log, log[-2000:]
    assert not (tmp_path / "out").exists()
    assert not any(p.exists() for p in served_files)
    check_file(votes_path, [*acked, open_id])

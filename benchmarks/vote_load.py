"""Votes under load through the study flow of issue 22, three SIGKILLs, a queue flood, and (optionally) the app's peak
memory under the longest prompt it accepts (issue 11).

Starts `python app.py` (the nano preset, CPU) in its own process on loopback with a fresh vote file, as behind a
Space's proxy (`MIMIR_BEHIND_PROXY=1`: each client's address is its X-Forwarded-For), then:

1. `--clients` gradio_client clients, each from an address of its own, connect first; then `--votes` trials per
   client are PRE-MADE by the app's own trial store (`TrialStore.add(..., owner=<the client's session key>)`, both
   videos marked sent whole, watch time 0: as a browser that loaded both), since a generation would dominate every
   figure; no vote skips a rule: the app checks owner, watched-both and the per-address rate as for any vote.
2. All clients vote at once; the app is SIGKILLed `--kills` times during the voting (evenly spaced by acknowledged
   votes) and restarted on the same files; a client whose call failed reconnects with its session (as a browser tab
   that stays open) and votes again on the same trial ("already has a vote": written before the kill, its answer
   lost). Votes per second, p50 / p99 latency of one acknowledged vote (call to acknowledgement), rows lost
   (acknowledged ballots missing from the file; must be 0), whole ballots, no duplicate.
3. One address past its rate: `--votes` ballots, then one more from a FRESH session at the same address (refused).
4. (`--memory`) the app's peak RSS while it serves /generate and /tokens with the longest allowed prompts, and how
   fast a 100 kB prompt is refused (issue 11).
5. Queue flood: 100 POSTs to /gradio_api/call/generate from one address (the nano defaults), then /vote and
   /random_seed latencies from another client while those generations wait, beside the same calls before the flood.
6. SIGTERM: how long the app takes to stop with the flood's jobs queued; its own `mimir-studio-<hex>` folder goes,
   the --out-dir folder and a file of the user's in it stay.

    python benchmarks/vote_load.py --clients 50 --votes 20 --kills 3 --json benchmarks/results/vote_load_issue22.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx
from gradio_client import Client
from gradio_client.exceptions import AppError

from mimir.bench.environment import environment, package_version
from mimir.presets import PRESETS
from mimir.studio.requests import Client as StudioClient
from mimir.study import trials, votes
from mimir.study.trial_store import TrialStore, trial_store_path
from mimir.study.vote_store import VoteStore


ROOT = Path(__file__).resolve().parents[1]
BALLOT = ("A", "tie", "both_bad")
PROMPT = "a red circle to the left of a blue square"
# The settings recorded with a pre-made trial (no video is made): the nano study's size.
SETTINGS = {
    "negative_prompt": "",
    "num_frames": 17,
    "height": 64,
    "width": 64,
    "num_inference_steps": 20,
    "guidance_scale": 4.0,
}
FLOOD_POSTS = 100
PROBES = 10  # /vote and /random_seed calls each, before and during the flood
MAX_ATTEMPTS = 10  # failed calls of one ballot while the app is up (those cut by a kill are retried, not counted)
RSS_INTERVAL = 0.01  # seconds between samples of the app's RSS (its process and children)
WORDS = "a red circle to the left of a blue square and three yellow triangles moving right".split()


# ---- the study flow, for this script and tests/test_vote_load.py ---------------------------------------------------


def address(group: int, i: int) -> str:
    """The `i`-th client address of a group (private range 10.0.0.0/8, one per client)."""
    return f"10.{group}.{i // 250}.{i % 250 + 1}"


def connect(url: str, client_address: str, session_hash: str | None = None, **kwargs) -> Client:
    """A gradio_client Client sending `client_address` as X-Forwarded-For; `session_hash`: resume that session (a
    browser tab that stays open across a server restart keeps its session)."""
    # 60 s, not httpx's 5: on two shared cores a freshly restarted app can take longer than 5 s to answer 50 clients.
    client = Client(
        url,
        verbose=False,
        headers={"X-Forwarded-For": client_address},
        httpx_kwargs={"timeout": 60},
        analytics_enabled=False,  # no telemetry to Gradio's servers
        **kwargs,
    )
    if session_hash is not None:
        client.session_hash = session_hash
        client._refresh_heartbeat.set()  # the heartbeat reopens under the resumed session (as Client.reset_session)
    return client


def session_key(client: Client) -> str:
    """The owner key the app gives `client`'s requests (mimir.studio.requests.Client.session)."""
    return StudioClient.from_request(client.session_hash, None, {}, behind_proxy=False).session


def premake_trials(store: TrialStore, factory: trials.TrialFactory, owner: str, n: int, preset: str) -> list[str]:
    """`n` trials registered by the app's own store for the session keyed `owner`, as `Study.new_trial` registers
    them but without generating; both videos marked sent whole and no watch time, as after a browser played both."""
    ids = []
    for _ in range(n):
        trial = factory.new_trial(SETTINGS, preset=preset)
        store.add(trial, watch_seconds=0.0, owner=owner)
        for side in ("A", "B"):
            store.mark_fetched(trial.trial_id, side, complete=True)
        ids.append(trial.trial_id)
    return ids


def wait_until_serving(proc: subprocess.Popen, port: int, log: Path, timeout_s: float) -> subprocess.Popen:
    """`proc` once its page answers 200; RuntimeError with the end of its log if it exits, killed past `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the app did not start within {timeout_s:.0f} s")


def own_folders(out_dir: Path) -> set[Path]:
    """The app folders (`mimir-studio-<hex>`) in --out-dir: each started app makes its own."""
    return set(out_dir.glob("mimir-studio-*"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


# ---- the app process ------------------------------------------------------------------------------------------------


class App:
    """`python app.py` on loopback, restartable on the same files (a new port each start: a killed server's port may
    linger in TIME_WAIT). `generation` counts the starts; `down` is set from just before a kill to the next start."""

    def __init__(self, tmp: Path, votes_per_minute: int) -> None:
        self.tmp, self.votes_per_minute = tmp, votes_per_minute
        self.votes = tmp / "votes.csv"
        self.out_dir = tmp / "out"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.generation = 0
        self.down = True
        self.own: Path | None = None  # this start's own output folder
        self.changed = threading.Condition()

    def start(self) -> float:
        """Start the app; returns the seconds until its page answers."""
        port = free_port()
        log = self.tmp / f"app-{self.generation + 1}.log"
        cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--votes", str(self.votes)]
        cmd += ["--out-dir", str(self.out_dir), "--votes-per-minute", str(self.votes_per_minute)]
        env = {**os.environ, "MIMIR_BEHIND_PROXY": "1"}
        before = own_folders(self.out_dir)
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
        wait_until_serving(self.proc, port, log, timeout_s=300)
        seconds = time.perf_counter() - start
        (self.own,) = own_folders(self.out_dir) - before
        with self.changed:
            self.url, self.generation, self.down = f"http://127.0.0.1:{port}/", self.generation + 1, False
            self.changed.notify_all()
        return seconds

    def kill(self) -> None:
        with self.changed:
            self.down = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds to exit)."""
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=120)
        return rc, time.perf_counter() - start

    def wait_for_restart(self, generation: int, timeout_s: float = 600) -> None:
        """Return once a start newer than `generation` serves, or at once if the app was not killed (a transient
        error)."""
        with self.changed:
            self.changed.wait_for(lambda: self.generation != generation or not self.down, timeout=timeout_s)


# ---- 2. votes under kills -------------------------------------------------------------------------------------------


class Tally:
    """What the voters saw, filled by their threads. (A plain class: tests load this script without registering it
    as a module, which a dataclass needs.)"""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.acked: list[str] = []
        self.written_unacked: list[str] = []  # "already has a vote" on a retry after a kill
        self.errors: list[str] = []
        self.interrupted = 0  # calls cut by a kill (retried)
        self.transient: dict[str, int] = {}  # other failed calls (retried), by exception type
        self.lock = threading.Lock()


class Voter:
    """One client: its own address and session, reconnected to each new start of the app."""

    def __init__(self, app: App, client_address: str) -> None:
        self.app, self.address = app, client_address
        self.generation = app.generation
        self.client = connect(app.url, client_address)
        self.session_hash = self.client.session_hash

    def current(self) -> Client:
        if self.generation != self.app.generation:  # restarted: same session, new server
            self.client.close()
            self.generation = self.app.generation
            self.client = connect(self.app.url, self.address, self.session_hash)
        return self.client

    def cast(self, trial_ids: list[str], tally: Tally) -> None:
        for trial_id in trial_ids:
            failures = 0
            while True:
                generation = self.app.generation
                try:
                    client = self.current()
                    start = time.perf_counter()
                    client.predict(trial_id, *BALLOT, api_name="/vote")
                except AppError as err:  # the app answered: a refusal
                    with tally.lock:
                        if "already has a vote" in str(err):
                            tally.written_unacked.append(trial_id)
                        else:
                            tally.errors.append(f"{trial_id}: {err}")
                    break
                except Exception as err:
                    if self.app.down or self.app.generation != generation:  # killed: wait for the restart, again
                        with tally.lock:
                            tally.interrupted += 1
                        self.app.wait_for_restart(generation)
                        continue
                    with tally.lock:  # the app is up: a timeout or a refused connection on a busy machine
                        kind = type(err).__name__
                        tally.transient[kind] = tally.transient.get(kind, 0) + 1
                    failures += 1
                    if failures >= MAX_ATTEMPTS:
                        with tally.lock:
                            tally.errors.append(f"{trial_id}: gave up after {failures} failures: {err!r}")
                        break
                    time.sleep(min(2**failures * 0.25, 5.0))
                    continue
                with tally.lock:
                    tally.latencies.append(time.perf_counter() - start)
                    tally.acked.append(trial_id)
                break
        self.client.close()


def votes_under_kills(app: App, voters: list[Voter], ids: list[list[str]], kills: int) -> dict:
    tally = Tally()
    total = sum(len(mine) for mine in ids)
    threads = [threading.Thread(target=v.cast, args=(mine, tally)) for v, mine in zip(voters, ids)]
    restarts = []
    start = time.perf_counter()
    for t in threads:
        t.start()
    for k in range(1, kills + 1):
        at = total * k // (kills + 1)  # evenly spaced by acknowledged ballots
        while len(tally.acked) < at and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        acked_at_kill = len(tally.acked)
        app.kill()
        restarts.append({"acked_at_kill": acked_at_kill, "restart_seconds": round(app.start(), 1)})
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    return {"tally": tally, "seconds": seconds, "restarts": restarts}


def check_file(votes_path: Path, acked: list[str]) -> dict:
    """The vote file as the app reads it (open() first: a row cut by a kill is moved aside, never glued)."""
    df = VoteStore(votes_path).open().read()
    per_ballot = df.groupby("trial_id").size()
    damaged = votes_path.with_name(votes_path.name + ".damaged")
    return {
        "rows_on_disk": len(df),
        "ballots_on_disk": int(df["trial_id"].nunique()),
        "rows_lost": len(set(acked) - set(df["trial_id"])) * len(votes.CRITERIA),
        "whole_ballots_only": bool((per_ballot == len(votes.CRITERIA)).all()),
        "duplicate_rows": int(df.duplicated(["trial_id", "criterion"]).sum()),
        "damaged_tail_bytes": damaged.stat().st_size if damaged.exists() else 0,
    }


# ---- 3. rate, 5. flood --------------------------------------------------------------------------------------------


def past_the_rate(app: App, store: TrialStore, factory: trials.TrialFactory, rate: int) -> str:
    """`rate` ballots from one address, then one from a fresh session at the same address: the refusal."""
    here = address(8, 0)
    first = connect(app.url, here)
    for trial_id in premake_trials(store, factory, session_key(first), rate, "nano"):
        first.predict(trial_id, *BALLOT, api_name="/vote")
    first.close()
    fresh = connect(app.url, here)  # a new session costs nothing; the address is the same
    (trial_id,) = premake_trials(store, factory, session_key(fresh), 1, "nano")
    try:
        fresh.predict(trial_id, *BALLOT, api_name="/vote")
        return "accepted"
    except AppError as err:
        return str(err)
    finally:
        fresh.close()


def probe(client: Client, trial_ids: list[str]) -> dict:
    """Latencies (ms) of /vote on `trial_ids` and as many /random_seed calls, one after the other."""
    vote_ms, seed_ms = [], []
    for trial_id in trial_ids:
        start = time.perf_counter()
        client.predict(trial_id, *BALLOT, api_name="/vote")
        vote_ms.append(1000 * (time.perf_counter() - start))
        start = time.perf_counter()
        client.predict(api_name="/random_seed")
        seed_ms.append(1000 * (time.perf_counter() - start))
    return {
        "vote_ms_p50": round(statistics.median(vote_ms), 1),
        "vote_ms_max": round(max(vote_ms), 1),
        "random_seed_ms_p50": round(statistics.median(seed_ms), 1),
        "random_seed_ms_max": round(max(seed_ms), 1),
    }


def queue_flood(app: App, store: TrialStore, factory: trials.TrialFactory) -> dict:
    """FLOOD_POSTS generations posted from one address; votes and seeds from another before and while they wait."""
    client = connect(app.url, address(9, 0))
    ids = premake_trials(store, factory, session_key(client), 2 * PROBES, "nano")
    before = probe(client, ids[:PROBES])
    d = asdict(PRESETS["nano"].defaults)
    base, flood = app.url.rstrip("/"), {"content-type": "application/json", "X-Forwarded-For": address(9, 1)}
    answers = []
    start = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for seed in range(FLOOD_POSTS):
            data = [PROMPT, "", seed, d["num_frames"], d["height"], d["width"]]
            data += [d["num_inference_steps"], d["guidance_scale"]]
            r = http.post(f"{base}/gradio_api/call/generate", content=json.dumps({"data": data}), headers=flood)
            answers.append((r.status_code, r.json().get("detail", "")))
        post_seconds = time.perf_counter() - start
        waiting = http.get(f"{base}/gradio_api/queue/status").json().get("queue_size")
        during = probe(client, ids[PROBES:])
        waiting_after = http.get(f"{base}/gradio_api/queue/status").json().get("queue_size")
    client.close()
    refused = [detail for status, detail in answers if status != 200]
    return {
        "posts": FLOOD_POSTS,
        "accepted": sum(status == 200 for status, _ in answers),
        "refused": len(refused),
        "refused_statuses": sorted({status for status, _ in answers if status != 200}),
        "refusal_message": refused[0] if refused else None,
        "seconds_for_all_posts": round(post_seconds, 2),
        "queue_size_after_posts": waiting,
        "queue_size_after_probes": waiting_after,
        "idle": before,
        "while_generations_wait": during,
    }


# ---- 4. memory (issue 11) -----------------------------------------------------------------------------------------


def longest_prompt(pipe) -> str:
    """The longest prompt (in tokens, then characters) made of study words that the pipeline accepts."""
    words: list[str] = []
    while True:
        candidate = " ".join([*words, WORDS[len(words) % len(WORDS)]])
        try:
            pipe.check_prompt_lengths([candidate])
        except ValueError:
            return " ".join(words)
        words.append(WORDS[len(words) % len(WORDS)])


def memory(app: App) -> dict:
    from mimir import tokens
    from mimir.loading import load_pipelines
    from mimir.memory import PeakRSS

    pipe = load_pipelines("nano").mimir  # only for its prompt rule: the longest prompt it accepts
    prompt = longest_prompt(pipe)
    client = connect(app.url, address(7, 0))
    baseline = PeakRSS(app.proc.pid, children=True).rss()
    with PeakRSS(app.proc.pid, children=True, interval=RSS_INTERVAL) as generate_rss:
        start = time.perf_counter()
        client.predict(prompt, prompt, 0, 17, 64, 64, 20, 4.0, api_name="/generate")
        generate_seconds = time.perf_counter() - start
    many = "\n".join([prompt] * tokens.MAX_PROMPTS)
    with PeakRSS(app.proc.pid, children=True, interval=RSS_INTERVAL) as tokens_rss:
        start = time.perf_counter()
        client.predict(many, prompt, tokens.K_RANGE[1], 10, 0, api_name="/tokens")
        tokens_seconds = time.perf_counter() - start
    start = time.perf_counter()
    try:
        client.predict("a red circle " * 8000, "", 4, 10, 0, api_name="/tokens")
        refused = "accepted"
    except Exception as err:
        refused = str(err)[:120]
    refuse_seconds = time.perf_counter() - start
    client.close()
    return {
        "longest_prompt_tokens": pipe.prompt_token_count(prompt),
        "longest_prompt_chars": len(prompt),
        "rss_idle_mib": round(baseline / 2**20),
        "rss_peak_generate_mib": round(generate_rss.peak_bytes / 2**20),
        "generate_seconds": round(generate_seconds, 1),
        "rss_peak_tokens_mib": round(tokens_rss.peak_bytes / 2**20),
        "tokens_seconds": round(tokens_seconds, 1),
        "refused_100kB_prompt_seconds": round(refuse_seconds, 2),
        "refused_100kB_prompt_message": refused,
    }


# ---- main -----------------------------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> dict:
    wall = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="vote-load-"))
    app = App(tmp, votes_per_minute=max(args.votes, 2 * PROBES))  # each voter casts all its ballots within a minute
    app.out_dir.mkdir()
    users_file = app.out_dir / "notes.txt"  # the user's own file in --out-dir: must survive everything
    users_file.write_text("mine\n")
    result: dict = {"clients": args.clients, "votes_per_client": args.votes, "kills": args.kills}
    try:
        result["first_start_seconds"] = round(app.start(), 1)
        store = TrialStore(trial_store_path(app.votes)).open()  # the app's own store, on the app's own file
        factory = trials.TrialFactory([PROMPT], seed=0)
        # 1. the clients connect first (their sessions are keyed by the app), then their trials are pre-made
        voters = [Voter(app, address(1, i)) for i in range(args.clients)]
        ids = [premake_trials(store, factory, session_key(v.client), args.votes, "nano") for v in voters]
        # 2. all vote at once, through `kills` SIGKILLs and restarts
        run = votes_under_kills(app, voters, ids, args.kills)
        tally = run["tally"]
        result |= {
            "ballots_acknowledged": len(tally.acked),
            "ballots_written_unacknowledged": len(tally.written_unacked),
            "vote_errors": len(tally.errors),
            "first_error": tally.errors[0] if tally.errors else None,
            "calls_cut_by_kills": tally.interrupted,
            "calls_failed_while_up": tally.transient,
            "restarts": run["restarts"],
            "voting_seconds": round(run["seconds"], 1),
            "ballots_per_second": round(len(tally.acked) / run["seconds"], 1),
            "ballots_per_second_up": round(
                len(tally.acked) / (run["seconds"] - sum(r["restart_seconds"] for r in run["restarts"])), 1
            ),
            "latency_p50_ms": round(1000 * percentile(tally.latencies, 50), 1),
            "latency_p99_ms": round(1000 * percentile(tally.latencies, 99), 1),
        }
        result |= check_file(app.votes, tally.acked)
        # 3. one address past its rate, 4. memory, 5. the queue flood
        result["past_the_rate"] = past_the_rate(app, store, factory, app.votes_per_minute)
        if args.memory:  # before the flood, whose generations would queue ahead of these
            result["memory"] = memory(app)
        result["queue_flood"] = queue_flood(app, store, factory)
    finally:
        if app.proc is not None and app.proc.poll() is None:
            # 6. SIGTERM with the flood's generations queued
            rc, seconds = app.stop()
            log = (tmp / f"app-{app.generation}.log").read_text()
            result["sigterm"] = {
                "exit_code": rc,
                "seconds": round(seconds, 1),
                "own_folder_removed": app.own is not None and not app.own.exists(),
                "out_dir_and_users_file_kept": users_file.read_text() == "mine\n",
                "folders_left_by_killed_starts": len(own_folders(app.out_dir)),  # a SIGKILLed process cannot clean
                "clean_exit_logged": "output folder" in log,
            }
        shutil.rmtree(tmp, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - wall, 1)
    env = environment()
    env["packages"]["gradio_client"] = package_version("gradio_client")
    result["environment"] = env
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20, help="ballots per client")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs (each followed by a restart) during the voting")
    parser.add_argument("--memory", action="store_true", help="also the peak-RSS figures of issue 11 (minutes)")
    parser.add_argument("--json", help="also write the figures to this file")
    main(parser.parse_args())

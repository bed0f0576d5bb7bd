"""The blind pairwise study (paper Table 2) as a service: a new trial, the watched-both rule, the vote, the rate
limit and the results. The records and files are `mimir.study`'s; this module is the flow between them.

The flow of one ballot: the trial must exist, be open and belong to the voter's session; the ballot is checked whole;
both videos must have been sent whole and the time to play both must have passed since the first was (the trial
store's rule); the client's address must be within its vote rate; then the ballot's rows are written all at once.
A refused vote writes nothing and uses no rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import plotly.graph_objects as go

from mimir import __version__
from mimir.generation import GenerationResult, StepProgress
from mimir.study import analysis, trials, votes
from mimir.study.rate_limit import RateLimit
from mimir.study.trial_store import TrialStore, trial_store_path
from mimir.study.vote_store import VoteStore, votes_frame

from .config import VOTES_PER_MINUTE
from .requests import Client, check_trial_id


logger = logging.getLogger(__name__)

# Progress labels of a blind trial: by generation order only, since naming the model (or its side) would unblind it.
TRIAL_PROGRESS_LABELS = {"cogvideox": "video 1 of 2", "mimir": "video 2 of 2"}


@dataclass
class TrialOutput:
    """A trial as the voter sees it: no model names."""

    trial_id: str
    prompt: str
    seed: int
    video_a: str
    video_b: str
    seconds_each: float
    fps: int

    @property
    def status(self) -> str:
        return (
            f"Play both videos to the end ({self.seconds_each:.1f} s each at {self.fps} fps; the player rounds to "
            f"0:{round(self.seconds_each):02d}), then vote on each criterion."
        )


@dataclass
class ResultsOutput:
    summary: str
    table2: pd.DataFrame
    bradley_terry: pd.DataFrame
    counts: pd.DataFrame
    figure: go.Figure
    csv_path: str | None


class Study:
    """The study's stores and limits. Opening it checks the vote file and the trial file first: VoteStoreError /
    TrialStoreError say why they cannot be used (the app must not start and then fail every vote)."""

    def __init__(
        self,
        votes_path: str | Path,
        study_prompts: str | Path | None = None,
        study_seed: int | None = None,
        trials_path: str | Path | None = None,
        vote_rate: tuple[int, float] = (VOTES_PER_MINUTE, 60.0),
        max_seed: int = 2**32 - 1,
    ) -> None:
        self.votes = VoteStore(votes_path).open()
        self.trial_store = TrialStore(trials_path or trial_store_path(votes_path)).open()
        self.trials = trials.TrialFactory(trials.load_study_prompts(study_prompts), seed=study_seed, max_seed=max_seed)
        self.vote_limit = RateLimit(*vote_rate, what="votes", per="client")

    @staticmethod
    def check_files(votes_path: str | Path) -> None:
        VoteStore(votes_path).open()
        TrialStore(trial_store_path(votes_path)).open()

    def new_trial(
        self,
        pipes: Any,
        own_prompt: str,
        client: Client,
        folder: Path,
        run: Callable[..., dict[str, GenerationResult]],
        progress: StepProgress | None = None,
    ) -> TrialOutput:
        """A blind trial: the next study prompt (or `own_prompt`), a random seed, random sides; handed to `client`'s
        session only. `run(pipes, settings, progress)` generates both videos (the studio's checked, GPU-scheduled
        call)."""
        trial = self.trials.new_trial(trials.study_settings(pipes), prompt=own_prompt, preset=pipes.preset)
        made = trials.generate_trial(trial, pipes, folder, run=run, progress=progress)
        seconds = trial.settings["num_frames"] / made.fps
        # The server's "watched both" rule: both files sent whole, and the time it takes to play both clips in turn.
        self.trial_store.add(trial, watch_seconds=2 * seconds, owner=client.session)
        return TrialOutput(
            trial.trial_id, trial.prompt, trial.seed, str(made.video_a), str(made.video_b), seconds, made.fps
        )

    def mark_sent(self, trial_id: str, side: str) -> None:
        """A trial's video file went out whole (downloads.TrialFileTracker)."""
        self.trial_store.mark_fetched(trial_id, side, complete=True)

    def vote(self, trial_id: Any, ballot: dict[str, Any], client: Client) -> str:
        """Record one ballot (three criteria) and return the reveal text (module docstring: the flow)."""
        trial_id = check_trial_id(trial_id)
        if self.votes.has_vote(trial_id):  # its trial is purged once voted: say why, not "unknown trial"
            raise ValueError(f"trial {trial_id!r} already has a vote: start a new trial")
        trial = self.trial_store.get(trial_id, owner=client.session)
        rows = votes.vote_rows(trial, ballot, session_id=client.session, app_version=__version__)
        self.trial_store.check_watched(trial_id)
        with self.vote_limit.take(client.address):
            self.votes.append(rows)  # one ballot, all rows or none (vote_store)
        self.trial_store.remove(trial_id)
        return f"**Thanks, vote recorded.** {trial.reveal()}"

    def results(self, folder: Path) -> ResultsOutput:
        """Table 2 layout, Bradley-Terry strengths with 95% CI, counts, a BT plot and the CSV for download."""
        # One snapshot of whole rows for the tables and the download: they agree, and never catch a row being written.
        snapshot = self.votes.snapshot()
        report = analysis.report(votes_frame(snapshot))
        csv_path = None
        if snapshot:
            folder.mkdir(parents=True)
            csv_path = str(folder / "votes.csv")
            Path(csv_path).write_bytes(snapshot)
        summary = f"**{report.summary()}** in `{self.votes.path}`.  \n" + " ".join(report.notes)
        figure = analysis.bradley_terry_figure(report.bradley_terry)
        return ResultsOutput(summary, report.table2, report.bradley_terry, report.counts, figure, csv_path)

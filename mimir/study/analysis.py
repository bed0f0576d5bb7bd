"""Aggregation of the study's votes (paper Table 2): shares, Bradley–Terry strengths, bootstrap intervals, the report.

How the tables count votes (our choice; the paper reports only the share preferring each model):

* **Table 2 layout**: per criterion, the share of *all* votes that chose each model, plus the shares of ``tie`` and
  ``both_bad``, so a row sums to 100 %. ``Mimir decisive %`` is the share of Mimir among votes that picked a model
  (ties and both-bad left out), the number closest to the paper's two-column table.
* **Bradley–Terry**: ``tie`` and ``both_bad`` both count as a tie, i.e. half a win to each model (neither was
  preferred). Strengths are fitted by Hunter's MM iterations with a pseudo-count of half a tie per compared pair so a
  model that wins every vote keeps a finite strength; they are normalised to sum to 1, so with two models the strength
  is the estimated probability of being preferred. 95 % intervals come from a seeded percentile bootstrap over votes;
  an interval from fewer than MIN_BOOTSTRAP_VOTES votes is marked as too few to mean much.

A cell that cannot hold a number says why ("no votes", "no decisive votes") instead of staying blank.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .votes import (
    CRITERIA,
    CRITERION_LABELS,
    CSV_COLUMNS,
    DEFAULT_VOTES,
    MODEL_LABELS,
    MODELS,
    OUTCOME_LABELS,
    load_votes,
)


MIN_BOOTSTRAP_VOTES = 10  # below this a bootstrap interval is shown but marked as too few votes (our threshold)
NO_VOTES = "no votes"
NO_DECISIVE_VOTES = "no decisive votes"
TOO_FEW = f"too few votes for an interval (< {MIN_BOOTSTRAP_VOTES})"


def _subset(votes: pd.DataFrame, criterion: str) -> pd.DataFrame:
    return votes if criterion == "all" else votes[votes["criterion"] == criterion]


def table2(votes: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 2 layout: one row per criterion, % of votes preferring each model, tie and both bad.

    Columns: ``CogVideoX %``, ``Mimir %``, ``tie %``, ``both bad %`` (they sum to 100), ``Mimir decisive %`` (Mimir's
    share of the votes that picked a model) and ``votes``. A criterion without votes says "no votes" in its share
    cells; without a vote for either model, "no decisive votes" in the decisive cell.
    """
    rows = []
    for criterion in (*CRITERIA, "all"):
        sub = _subset(votes, criterion)
        n = len(sub)
        counts = sub["chosen_model"].value_counts()
        row: dict[str, Any] = {"criterion": CRITERION_LABELS[criterion]}
        for outcome, label in OUTCOME_LABELS.items():
            row[f"{label} %"] = round(100.0 * counts.get(outcome, 0) / n, 1) if n else NO_VOTES
        decisive = sum(counts.get(m, 0) for m in MODELS)
        mimir_share = round(100.0 * counts.get("mimir", 0) / decisive, 1) if decisive else NO_DECISIVE_VOTES
        row["Mimir decisive %"] = mimir_share
        row["votes"] = n
        rows.append(row)
    return pd.DataFrame(rows)


def vote_counts(votes: pd.DataFrame) -> pd.DataFrame:
    """Raw counts: criterion x outcome (CogVideoX, Mimir, tie, both bad) with totals, named as in Table 2."""
    outcomes = list(OUTCOME_LABELS)
    if votes.empty:
        table = pd.DataFrame(0, index=list(CRITERIA), columns=outcomes)
    else:
        table = pd.crosstab(votes["criterion"], votes["chosen_model"]).reindex(
            index=list(CRITERIA), columns=outcomes, fill_value=0
        )
    table = table.fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    table.loc["all"] = table.sum(axis=0)
    table.index = [CRITERION_LABELS[c] for c in table.index]
    table.index.name = "criterion"
    return table.rename(columns=OUTCOME_LABELS).reset_index()


def _encode_outcomes(chosen: Any, left: Any, right: Any, models: list[str]) -> tuple[Any, Any, Any]:
    """Model indices of each vote's left and right model, and the outcome: 0 left won, 1 right won, 2 neither."""
    index = {m: i for i, m in enumerate(models)}
    li = np.array([index[m] for m in left], dtype=int)
    ri = np.array([index[m] for m in right], dtype=int)
    outcome = np.where(chosen == left, 0, np.where(chosen == right, 1, 2))
    return li, ri, outcome


def _win_matrix(li: Any, ri: Any, outcome: Any, k: int) -> Any:
    """W[i, j] = wins of model i over model j; tie and both_bad are half a win each (neither was preferred)."""
    wins = np.zeros((k, k))
    np.add.at(wins, (li, ri), np.select([outcome == 0, outcome == 2], [1.0, 0.5], 0.0))
    np.add.at(wins, (ri, li), np.select([outcome == 1, outcome == 2], [1.0, 0.5], 0.0))
    return wins


def fit_bradley_terry(wins: Any, prior: float = 0.5, iters: int = 500, tol: float = 1e-10) -> Any:
    """Bradley–Terry strengths p (sum 1) from a win matrix by Hunter's (2004) MM iterations.

    ``P(i beats j) = p_i / (p_i + p_j)``. ``prior`` adds that many tie votes to every pair that was compared (half a
    win each way) so strengths stay finite when one model wins every vote.
    """
    wins = np.asarray(wins, dtype=float)
    games = wins + wins.T
    wins = wins + np.where(games > 0, prior / 2.0, 0.0)
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    p = np.full(len(wins), 1.0 / len(wins))
    for _ in range(iters):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1.0), p)
        new /= new.sum()
        if np.abs(new - p).max() < tol:
            return new
        p = new
    return p


def bradley_terry(votes: pd.DataFrame, n_bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Bradley–Terry strength per criterion (and all criteria pooled) with bootstrap 95 % intervals.

    Columns: criterion, model, strength, ci_low, ci_high, votes, note. The bootstrap resamples the votes of a
    criterion with replacement (``numpy.random.default_rng(seed)``), so the intervals are reproducible. ``note`` says
    why a row has no numbers ("no votes") or why its interval means little (fewer than MIN_BOOTSTRAP_VOTES votes).
    """
    models = sorted(set(MODELS) | set(votes["model_left"]) | set(votes["model_right"]))
    k = len(models)
    rng = np.random.default_rng(seed)
    rows = []
    for criterion in (*CRITERIA, "all"):
        sub = _subset(votes, criterion)
        n = len(sub)
        if n == 0:
            strengths = low = high = np.full(k, np.nan)
            note = NO_VOTES
        else:
            li, ri, outcome = _encode_outcomes(
                *(sub[c].to_numpy() for c in ("chosen_model", "model_left", "model_right")), models
            )
            strengths = fit_bradley_terry(_win_matrix(li, ri, outcome, k))
            boot = np.empty((n_bootstrap, k))
            for b in range(n_bootstrap):
                idx = rng.integers(0, n, size=n)
                boot[b] = fit_bradley_terry(_win_matrix(li[idx], ri[idx], outcome[idx], k))
            low, high = np.percentile(boot, [2.5, 97.5], axis=0) if n_bootstrap else (strengths, strengths)
            note = TOO_FEW if n < MIN_BOOTSTRAP_VOTES else ""
            if note:  # an interval from so few votes means little: the table says so instead of printing it
                low = high = np.full(k, np.nan)
        for m, s, lo, hi in zip(models, strengths, low, high):
            rows.append(
                {
                    "criterion": CRITERION_LABELS[criterion],
                    "model": MODEL_LABELS.get(m, m),
                    "strength": round(float(s), 3),
                    "ci_low": round(float(lo), 3),
                    "ci_high": round(float(hi), 3),
                    "votes": n,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


def bradley_terry_figure(bt: pd.DataFrame) -> go.Figure:
    """Bradley–Terry strengths, one bar group per criterion; error bars only where the interval rests on enough votes.

    Rows marked too few (or without votes) get no error bar; their bar's hover text says why.
    """
    fig = go.Figure()
    for model in bt["model"].unique():
        rows = bt[bt["model"] == model]
        enough = rows["note"] == ""
        fig.add_trace(
            go.Bar(
                x=rows["criterion"],
                y=rows["strength"],
                name=model,
                hovertext=[note or f"{v} votes" for note, v in zip(rows["note"], rows["votes"])],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    # NaN, not 0: plotly draws no bar at all for NaN, but a flat cap for a zero-length bar
                    "array": (rows["ci_high"] - rows["strength"]).where(enough, np.nan),
                    "arrayminus": (rows["strength"] - rows["ci_low"]).where(enough, np.nan),
                },
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis={"range": [0, 1], "title": "Bradley-Terry strength (P preferred)"},
        height=360,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
    )
    return fig


@dataclass
class StudyReport:
    """Everything the Results tab and ``python -m mimir study report`` show."""

    table2: pd.DataFrame
    bradley_terry: pd.DataFrame
    counts: pd.DataFrame
    n_votes: int
    n_trials: int
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """"2 ballots (6 votes: one per criterion) from 2 trials": a ballot is one voter's answer on one trial."""
        n_ballots = self.n_votes // len(CRITERIA)
        return (
            f"{n_ballots} ballot{'s' * (n_ballots != 1)} ({self.n_votes} votes: one per criterion) "
            f"from {self.n_trials} trial{'s' * (self.n_trials != 1)}"
        )

    def to_text(self) -> str:
        out = [self.summary()]
        for title, df in (
            ("Table 2 layout (% of votes per criterion)", self.table2),
            ("Bradley-Terry strengths (ties and both-bad = half a win each; bootstrap 95% CI)", self.bradley_terry),
            ("Vote counts", self.counts),
        ):
            out += ["", title, df.to_string(index=False)]
        return "\n".join(out + [""] + self.notes)


def report(votes: pd.DataFrame | str | Path, n_bootstrap: int = 1000, seed: int = 0) -> StudyReport:
    """Aggregate a vote table (or the CSV at a path) into the Table 2 layout, Bradley–Terry strengths and counts."""
    if not isinstance(votes, pd.DataFrame):
        votes = load_votes(votes)
    missing = [c for c in ("criterion", "chosen_model", "model_left", "model_right", "trial_id") if c not in votes]
    if missing:
        raise ValueError(f"vote table lacks columns {missing}; expected the columns {list(CSV_COLUMNS)}")
    bad = sorted(set(votes["criterion"]) - set(CRITERIA))
    if bad:
        raise ValueError(f"vote table has criterion {bad[0]!r}, not one of {list(CRITERIA)}")
    return StudyReport(
        table2=table2(votes),
        bradley_terry=bradley_terry(votes, n_bootstrap=n_bootstrap, seed=seed),
        counts=vote_counts(votes),
        n_votes=len(votes),
        n_trials=votes["trial_id"].nunique(),
        notes=[
            "Counting: model % = votes choosing that model / all votes of the criterion; tie and both bad are",
            "their own columns (rows sum to 100). 'Mimir decisive %' leaves ties and both-bad out.",
            f"Bootstrap intervals from fewer than {MIN_BOOTSTRAP_VOTES} votes are marked as too few.",
        ],
    )


def cli_main(argv: list[str] | None = None) -> int:
    """``python -m mimir study report --votes FILE``: print the Results tab's tables."""
    parser = argparse.ArgumentParser(prog="python -m mimir study", description="Blind pairwise user study tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="print the Table 2 layout, Bradley-Terry strengths and vote counts")
    rep.add_argument("--votes", default=str(DEFAULT_VOTES), help="vote CSV written by the app (default: %(default)s)")
    rep.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    rep.add_argument("--seed", type=int, default=0, help="bootstrap seed (reproducible intervals)")
    args = parser.parse_args(argv)
    if not Path(args.votes).exists():
        parser.error(f"vote file {args.votes!r} does not exist")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(report(args.votes, n_bootstrap=args.bootstrap, seed=args.seed).to_text())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(cli_main())

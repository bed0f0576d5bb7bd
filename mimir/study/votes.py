"""The ballot and the vote store: what a vote may say, one CSV row per criterion, an append-only CSV file.

For each criterion of the paper's Table 2 (instruction following, physics, visual quality) the voter picks ``A``,
``B``, ``tie`` or ``both_bad``. A ballot is checked whole before any row exists, so a bad ballot writes nothing.
"""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from filelock import FileLock


if TYPE_CHECKING:  # an annotation only: trials imports this module, so a run-time import would be a cycle
    from .trials import Trial

DEFAULT_VOTES = Path("votes") / "votes.csv"

CRITERIA: tuple[str, ...] = ("instruction_following", "physics", "visual_quality")
CHOICES: tuple[str, ...] = ("A", "B", "tie", "both_bad")
MODELS: tuple[str, ...] = ("cogvideox", "mimir")
# Display names, shared by the app, the tables and the CLI, so every table names things the same way.
MODEL_LABELS: dict[str, str] = {"cogvideox": "CogVideoX", "mimir": "Mimir"}
CHOICE_LABELS: dict[str, str] = {"A": "A", "B": "B", "tie": "tie", "both_bad": "both bad"}
OUTCOME_LABELS: dict[str, str] = {**MODEL_LABELS, "tie": "tie", "both_bad": "both bad"}  # values of chosen_model
CRITERION_LABELS: dict[str, str] = {
    "instruction_following": "Instruction following",
    "physics": "Physics",
    "visual_quality": "Visual quality",
    "all": "All criteria",
}
# Generation settings stored with every vote, in diffusers' argument names.
SETTING_FIELDS: tuple[str, ...] = (
    "negative_prompt",
    "num_frames",
    "height",
    "width",
    "num_inference_steps",
    "guidance_scale",
)
CSV_COLUMNS: tuple[str, ...] = (
    "timestamp_utc",
    "session_id",
    "trial_id",
    "prompt",
    "seed",
    *SETTING_FIELDS,
    "preset",
    "model_left",
    "model_right",
    "criterion",
    "choice",
    "chosen_model",
    "seconds_left",
    "seconds_right",
    "app_version",
)


def _choices_in_words() -> str:
    *head, last = CHOICE_LABELS.values()
    return f"{', '.join(head)} or {last}"  # "A, B, tie or both bad"


def validate_votes(votes: dict[str, str | None]) -> dict[str, str]:
    """Check a whole ballot: every criterion answered, every choice allowed, no unknown criterion.

    Raises one ValueError that names every unanswered criterion ("choose A, B, tie or both bad for Physics") or the
    first bad value and the allowed set.
    """
    unknown = [c for c in votes if c not in CRITERIA]
    if unknown:
        raise ValueError(f"criterion {unknown[0]!r} is not one of {list(CRITERIA)}")
    missing = [CRITERION_LABELS[c] for c in CRITERIA if votes.get(c) in (None, "")]
    if missing:
        raise ValueError(f"choose {_choices_in_words()} for {' and '.join(missing)}")
    for criterion in CRITERIA:
        if votes[criterion] not in CHOICES:
            raise ValueError(
                f"choice {votes[criterion]!r} for {CRITERION_LABELS[criterion]} is not one of {list(CHOICES)}"
            )
    return {c: str(votes[c]) for c in CRITERIA}


def vote_rows(
    trial: Trial,
    votes: dict[str, str | None],
    session_id: str,
    app_version: str,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The CSV rows of one ballot (one per criterion). Validates everything first; raises before any row exists."""
    votes = validate_votes(votes)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [
        {
            "timestamp_utc": stamp,
            "session_id": session_id,
            "trial_id": trial.trial_id,
            "prompt": trial.prompt,
            "seed": trial.seed,
            **trial.settings,
            "preset": trial.preset,
            "model_left": trial.model_left,
            "model_right": trial.model_right,
            "criterion": criterion,
            "choice": choice,
            "chosen_model": trial.model_for(choice),
            "seconds_left": "" if trial.seconds_left is None else round(trial.seconds_left, 3),
            "seconds_right": "" if trial.seconds_right is None else round(trial.seconds_right, 3),
            "app_version": app_version,
        }
        for criterion, choice in votes.items()
    ]


class VoteStore:
    """Append-only CSV of votes. The header is written once, when the file is created.

    Appends hold a thread lock (one app process, many Gradio worker threads) and a file lock next to the CSV (several
    processes, e.g. two app replicas on one disk), so rows never interleave.
    """

    _thread_locks: ClassVar[dict[Path, threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._registry_lock:
            self._thread_lock = self._thread_locks.setdefault(self.path.resolve(), threading.Lock())

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (dicts with exactly CSV_COLUMNS). Raises ValueError on a wrong row or a foreign header."""
        for row in rows:
            if set(row) != set(CSV_COLUMNS):
                raise ValueError(f"vote row keys {sorted(row)} differ from the CSV columns {list(CSV_COLUMNS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, FileLock(str(self.path) + ".lock"):
            new = not self.path.exists() or self.path.stat().st_size == 0
            if not new:
                with self.path.open(newline="", encoding="utf-8") as f:
                    header = next(csv.reader(f), [])
                if tuple(header) != CSV_COLUMNS:
                    raise ValueError(
                        f"{str(self.path)!r} has header {header}, expected {list(CSV_COLUMNS)}; "
                        "use a new --votes file for this app version"
                    )
            with self.path.open("a", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
                if new:
                    writer.writeheader()
                writer.writerows(rows)

    def read(self) -> pd.DataFrame:
        return load_votes(self.path)


def load_votes(path: str | Path) -> pd.DataFrame:
    """The vote CSV as a DataFrame (an empty one with the CSV columns when the file does not exist yet)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    # Strings stay strings ("A", prompts like "NA"); numbers are converted where the tables need them.
    return pd.read_csv(path, dtype=str, keep_default_na=False)

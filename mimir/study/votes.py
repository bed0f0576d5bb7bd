"""The ballot: what a vote may say, its CSV rows (one per criterion), and how text cells are kept formula-safe.

For each criterion of the paper's Table 2 (instruction following, physics, visual quality) the voter picks ``A``,
``B``, ``tie`` or ``both_bad``. A ballot is checked whole before any row exists, so a bad ballot writes nothing.
The file itself (locking, durability, repair) is `vote_store.VoteStore`.

Formula injection (OWASP "CSV Injection"): the CSV is downloadable from the Results tab and opened in spreadsheets,
and a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return would run as a formula. `neutralise`
prefixes such a text cell with ``'``; a cell that already starts with ``'`` gets one more, so `restore` (strip one
leading ``'``) gives back exactly the original text. `load_votes` restores every cell.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mimir.pair import MODEL_LABELS, MODELS  # noqa: F401  (re-exported for the study modules)

from .trial import Trial


DEFAULT_VOTES = Path("votes") / "votes.csv"

CRITERIA: tuple[str, ...] = ("instruction_following", "physics", "visual_quality")
CHOICES: tuple[str, ...] = ("A", "B", "tie", "both_bad")
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


# OWASP's list of characters that make a spreadsheet read a cell as a formula, plus our escape character itself.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def neutralise(value: Any) -> Any:
    """A text cell safe to open in a spreadsheet: ``'`` before a formula start (or before a leading ``'``)."""
    if isinstance(value, str) and value.startswith((*FORMULA_START, ESCAPE)):
        return ESCAPE + value
    return value


def restore(value: Any) -> Any:
    """The original text of a cell written by `neutralise`."""
    if isinstance(value, str) and value.startswith(ESCAPE):
        return value[len(ESCAPE) :]
    return value


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
    """The CSV rows of one ballot (one per criterion), text cells neutralised against formula injection.

    Validates everything first; raises before any row exists."""
    votes = validate_votes(votes)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = [
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
    return [{k: neutralise(v) for k, v in row.items()} for row in rows]


def load_votes(path: str | Path) -> pd.DataFrame:
    """The vote CSV as a DataFrame with the original texts (`restore`); empty, with the CSV columns, when the file
    does not exist yet."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    # Strings stay strings ("A", prompts like "NA"); numbers are converted where the tables need them.
    return pd.read_csv(path, dtype=str, keep_default_na=False).map(restore)

"""The app's example prompts, one file per category (`prompts/examples/<category>.txt`, `#` starts a comment).

Unseen wordings come first: they are where the two models differ, and their file is drawn by the rule written at its
top (benchmarks/make_examples.py: a seeded sample of NanoBench's held-out lines, never chosen by which model wins).
The README's headline screenshot shows the first example of the first category.
"""

from __future__ import annotations

from pathlib import Path

from mimir.study.trials import load_prompt_file


# Then the paper's prompt categories (Fig. 1, 5, 6), in its order; any other file in the folder follows.
EXAMPLE_CATEGORIES = (
    "unseen_wordings",
    "colour",
    "spatial_relationship",
    "counting",
    "action_order",
    "appearance",
    "lighting",
)


def load_examples(folder: str | Path) -> dict[str, list[str]]:
    """Example prompts per category, in EXAMPLE_CATEGORIES order, then any other file in the folder."""
    files = {p.stem: p for p in sorted(Path(folder).glob("*.txt"))}
    order = [c for c in EXAMPLE_CATEGORIES if c in files] + [c for c in files if c not in EXAMPLE_CATEGORIES]
    return {c: load_prompt_file(files[c]) for c in order}

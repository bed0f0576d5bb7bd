"""Write the app's "Unseen wordings" examples and the default study list by a fixed rule over the NanoBench suites.

The rule reads only the suite files; no model runs and no score is looked at, so no prompt is chosen by which model
does better on it (the rule was fixed before either model was tried on its prompts):

- `prompts/examples/unseen_wordings.txt`: for each dimension, in `mimir.world.vocab.DIMENSIONS` order, the prompt of
  line i of `prompts/bench/heldout/<dimension>.jsonl`, i = `random.Random(f"{seed}/examples/{dimension}")
  .randrange(lines)`: NanoBench's own held-out wordings, one per dimension.
- `mimir/prompts/study/prompts.txt`: for each dimension, two different lines i, j =
  `random.Random(f"{seed}/study/{dimension}").sample(range(lines), 2)`: the training prompt of line i
  (`prompts/bench/train/`) and the held-out prompt of line j, so the list is half training and half unseen wordings.

Each file states the rule and the seed in its header comment ('#' lines, which the prompt readers skip).

    .venv/bin/python benchmarks/make_examples.py [--seed 2026] [--check]
"""

import argparse
import random
import sys
from pathlib import Path

from mimir.world.spec import SceneSpec, load_suite
from mimir.world.vocab import DIMENSIONS


ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "prompts" / "bench"
EXAMPLES = ROOT / "prompts" / "examples" / "unseen_wordings.txt"
STUDY = ROOT / "mimir" / "prompts" / "study" / "prompts.txt"
SEED = 2026
COMMAND = "benchmarks/make_examples.py"


def suite(split: str, dimension: str) -> list[SceneSpec]:
    return load_suite(BENCH / split / f"{dimension}.jsonl")


def pick_examples(seed: int) -> list[SceneSpec]:
    """One held-out line per dimension (see the module docstring)."""
    out = []
    for dimension in DIMENSIONS:
        lines = suite("heldout", dimension)
        out.append(lines[random.Random(f"{seed}/examples/{dimension}").randrange(len(lines))])
    return out


def pick_study(seed: int) -> list[SceneSpec]:
    """Per dimension a training line and a different held-out line (see the module docstring), in that order."""
    out = []
    for dimension in DIMENSIONS:
        train, heldout = suite("train", dimension), suite("heldout", dimension)
        i, j = random.Random(f"{seed}/study/{dimension}").sample(range(len(heldout)), 2)
        out += [train[i], heldout[j]]
    return out


def examples_text(seed: int) -> str:
    header = [
        "# Unseen wordings: NanoBench's held-out prompts, in wordings neither model saw in training.",
        f"# Chosen by rule, never by result ({COMMAND}, seed {seed}): for each dimension in",
        "# mimir.world.vocab.DIMENSIONS order, line random.Random(f'{seed}/examples/{dimension}').randrange(n)",
        "# of prompts/bench/heldout/<dimension>.jsonl. Regenerate with the script; do not edit by hand.",
    ]
    return "\n".join(header + [s.prompt for s in pick_examples(seed)]) + "\n"


def study_text(seed: int) -> str:
    header = [
        "# Study prompts for the blind pairwise study (one per line; '#' starts a comment).",
        "# Replace this file, or pass --study-prompts PATH to app.py, to run your own study.",
        "# Half training wordings, half unseen (held-out) wordings, from the NanoBench suites by rule, never by",
        f"# result ({COMMAND}, seed {seed}): for each dimension in mimir.world.vocab.DIMENSIONS order,",
        "# i, j = random.Random(f'{seed}/study/{dimension}').sample(range(n), 2), then the prompt of line i of",
        "# prompts/bench/train/<dimension>.jsonl and of line j of prompts/bench/heldout/<dimension>.jsonl.",
    ]
    return "\n".join(header + [s.prompt for s in pick_study(seed)]) + "\n"


def main(args: argparse.Namespace) -> int:
    stale = []
    for path, text in ((EXAMPLES, examples_text(args.seed)), (STUDY, study_text(args.seed))):
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.write_text(text, encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {sum(not x.startswith('#') for x in text.splitlines())} prompts")
    if stale:
        print(f"not what the rule writes: {', '.join(stale)} (run {COMMAND})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--check", action="store_true", help="only check that the files are what the rule writes")
    sys.exit(main(parser.parse_args()))

"""Write the NanoBench-Comp suites: prompts/bench/v2/<split>/<category>.jsonl, 120 specs per category and split.

.venv/bin/python benchmarks/make_suites_v2.py [--n 120] [--seed 0]
"""

import argparse
from pathlib import Path

from mimir.world.v2 import vocab
from mimir.world.v2.spec import write_suite
from mimir.world.v2.suites import SPLITS, make_suite


HERE = Path(__file__).resolve().parent


def main(args: argparse.Namespace) -> None:
    for split in SPLITS:
        folder = Path(args.out) / split
        folder.mkdir(parents=True, exist_ok=True)
        for category in vocab.CATEGORIES:
            path = folder / f"{category}.jsonl"
            write_suite(make_suite(category, split, args.n, args.seed), path)
            print(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=120, help="specs per category and split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE.parent / "prompts" / "bench" / "v2"))
    main(parser.parse_args())

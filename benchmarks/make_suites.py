"""Write the NanoBench suites: prompts/bench/{train,heldout}/<dimension>.jsonl (deterministic).

The same specs appear in both splits; only the prompt differs: `train` uses the caption templates training sees,
`heldout` the wordings training never sees (`mimir/world/captions.py`). Every spec carries its fixed render /
generation seed as an id suffix (`color-0007-s918273`, see mimir.bench.suite), because the spec schema has no
seed key.

    .venv/bin/python benchmarks/make_suites.py [--n 120] [--seed 2025]
"""

import argparse
import copy
import random
import zlib
from pathlib import Path

from mimir.world.captions import caption
from mimir.world.sampler import make_suite
from mimir.world.spec import SceneSpec, load_suite, write_suite
from mimir.world.vocab import DIMENSIONS


ROOT = Path(__file__).resolve().parents[1] / "prompts" / "bench"


def bench_specs(dimension: str, n: int, seed: int) -> list[SceneSpec]:
    """n specs of one dimension, each with a fixed seed in its id (train wording)."""
    dim_seed = seed + zlib.crc32(dimension.encode())  # independent streams per dimension, stable across runs
    specs = make_suite(dimension, n, dim_seed, "train")
    rng = random.Random(dim_seed)
    out = []
    for i, spec in enumerate(specs):
        spec = copy.deepcopy(spec)
        spec.id = f"{dimension}-{i:04d}-s{rng.randrange(2**31)}"
        out.append(spec)
    return out


def reworded(specs: list[SceneSpec], split: str, seed: int) -> list[SceneSpec]:
    """The same specs with a caption of `split` as prompt (one rng for the file, so the file is deterministic)."""
    rng = random.Random(seed)
    out = []
    for spec in specs:
        spec = copy.deepcopy(spec)
        spec.prompt = caption(spec, rng, split)
        out.append(spec)
    return out


def main(args: argparse.Namespace) -> None:
    for k, dimension in enumerate(DIMENSIONS):
        specs = bench_specs(dimension, args.n, args.seed)
        for split in ("train", "heldout"):
            path = ROOT / split / f"{dimension}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_suite(reworded(specs, split, args.seed * 1000 + 10 * k + (split == "heldout")), path)
            load_suite(path)  # a suite we write must pass the same validation as any other
            print(f"{path.relative_to(ROOT.parents[1])}: {len(specs)} specs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=120, help="specs per dimension")
    parser.add_argument("--seed", type=int, default=2025)
    main(parser.parse_args())

"""NanoBench-Comp suites: per category and split, specs with fixed seeds and prompts.

Splits (issue 23): `train` (training wordings and compositions), `heldout_wordings` (held-out wordings, training
compositions), `heldout_compositions` (training wordings, compositions training never shows:
`sampler.heldout_compositions`), `precise` (precise-language prompts over training compositions, the phenomena of
`captions.PHENOMENA` in turn, each spec tagged with its `language`).
"""

import random
import zlib

from mimir.world.v2.captions import PHENOMENA, caption, precise_caption, precise_fits
from mimir.world.v2.sampler import sample_spec
from mimir.world.v2.spec import SceneSpec


SPLITS: tuple[str, ...] = ("train", "heldout_wordings", "heldout_compositions", "precise")


def make_suite(category: str, split: str, n: int, seed: int = 0) -> list[SceneSpec]:
    """n specs of `category` in `split`, ids `{category}-{i:04d}-s{seed}`; deterministic in (category, split, seed)."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: must be one of {', '.join(SPLITS)}")
    rng = random.Random(zlib.crc32(f"{category}/{split}/{seed}".encode()))
    specs = []
    for i in range(n):
        base = f"{category}-{i:04d}"
        words = random.Random(zlib.crc32(f"{base}/{split}/{seed}/words".encode()))  # captions never move the scenes
        if split == "precise":
            phenomenon = PHENOMENA[category][i % len(PHENOMENA[category])]
            negation = phenomenon == "negation" and category == "generative_numeracy"
            while not precise_fits(spec := sample_spec(rng, category, base, negation=negation), phenomenon):
                pass
            spec.language = phenomenon
            spec.prompt = precise_caption(spec, words, phenomenon)
        else:
            composition = "heldout" if split == "heldout_compositions" else "train"
            spec = sample_spec(rng, category, base, composition)
            spec.prompt = caption(spec, words, "heldout" if split == "heldout_wordings" else "train")
        specs.append(spec)
    return specs

"""Random scene specs covering the whole nano-world vocabulary, for training data and benchmark suites.

Our choices: dimensions are uniform when none is asked for; within a dimension every vocabulary value is uniform.
Counts above 1 appear in `count` scenes (1..4, uniform) and now and then in `spatial_relationship` scenes
(`SPATIAL_COUNT_PROB`), so "two red circles to the left of a blue square" is in the world. A `motion` scene is,
with probability `SUN_PROB`, a yellow circle moving up (down) while the background brightens (darkens): "the sun
rising" (setting).
"""

import random

from mimir.world import vocab
from mimir.world.captions import Split, canonical_prompt, caption
from mimir.world.spec import SceneObject, SceneSpec, parse_spec


SPATIAL_COUNT_PROB = 0.2  # chance that an object of a spatial scene has 2 copies
SECOND_OBJECT_PROB = 0.3  # chance of a static second object in motion / appearance / lighting scenes
SUN_PROB = 0.05  # chance that a motion scene is the sun rising or setting


def _objects(rng: random.Random, n: int) -> list[SceneObject]:
    """n objects that differ in shape or colour."""
    objects: list[SceneObject] = []
    while len(objects) < n:
        o = SceneObject(shape=rng.choice(vocab.SHAPES), color=rng.choice(list(vocab.COLORS)))
        if all((o.shape, o.color) != (p.shape, p.color) for p in objects):
            objects.append(o)
    return objects


def sample_spec(rng: random.Random, dimension: str | None = None, id: str = "", split: Split = "train") -> SceneSpec:
    """One random valid spec of `dimension` (uniform over dimensions when None), captioned in `split`."""
    dim = dimension if dimension is not None else rng.choice(vocab.DIMENSIONS)
    if dim not in vocab.DIMENSIONS:
        raise ValueError(f"dimension={dim!r}: must be one of {', '.join(vocab.DIMENSIONS)}")
    d: dict = {"id": id or f"{dim}-sample", "dimension": dim, "prompt": "-"}
    second = rng.random() < SECOND_OBJECT_PROB
    if dim in ("object_class", "color"):
        objects = _objects(rng, 1)
    elif dim == "count":
        objects = _objects(rng, 1)
        objects[0].count = rng.randint(1, vocab.MAX_COUNT)
    elif dim in ("multiple_objects", "spatial_relationship"):
        objects = _objects(rng, 2)
        if dim == "spatial_relationship":
            d["relation"] = rng.choice(vocab.RELATIONS)
            for o in objects:
                o.count = 2 if rng.random() < SPATIAL_COUNT_PROB else 1
    elif dim == "motion":
        if rng.random() < SUN_PROB:  # the sun rising / setting
            objects = [SceneObject("circle", "yellow")]
            rising = rng.random() < 0.5
            d["motion"] = [{"object": 0, "direction": "up" if rising else "down"}]
            d["lighting"] = "brightens" if rising else "darkens"
        else:
            objects = _objects(rng, 1 + second)
            d["motion"] = [{"object": 0, "direction": rng.choice(vocab.DIRECTIONS)}]
    elif dim == "temporal_order":
        if rng.random() < 0.5:  # one object, two different directions
            objects = _objects(rng, 1)
            first, then = rng.sample(vocab.DIRECTIONS, 2)
            d["motion"] = [{"object": 0, "direction": first}, {"object": 0, "direction": then}]
        else:  # two objects, one after the other
            objects = _objects(rng, 2)
            order = rng.sample([0, 1], 2)
            d["motion"] = [{"object": i, "direction": rng.choice(vocab.DIRECTIONS)} for i in order]
    elif dim == "appearance":
        objects = _objects(rng, 1 + second)
        d["event"] = {"object": rng.randrange(len(objects)), "event": rng.choice(vocab.EVENTS)}
    else:  # lighting
        objects = _objects(rng, 1 + second)
        d["lighting"] = rng.choice(vocab.LIGHTINGS)
    d["objects"] = [{"shape": o.shape, "color": o.color, "count": o.count} for o in objects]
    spec = parse_spec(d)
    spec.prompt = caption(spec, rng, split)
    return spec


def sample_specs(n: int, seed: int, dimensions: list[str] | None = None, split: Split = "train") -> list[SceneSpec]:
    """n specs from one seeded RNG; dimensions cycle through `dimensions` (all of them when None) in turn."""
    rng = random.Random(seed)
    dims = list(dimensions) if dimensions is not None else list(vocab.DIMENSIONS)
    return [sample_spec(rng, dims[i % len(dims)], id=f"{dims[i % len(dims)]}-{i:05d}", split=split) for i in range(n)]


def make_suite(dimension: str, n: int, seed: int, split: Split = "train") -> list[SceneSpec]:
    """A benchmark suite: n specs of one dimension with ids `{dimension}-{i:04d}` and prompts in `split`."""
    rng = random.Random(f"{dimension}/{seed}/{split}")
    return [sample_spec(rng, dimension, id=f"{dimension}-{i:04d}", split=split) for i in range(n)]


def fresh_prompts(n: int, seed: int) -> list[str]:
    """n distinct nano-world prompts (canonical wordings of random specs), so that no timed run hits a prompt cache
    (benchmarks/speed.py and benchmarks/encode_new_prompts.py)."""
    rng = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < n:
        p = canonical_prompt(sample_spec(rng))
        if p not in prompts:
            prompts.append(p)
    return prompts

"""Random world-v2 scenes per category and the held-out compositions that training never shows.

Our choices: every vocabulary value is uniform where a category draws it; backgrounds are uniform over all five;
objects of a scene differ as the category's rule wants (`spec.py`). A drawn scene is kept only if the renderer can lay
it out with its seed, so every sampled spec renders.

Held-out compositions (`heldout_compositions(spec)` names those a spec meets; the `train` sampler never draws one):
colour-shape pairs `HELDOUT_PAIRS` (also as the end colour of a change), four-object scenes (training stops at three),
action-shape pairs `HELDOUT_ACTIONS`, motion-shape pairs `HELDOUT_MOTIONS`, an interaction's agent shape
`HELDOUT_AGENTS`, and a count of six (training counts stop at five).
"""

import random
import zlib
from typing import Any, Literal

from mimir.world.v2 import vocab
from mimir.world.v2.render import render_layout
from mimir.world.v2.spec import SceneSpec, parse_spec


Composition = Literal["train", "heldout"]

HELDOUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {("star", "red"), ("heart", "blue"), ("triangle", "green"), ("cross", "yellow"), ("circle", "purple"),
     ("square", "orange"), ("heart", "white"), ("star", "cyan")}
)  # fmt: skip
HELDOUT_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {("heart", "spin"), ("star", "bounce"), ("square", "pulse"), ("triangle", "blink"), ("circle", "bounce")}
)
HELDOUT_MOTIONS: frozenset[tuple[str, str]] = frozenset({("heart", "up"), ("star", "left"), ("cross", "down")})
HELDOUT_AGENTS: frozenset[str] = frozenset({"star"})
TRAIN_MAX_OBJECTS = 3
TRAIN_MAX_COUNT = 5


def heldout_compositions(spec: SceneSpec) -> list[str]:
    """Which held-out compositions `spec` shows (empty: a training composition)."""
    out = []
    for o in spec.objects:
        for color in (o.color, o.color_end):
            if color and (o.shape, color) in HELDOUT_PAIRS:
                out.append(f"pair:{color} {o.shape}")
        if o.action and (o.shape, o.action) in HELDOUT_ACTIONS:
            out.append(f"action:{o.shape} {o.action}")
        if o.motion and (o.shape, o.motion) in HELDOUT_MOTIONS:
            out.append(f"motion:{o.shape} {o.motion}")
        if o.count > TRAIN_MAX_COUNT:
            out.append(f"count:{o.count}")
    if len(spec.objects) > TRAIN_MAX_OBJECTS:
        out.append(f"objects:{len(spec.objects)}")
    if spec.interaction is not None and spec.objects[spec.interaction.objects[0]].shape in HELDOUT_AGENTS:
        out.append(f"agent:{spec.objects[spec.interaction.objects[0]].shape}")
    return out


def _kinds(rng: random.Random, n: int, distinct_shapes: bool, distinct_colors: bool) -> list[dict[str, Any]]:
    shapes = rng.sample(vocab.SHAPES, n) if distinct_shapes else [rng.choice(vocab.SHAPES) for _ in range(n)]
    colors = (
        rng.sample(list(vocab.COLORS), n) if distinct_colors else [rng.choice(list(vocab.COLORS)) for _ in range(n)]
    )
    return [{"shape": s, "color": c, "size": rng.choice(vocab.SIZES)} for s, c in zip(shapes, colors)]


def _draw(rng: random.Random, category: str, max_objects: int, max_count: int) -> dict[str, Any]:
    """One random spec dict of `category` (unvalidated)."""
    d: dict[str, Any] = {"dimension": category, "background": rng.choice(list(vocab.BACKGROUNDS))}
    if category == "consistent_attribute_binding":
        objs = _kinds(rng, rng.randint(2, max_objects), True, True)
        if rng.random() < 0.25:
            d["arrangement"] = "row"
    elif category == "dynamic_attribute_binding":
        objs = _kinds(rng, rng.randint(1, min(3, max_objects)), True, True)
        used = {o["color"] for o in objs}
        for o in rng.sample(objs, rng.randint(1, min(2, len(objs)))):
            r = rng.random()
            if r < 0.65:
                o["color_end"] = rng.choice([c for c in vocab.COLORS if c not in used])
                used.add(o["color_end"])
            if r >= 0.5:
                o["size_end"] = "large" if o["size"] == "small" else "small"
        if rng.random() < 0.2:
            d["arrangement"] = "row"
    elif category == "spatial_relationships":
        objs = _kinds(rng, rng.randint(2, max_objects), False, False)
        d["relation"] = rng.choice(vocab.RELATIONS)
    elif category == "motion_binding":
        objs = _kinds(rng, rng.randint(2, max_objects), True, True)
        row = rng.random() < 0.25
        dirs = ["up", "down"] if row else list(vocab.DIRECTIONS)
        movers = rng.sample(range(len(objs)), rng.randint(2, min(len(objs), len(dirs))))
        for i, direction in zip(movers, rng.sample(dirs, len(movers))):
            objs[i]["motion"] = direction
        if row:
            d["arrangement"] = "row"
    elif category == "action_binding":
        objs = _kinds(rng, rng.randint(2, min(3, max_objects)), True, True)
        actions = rng.sample(vocab.ACTIONS + (None,), len(objs))
        if all(a is None for a in actions):
            actions[0] = rng.choice(vocab.ACTIONS)
        for o, a in zip(objs, actions):
            if a == "spin" and o["shape"] not in vocab.SPIN_SHAPES:
                a = "bounce" if "bounce" not in actions else None
            if a:
                o["action"] = a
        if not any("action" in o for o in objs):
            objs[0]["action"] = "blink"
        if rng.random() < 0.2:
            d["arrangement"] = "row"
    elif category == "object_interactions":
        objs = _kinds(rng, rng.randint(2, min(3, max_objects)), False, True)
        pair = rng.sample(range(len(objs)), 2)
        kind = rng.choice(vocab.INTERACTIONS)
        d["interaction"] = {"kind": kind, "objects": pair}
        if kind == "push":
            d["interaction"]["direction"] = rng.choice(["left", "right"])
    else:  # generative_numeracy
        objs = _kinds(rng, rng.randint(1, 3), False, False)
        for o in objs:
            o["count"] = rng.randint(1, max_count)
        while sum(o["count"] for o in objs) > vocab.MAX_COPIES:
            max(objs, key=lambda o: o["count"])["count"] -= 1
        if sum(o["count"] for o in objs) > 4:
            for o in objs:
                o["size"] = "small"
    d["objects"] = objs
    return d


def sample_spec(
    rng: random.Random, category: str, id: str, composition: Composition = "train", negation: bool = False
) -> SceneSpec:
    """A valid, renderable spec of `category` with a `-s<seed>` id suffix (the bench's seed convention).

    `composition="train"` never meets a held-out composition; `"heldout"` always meets at least one. `negation`
    (generative numeracy only) adds an `exclude` kind that the scene avoids."""
    if category not in vocab.CATEGORIES:
        raise ValueError(f"category={category!r}: must be one of {', '.join(vocab.CATEGORIES)}")
    heldout = composition == "heldout"
    for _ in range(10_000):
        d = _draw(rng, category, vocab.MAX_OBJECTS if heldout else TRAIN_MAX_OBJECTS,
                  vocab.MAX_COUNT if heldout else TRAIN_MAX_COUNT)  # fmt: skip
        if negation:
            if rng.random() < 0.5:  # one shape in several colours: "five circles, none of them red"
                colors = rng.sample(list(vocab.COLORS), len(d["objects"]))
                for o, c in zip(d["objects"], colors):
                    o.update(shape=d["objects"][0]["shape"], color=c)
            shapes = {o["shape"] for o in d["objects"]}
            colors = {o["color"] for o in d["objects"]}
            if len(shapes) == 1:  # "three circles, none of them red"
                d["exclude"] = {"shape": next(iter(shapes)), "color": rng.choice([c for c in vocab.COLORS
                                                                                  if c not in colors])}  # fmt: skip
            else:  # "... and nothing red"
                d["exclude"] = {"color": rng.choice([c for c in vocab.COLORS if c not in colors])}
        seed = rng.randrange(2**31)
        d.update(id=f"{id}-s{seed}", prompt="-")
        try:
            spec = parse_spec(d)
        except ValueError:
            continue
        if bool(heldout_compositions(spec)) != heldout:
            continue
        try:
            render_layout(spec, seed)
        except ValueError:
            continue
        return spec
    raise RuntimeError(f"no renderable {composition} spec of {category!r} in 10,000 draws")


def suite_rng(category: str, split: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(f"{category}/{split}/{seed}".encode()))

"""The facts a world-v2 caption states, as class labels for the text probe (`benchmarks/text_probe.py --world v2`).

A fact is one classification target that the caption's text determines, e.g. "the colour of the second object the
caption names" or "the motion of the first". Objects are numbered in the order the caption names them (their
*slot*): the spec's order in every category (`mimir.world.v2.captions` names objects in index order, also in
ordinal and coreference prompts), except object interactions, whose captions name the agent first and the patient
second (`{a} pushes {b}`, `{a} and {b} collide`), then the others. Slots stop at `TRAIN_MAX_OBJECTS` (three): a
fourth object only occurs in held-out compositions, so no probe could be fitted on it.

Facts per category (our choice, following what each category's verdict checks, `mimir/world/v2/SCHEMA.md`):

- consistent attribute binding: `color@i`, `shape@i`, `size@i` per slot i;
- dynamic attribute binding: `color@i` (the start colour), `shape@i`, `color_end@i` (the end colour, or `none`),
  `size_change@i` (`grow`, `shrink`, `none`), and `size@i` (the start size) where the size changes (only then is
  it named);
- spatial relationships: `color@i`, `shape@i`, `relation` (slot 0 relative to slot 1);
- motion binding: `color@i`, `shape@i`, `motion@i` (a direction or `still`);
- action binding: `color@i`, `shape@i`, `action@i` (an action or `none`);
- object interactions: `color@i`, `shape@i` (slot 0 the agent, 1 the patient), `interaction` (the kind),
  `push_direction` (push only);
- generative numeracy: `color@i`, `shape@i`, `count@i` (copies of the i-th kind), `total` (copies in the scene).

A fact the text leaves open is undefined (-1): sizes outside the two attribute-binding categories (captions do not
name them), and in a negation prompt "five circles, none of them red" every per-kind colour and count (the text gives
only the shape and the total).
"""

from collections.abc import Sequence

import numpy as np

from mimir.world.v2 import vocab
from mimir.world.v2.sampler import HELDOUT_ACTIONS, HELDOUT_AGENTS, HELDOUT_MOTIONS, HELDOUT_PAIRS, TRAIN_MAX_OBJECTS
from mimir.world.v2.spec import SceneSpec


SLOTS: int = TRAIN_MAX_OBJECTS
_SLOT_CLASSES: dict[str, tuple[str, ...]] = {
    "color": tuple(vocab.COLORS),
    "shape": vocab.SHAPES,
    "size": vocab.SIZES,
    "color_end": (*vocab.COLORS, "none"),
    "size_change": ("grow", "shrink", "none"),
    "motion": (*vocab.DIRECTIONS, "still"),
    "action": (*vocab.ACTIONS, "none"),
    "count": tuple(str(n) for n in range(1, vocab.MAX_COUNT + 1)),
}
# fact name -> its classes, in a fixed order: per-slot facts "<attribute>@<slot>", then the scene facts
FACT_CLASSES: dict[str, tuple[str, ...]] = {
    **{f"{a}@{i}": classes for a, classes in _SLOT_CLASSES.items() for i in range(SLOTS)},
    "relation": vocab.RELATIONS,
    "interaction": vocab.INTERACTIONS,
    "push_direction": ("left", "right"),
    "total": tuple(str(n) for n in range(1, vocab.MAX_COPIES + 1)),
}
FACTS: tuple[str, ...] = tuple(FACT_CLASSES)


def fact_group(fact: str) -> str:
    """'color@1' -> 'color'; a scene fact is its own group."""
    return fact.partition("@")[0]


def mention_order(spec: SceneSpec) -> list[int]:
    """Object indices in the order the caption names them (see the module docstring)."""
    order = list(range(len(spec.objects)))
    if spec.interaction is not None:
        a, b = spec.interaction.objects
        order = [a, b] + [i for i in order if i not in (a, b)]
    return order


def spec_facts(spec: SceneSpec) -> dict[str, str]:
    """The facts that the caption of a v2 `spec` states, fact -> class (facts it leaves open are absent)."""
    dim = spec.dimension
    if dim not in vocab.CATEGORIES:
        raise ValueError(f"dimension={dim!r}: not a world-v2 category")
    out: dict[str, str] = {}
    # "five circles, none of them red": one shape in several colours, only the shape and the total are stated
    shape_only = spec.exclude is not None and spec.exclude.shape is not None
    for slot, index in enumerate(mention_order(spec)[:SLOTS]):
        o = spec.objects[index]
        out[f"shape@{slot}"] = o.shape
        if shape_only:
            continue
        out[f"color@{slot}"] = o.color
        if dim == "consistent_attribute_binding" or (dim == "dynamic_attribute_binding" and o.size_end is not None):
            out[f"size@{slot}"] = o.size
        if dim == "dynamic_attribute_binding":
            out[f"color_end@{slot}"] = o.color_end or "none"
            out[f"size_change@{slot}"] = {None: "none", "large": "grow", "small": "shrink"}[o.size_end]
        elif dim == "motion_binding":
            out[f"motion@{slot}"] = o.motion or "still"
        elif dim == "action_binding":
            out[f"action@{slot}"] = o.action or "none"
        elif dim == "generative_numeracy":
            out[f"count@{slot}"] = str(o.count)
    if dim == "spatial_relationships":
        out["relation"] = spec.relation
    if spec.interaction is not None:
        out["interaction"] = spec.interaction.kind
        if spec.interaction.direction is not None:
            out["push_direction"] = spec.interaction.direction
    if dim == "generative_numeracy":
        out["total"] = str(sum(o.count for o in spec.objects))
    return out


def heldout_facts(spec: SceneSpec) -> set[str]:
    """The facts of `spec` that hold a held-out composition (`mimir.world.v2.sampler.heldout_compositions`): the
    colour and shape of an object of a held-out colour-shape pair (the end colour where the pair is the end), the
    action or motion and shape of a held-out action- or motion-shape pair, the agent's shape and the interaction kind
    of a held-out agent. A fourth object has no slot, and a count of six is a class no training caption shows (a probe
    fitted on them cannot name it), so neither is one."""
    out: set[str] = set()
    for slot, index in enumerate(mention_order(spec)[:SLOTS]):
        o = spec.objects[index]
        if (o.shape, o.color) in HELDOUT_PAIRS:
            out |= {f"color@{slot}", f"shape@{slot}"}
        if o.color_end and (o.shape, o.color_end) in HELDOUT_PAIRS:
            out |= {f"color_end@{slot}", f"shape@{slot}"}
        if o.action and (o.shape, o.action) in HELDOUT_ACTIONS:
            out |= {f"action@{slot}", f"shape@{slot}"}
        if o.motion and (o.shape, o.motion) in HELDOUT_MOTIONS:
            out |= {f"motion@{slot}", f"shape@{slot}"}
    if spec.interaction is not None and spec.objects[spec.interaction.objects[0]].shape in HELDOUT_AGENTS:
        out |= {"shape@0", "interaction"}
    return out & set(spec_facts(spec))


def fact_arrays(specs: Sequence[SceneSpec], only_heldout: bool = False) -> dict[str, np.ndarray]:
    """fact -> class index per spec, -1 where the caption leaves it open (with `only_heldout`: also where the fact
    holds no held-out composition, `heldout_facts`): (N,) int64 each."""
    facts = [spec_facts(s) for s in specs]
    if only_heldout:
        facts = [{f: c for f, c in x.items() if f in heldout_facts(s)} for x, s in zip(facts, specs)]
    return {f: np.array([FACT_CLASSES[f].index(x[f]) if f in x else -1 for x in facts], dtype=np.int64) for f in FACTS}


def category_facts(category: str) -> tuple[str, ...]:
    """The facts a caption of `category` may state (in `FACTS` order)."""
    groups = {"color", "shape"} | {
        "consistent_attribute_binding": {"size"},
        "dynamic_attribute_binding": {"size", "color_end", "size_change"},
        "spatial_relationships": {"relation"},
        "motion_binding": {"motion"},
        "action_binding": {"action"},
        "object_interactions": {"interaction", "push_direction"},
        "generative_numeracy": {"count", "total"},
    }[category]
    return tuple(f for f in FACTS if fact_group(f) in groups)

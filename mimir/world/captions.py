"""Captions of nano-world scenes: varied training wordings, a held-out split and one canonical wording.

The wording tables (templates, synonyms, indirect descriptions such as "a circle the colour of grass" or "the sun
rising") are data shipped with the package: `mimir/prompts/world/templates_train.json` and
`mimir/prompts/world/templates_heldout.json`, loaded on first use. The two splits share only the plain vocabulary
words (`red`, `circle`, `two`, ...); every template, synonym and indirect phrase of the held-out file is absent from
training captions, so scores on held-out prompts measure text understanding rather than template matching.

`canonical_prompt` gives one fixed plain wording per spec. Reading a prompt back into a spec is the job of
`mimir.world.reader.parse_prompt`, which knows the wordings of both splits.
"""

import functools
import json
import random
import re
from importlib.resources import files
from typing import Any, Literal

from mimir.world.spec import SceneObject, SceneSpec


Split = Literal["train", "heldout"]

PROMPTS_DIR = files("mimir") / "prompts" / "world"
INDIRECT_PROB = 0.15  # chance that a noun phrase uses an indirect colour or shape description (ours)
IDIOM_PROB = 0.5  # chance that a sun-like scene is captioned by its idiom (ours)

_COUNT_WORDS = {1: "a", 2: "two", 3: "three", 4: "four"}
_PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}
_RELATION_WORDS = {"left_of": "to the left of", "right_of": "to the right of", "above": "above", "below": "below"}
_INVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
_SLOT = re.compile(r"\{(\w+)(?::([^/}]*)/([^}]*))?\}")


@functools.cache
def load_tables(split: Split) -> dict[str, Any]:
    """The wording tables of one split (see the `_doc` entry of the JSON file)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split={split!r}: must be 'train' or 'heldout'")
    return json.loads((PROMPTS_DIR / f"templates_{split}.json").read_text(encoding="utf-8"))


def _form(entry: str, plural: bool) -> str:
    """Pick the singular or plural form of a 'sg|pl' entry (an entry without '|' serves both)."""
    sg, _, pl = entry.partition("|")
    return (pl or sg) if plural else sg


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _is_plural(objects: list[SceneObject]) -> bool:
    return len(objects) > 1 or objects[0].count > 1


# ---------------------------------------------------------------------------------------------------------------
# canonical wording


def _plain_np(obj: SceneObject, definite: bool = False) -> str:
    shape = _PLURALS[obj.shape] if obj.count > 1 else obj.shape
    if definite:
        det = "the" if obj.count == 1 else f"the {_COUNT_WORDS[obj.count]}"
    else:
        det = _article(obj.color) if obj.count == 1 else _COUNT_WORDS[obj.count]
    return f"{det} {obj.color} {shape}"


def canonical_prompt(spec: SceneSpec) -> str:
    """One fixed plain wording of `spec`, e.g. "two red circles to the left of a blue square"."""
    nps = [_plain_np(o) for o in spec.objects]
    dim = spec.dimension
    if dim == "spatial_relationship":
        text = f"{nps[0]} {_RELATION_WORDS[spec.relation]} {nps[1]}"
    elif dim in ("motion", "temporal_order"):
        steps = spec.motion
        text = f"{nps[steps[0].object]} moving {steps[0].direction}"
        if len(steps) == 2:
            same = steps[1].object == steps[0].object
            text += (
                f", then {steps[1].direction}"
                if same
                else f", then {nps[steps[1].object]} moving {steps[1].direction}"
            )
        moved = {s.object for s in steps}
        static = [nps[i] for i in range(len(nps)) if i not in moved]
        if static:
            text += f", {static[0]} standing still"
    elif dim == "appearance":
        others = [nps[i] for i in range(len(nps)) if i != spec.event.object]
        verb = spec.event.event + ("s" if spec.objects[spec.event.object].count == 1 else "")
        text = f"{nps[spec.event.object]} {verb}"
        if others:
            text = f"{others[0]}, and {text}"
    else:
        text = " and ".join(nps)
    if spec.lighting is not None:
        text += f", the background {spec.lighting}"
    return text


# ---------------------------------------------------------------------------------------------------------------
# varied captions


def _np(obj: SceneObject, t: dict[str, Any], rng: random.Random, definite: bool = False) -> str:
    """A noun phrase for `obj` in the wording of tables `t`; sometimes an indirect description."""
    plural = obj.count > 1
    color = rng.choice(t["colors"][obj.color])
    shape = _form(rng.choice(t["shapes"][obj.shape]), plural)
    mode = rng.random()
    if definite:
        det = "the" if not plural else f"the {_COUNT_WORDS[obj.count]}"
        return f"{det} {color} {shape}"
    if mode < INDIRECT_PROB / 2:
        head = f"{shape} the colour of {rng.choice(t['color_things'][obj.color])}"
    elif mode < INDIRECT_PROB:
        head = f"{color} {_form(rng.choice(t['shape_descriptions'][obj.shape]), plural)}"
    else:
        head = f"{color} {shape}"
    det = rng.choice(t["counts"][str(obj.count)])
    if det == "a":
        det = _article(head)
    return f"{det} {head}"


def _fill(template: str, values: dict[str, str], plural: dict[str, bool]) -> str:
    """Fill `{slot}` and `{vK:sg/pl}` slots; `plural[K]` says the number of the subject the verb agrees with."""

    def sub(m: re.Match) -> str:
        name, sg, pl = m.group(1), m.group(2), m.group(3)
        if sg is not None:
            return pl if plural[name[1:]] else sg
        return values[name]

    return _SLOT.sub(sub, template)


def _idiom(spec: SceneSpec) -> str | None:
    """The idiom key of a sun-like scene: one yellow circle moving up while it brightens (or down, darkens)."""
    if spec.dimension != "motion" or len(spec.objects) != 1:
        return None
    if (spec.objects[0].shape, spec.objects[0].color, spec.objects[0].count) != ("circle", "yellow", 1):
        return None
    if (spec.motion[0].direction, spec.lighting) == ("up", "brightens"):
        return "sun_rising"
    if (spec.motion[0].direction, spec.lighting) == ("down", "darkens"):
        return "sun_setting"
    return None


def caption(spec: SceneSpec, rng: random.Random, split: Split = "train") -> str:
    """A caption of `spec` drawn with `rng` from the wordings of `split` (never the other split's)."""
    t = load_tables(split)
    idiom = _idiom(spec)
    if idiom is not None and rng.random() < IDIOM_PROB:
        return rng.choice(t["idioms"][idiom])

    objects = spec.objects
    dim = spec.dimension
    nps = [_np(o, t, rng) for o in objects]
    values: dict[str, str] = {"objs": " and ".join(nps)}
    plural: dict[str, bool] = {"": _is_plural(objects)}
    for i, o in enumerate(objects):
        values[f"obj{i}"] = nps[i]
        values[f"the_obj{i}"] = _np(o, t, rng, definite=True)
        values[f"shape{i}"] = _form(rng.choice(t["shapes"][o.shape]), o.count > 1)
        values[f"color{i}"] = rng.choice(t["colors"][o.color])
        plural[str(i)] = o.count > 1
    mentioned: set[int] = set(range(len(objects)))  # objects the filled template names

    if dim == "spatial_relationship":
        values["rel"] = rng.choice(t["relations"][spec.relation])
        values["rel_inv"] = rng.choice(t["relations"][_INVERSE[spec.relation]])
    elif dim == "motion":
        step = spec.motion[0]
        entries = t["directions"][step.direction]
        finite = rng.choice([e for e in entries if "|" in e])  # "moves left|move left"
        values.update(
            mover=nps[step.object],
            move=_form(rng.choice(entries), objects[step.object].count > 1),
            move_ing=rng.choice([e for e in entries if "|" not in e]),  # "moving left"
            move_bare=_form(finite, True),
        )
        plural[""] = objects[step.object].count > 1
        mentioned = {step.object}
    elif dim == "temporal_order":
        mentioned = {s.object for s in spec.motion}
    elif dim == "appearance":
        e = spec.event.object
        values.update(ev_obj=nps[e], event=_form(rng.choice(t["events"][spec.event.event]), objects[e].count > 1))
        plural[""] = objects[e].count > 1
        mentioned = {e}
    if dim == "lighting" or spec.lighting is not None:
        values["light"] = rng.choice(t["lighting"][spec.lighting])

    templates = [
        tpl for tpl in t["templates"][dim] if not tpl.startswith("1:") or (len(objects) == 1 and objects[0].count == 1)
    ]
    template = rng.choice(templates).removeprefix("1:")
    if dim == "temporal_order":
        values.update(_temporal_clauses(spec, template, nps, t, rng))
    text = _fill(template, values, plural)

    others = [i for i in range(len(objects)) if i not in mentioned]
    if others:
        suffix = rng.choice(t["static_suffix"])
        text += _fill(suffix, {"other": nps[others[0]]}, {"": objects[others[0]].count > 1})
    if spec.lighting is not None and dim != "lighting":
        text += _fill(rng.choice(t["light_suffix"]), values, plural)
    return text


def _temporal_clauses(
    spec: SceneSpec, template: str, nps: list[str], t: dict[str, Any], rng: random.Random
) -> dict[str, str]:
    """The clauses {step0}, {step1}: the clause the template names first gets the noun phrase, the later one
    a pronoun when both steps move the same object."""
    order = [0, 1] if template.index("{step0}") < template.index("{step1}") else [1, 0]
    same = spec.motion[0].object == spec.motion[1].object
    clauses = {}
    for rank, s in enumerate(order):
        step = spec.motion[s]
        pl = spec.objects[step.object].count > 1
        subject = nps[step.object] if rank == 0 or not same else ("they" if pl else "it")
        # a clause needs a finite verb: "it moves up", not "it moving up"
        move = _form(rng.choice([e for e in t["directions"][step.direction] if "|" in e]), pl)
        clauses[f"step{s}"] = f"{subject} {move}"
    return clauses

"""Captions of world-v2 scenes: training wordings, held-out wordings and precise-language prompts.

Wording tables are data shipped with the package (`mimir/prompts/world/v2_train.json`, `v2_heldout.json`,
`v2_precise.json`). The held-out table shares only the plain vocabulary words with training; the precise-language
phrases (world knowledge, arithmetic, ordinals, coreference, negation) never occur in a training caption. Both are
checked by tests/test_world_v2.py.

Every caption states every fact its category checks (each object's colour and shape; its size where sizes are
checked; its motion, action, change or count), so a video that follows the caption passes the verdict. Our choice:
backgrounds are always named (a place), though no verdict checks them.
"""

import functools
import json
import random
from collections.abc import Callable
from importlib.resources import files
from typing import Any, Literal

from mimir.world.v2.spec import SceneObject, SceneSpec


Split = Literal["train", "heldout"]
PROMPTS_DIR = files("mimir") / "prompts" / "world"
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


@functools.cache
def load_tables(split: Split | Literal["precise"]) -> dict[str, Any]:
    if split not in ("train", "heldout", "precise"):
        raise ValueError(f"split={split!r}: must be 'train', 'heldout' or 'precise'")
    return json.loads((PROMPTS_DIR / f"v2_{split}.json").read_text(encoding="utf-8"))


def _form(entry: str, plural: bool) -> str:
    sg, _, pl = entry.partition("|")
    return (pl or sg) if plural else sg


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _det(count: int, t: dict[str, Any], rng: random.Random, head: str) -> str:
    det = rng.choice(t["counts"][str(count)])
    return _article(head) if det == "a" else det


def noun_phrase(o: SceneObject, t: dict[str, Any], rng: random.Random, size: bool = False) -> str:
    """'two red circles', 'a small scarlet disc' in the wording of tables `t`."""
    plural = o.count > 1
    head = f"{rng.choice(t['colors'][o.color])} {_form(rng.choice(t['shapes'][o.shape]), plural)}"
    if size:
        head = f"{rng.choice(t['sizes'][o.size])} {head}"
    return f"{_det(o.count, t, rng, head)} {head}"


def knowledge_phrase(o: SceneObject, t: dict[str, Any], rng: random.Random, size: bool = False) -> str:
    """World knowledge: the colour or the shape (or both) named by what has it: 'a star the colour of a ripe
    banana', 'a red shape with three corners'."""
    p = load_tables("precise")
    plural = o.count > 1
    size_word = f"{rng.choice(t['sizes'][o.size])} " if size else ""
    mode = rng.randrange(3)
    if mode == 0:  # colour by a thing
        shape = _form(rng.choice(t["shapes"][o.shape]), plural)
        head = f"{size_word}{shape} the colour of {rng.choice(p['things'][o.color])}"
    elif mode == 1:  # shape by a description
        desc = rng.choice(p["shape_descriptions"][o.shape])
        head = f"{size_word}{rng.choice(t['colors'][o.color])} {desc}" + ("s" if plural else "")
    else:  # both
        desc = rng.choice(p["shape_descriptions"][o.shape])
        head = f"{size_word}{desc}{'s' if plural else ''} the colour of {rng.choice(p['things'][o.color])}"
    return f"{_det(o.count, t, rng, head)} {head}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clauses(clauses: list[str], t: dict[str, Any], rng: random.Random) -> str:
    text = clauses[0]
    for c in clauses[1:]:
        text += rng.choice(t["joiners"]) + c
    return text


def _change(o: SceneObject, t: dict[str, Any], rng: random.Random) -> str | None:
    parts = []
    if o.color_end:
        parts.append(rng.choice(t["color_change"]).format(c=rng.choice(t["colors"][o.color_end])))
    if o.size_end:
        parts.append(rng.choice(t["grow" if o.size_end == "large" else "shrink"]))
    return " and ".join(parts) if parts else None


def _body(spec: SceneSpec, t: dict[str, Any], rng: random.Random, np: Callable, refs: list[str] | None = None) -> str:
    """The scene's content in tables `t`; `np(obj, size)` names an object. With `refs`, clauses name object i by
    `refs[i]` after an introduction of every object (coreference)."""
    objs = spec.objects
    dim = spec.dimension
    sized = {
        "consistent_attribute_binding": [True] * len(objs),
        "dynamic_attribute_binding": [o.size_end is not None for o in objs],
    }.get(dim, [False] * len(objs))
    nps = [np(o, s) for o, s in zip(objs, sized)]
    subj = refs or nps
    intro = f"{_join(nps)}; " if refs else ""
    if dim in ("consistent_attribute_binding", "generative_numeracy"):
        if dim == "consistent_attribute_binding" and spec.arrangement == "row" and not refs:
            return rng.choice(t["row"]).format(objs=_join(nps))
        return _join(nps)
    if dim == "spatial_relationships":
        text = f"{subj[0]} {'is ' if refs else ''}{rng.choice(t['relations'][spec.relation])} {subj[1]}"
        if len(objs) > 2:
            text += rng.choice(t["others"]).format(o=_join(nps[2:]))
        return intro + text
    if dim == "object_interactions":
        a, b = spec.interaction.objects
        if spec.interaction.kind == "push":
            text = rng.choice(t["push"]).format(a=subj[a], b=subj[b], d=spec.interaction.direction)
        else:
            text = rng.choice(t["collide"]).format(a=subj[a], b=subj[b])
        others = [nps[i] for i in range(len(objs)) if i not in (a, b)]
        if others:
            text += rng.choice(t["others"]).format(o=_join(others))
        return intro + text
    clauses = []
    for i, o in enumerate(objs):
        if dim == "motion_binding":
            verb = rng.choice(t["directions"][o.motion]) if o.motion else rng.choice(t["still"])
        elif dim == "action_binding":
            verb = rng.choice(t["actions"][o.action]) if o.action else rng.choice(t["no_action"])
        else:  # dynamic
            verb = _change(o, t, rng) or rng.choice(t["no_change"])
        clauses.append(f"{subj[i]} {verb}")
    return intro + _clauses(clauses, t, rng)


_CLAUSE_BODIES = ("dynamic_attribute_binding", "motion_binding", "action_binding", "object_interactions")


def _scene(spec: SceneSpec, body: str, t: dict[str, Any], rng: random.Random) -> str:
    """The body placed in a template with the place: "a video of ..." frames noun phrases, clauses get their own."""
    bg = rng.choice(t["backgrounds"][spec.background])
    template = rng.choice(t["templates"]["clause" if spec.dimension in _CLAUSE_BODIES else "scene"])
    if "{bg_cap}" in template and not bg:
        template = "{body} {bg}"
    text = template.format(body=body, bg=bg, bg_cap=bg[:1].upper() + bg[1:])
    return " ".join(text.split()).strip(" ,")


def caption(spec: SceneSpec, rng: random.Random, split: Split = "train") -> str:
    """A caption of a v2 `spec` in the wordings of `split` (never the other split's)."""
    t = load_tables(split)
    body = _body(spec, t, rng, lambda o, size: noun_phrase(o, t, rng, size))
    return _scene(spec, body, t, rng)


# ---------------------------------------------------------------------------------------------------------------
# precise language


PHENOMENA: dict[str, tuple[str, ...]] = {
    "consistent_attribute_binding": ("world_knowledge", "coreference"),
    "dynamic_attribute_binding": ("world_knowledge", "ordinal", "coreference", "negation"),
    "spatial_relationships": ("world_knowledge", "ordinal", "coreference"),
    "motion_binding": ("world_knowledge", "ordinal", "coreference", "negation"),
    "action_binding": ("world_knowledge", "ordinal", "coreference", "negation"),
    "object_interactions": ("world_knowledge", "coreference", "negation"),
    "generative_numeracy": ("world_knowledge", "arithmetic", "negation"),
}


def precise_fits(spec: SceneSpec, phenomenon: str) -> bool:
    """Whether `precise_caption` can pose `spec` with `phenomenon` (the sampler draws until one fits)."""
    objs = spec.objects
    if phenomenon not in PHENOMENA[spec.dimension]:
        return False
    if phenomenon == "ordinal":
        return spec.dimension == "spatial_relationships" or (spec.arrangement == "row" and len(objs) >= 2)
    if phenomenon == "coreference":
        return len(objs) >= 2
    if phenomenon == "arithmetic":
        return len(objs) >= 2 or objs[0].count >= 2
    if phenomenon == "negation":
        if spec.dimension == "generative_numeracy":
            return spec.exclude is not None
        if spec.dimension == "object_interactions":
            return True
        field = {"motion_binding": "motion", "action_binding": "action"}.get(spec.dimension)
        if field:
            return any(getattr(o, field) is None for o in objs)
        return any(o.color_end is None and o.size_end is None for o in objs)
    return True


def _refs(spec: SceneSpec) -> list[str]:
    """How to refer back to each object: 'the square' if its shape is unique, else 'the red one', else both."""
    out = []
    for o in spec.objects:
        if sum(p.shape == o.shape for p in spec.objects) == 1:
            out.append(f"the {o.shape}")
        elif sum(p.color == o.color for p in spec.objects) == 1:
            out.append(f"the {o.color} one")
        else:
            out.append(f"the {o.color} {o.shape}")
    return out


def _arithmetic(spec: SceneSpec, t: dict[str, Any], rng: random.Random) -> str:
    """Counts as arithmetic: 'two blue squares and one more red circle than blue squares', 'one plus two stars'."""
    objs = spec.objects
    head = lambda o: f"{rng.choice(t['colors'][o.color])} {_form(rng.choice(t['shapes'][o.shape]), True)}"  # noqa: E731
    if len(objs) == 1:
        n = objs[0].count
        a = rng.randint(1, n - 1)
        return f"{_NUMBER_WORDS[a]} plus {_NUMBER_WORDS[n - a]} {head(objs[0])}"
    a, b = objs[0], objs[1]
    base = noun_phrase(a, t, rng)
    if b.count == a.count:
        rel = f"as many {head(b)} as {head(a)}"
    elif b.count == 2 * a.count:
        rel = f"twice as many {head(b)} as {head(a)}"
    elif b.count > a.count:
        rel = f"{_NUMBER_WORDS[b.count - a.count]} more {head(b)} than {head(a)}"
    else:
        rel = f"{_NUMBER_WORDS[a.count - b.count]} fewer {head(b)} than {head(a)}"
    text = f"{base} and {rel}"
    if len(objs) == 3:
        text += f", plus {noun_phrase(objs[2], t, rng)}"
    return text


def precise_caption(spec: SceneSpec, rng: random.Random, phenomenon: str) -> str:
    """A prompt for `spec` that needs `phenomenon` (vocab.LANGUAGE) to be understood; training words otherwise."""
    if not precise_fits(spec, phenomenon):
        raise ValueError(f"spec {spec.id!r} cannot be posed with {phenomenon!r}")
    t = load_tables("train")
    p = load_tables("precise")
    plain = lambda o, size: noun_phrase(o, t, rng, size)  # noqa: E731
    objs = spec.objects
    dim = spec.dimension
    if phenomenon == "world_knowledge":
        body = _body(spec, t, rng, lambda o, size: knowledge_phrase(o, t, rng, size))
    elif phenomenon == "coreference":
        if dim == "consistent_attribute_binding":  # shapes first, their attributes after
            shapes = _join([f"{_article(o.shape)} {o.shape}" for o in objs])
            attrs = [f"the {o.shape} is {o.size} and {o.color}" for o in objs]
            body = f"there is {shapes}; {', '.join(attrs)}"
        else:
            body = _body(spec, t, rng, plain, refs=_refs(spec))
    elif phenomenon == "ordinal":
        if dim == "spatial_relationships":
            nps = [plain(o, False) for o in objs]
            rel = rng.choice(t["relations"][spec.relation])
            body = f"{nps[0]} and {nps[1]}: the first is {rel} the second"
            if len(objs) > 2:
                body += rng.choice(t["others"]).format(o=_join(nps[2:]))
        else:
            refs = [f"the {p['ordinals'][i]} from the left" for i in range(len(objs))]
            listed = _join([plain(o, dim == "dynamic_attribute_binding" and o.size_end is not None) for o in objs])
            row = f"{_NUMBER_WORDS[len(objs)]} shapes stand in a row, from left to right {listed}"
            body = row + "; " + _body(spec, t, rng, plain, refs=refs).split("; ", 1)[1]
    elif phenomenon == "arithmetic":
        body = _arithmetic(spec, t, rng)
    else:  # negation
        if dim == "generative_numeracy":
            ex = spec.exclude
            if ex.shape is not None:  # every object has that shape: "five circles, none of them red"
                n = sum(o.count for o in objs)
                body = f"{_NUMBER_WORDS[n]} {_form(rng.choice(t['shapes'][ex.shape]), n > 1)}, none of them {ex.color}"
            else:
                body = f"{_join([plain(o, False) for o in objs])}, and nothing {ex.color}"
        elif dim == "object_interactions":
            body = _body(spec, t, rng, plain)
            body += (
                ", not the other way round" if spec.interaction.kind == "push" else ", and they do not stick together"
            )
        else:
            key = {"motion_binding": ("motion", "negated_still"), "action_binding": ("action", "negated_action")}
            field, phrases = key.get(dim, (None, "negated_change"))
            nps = [plain(o, s) for o, s in zip(objs, [dim == "dynamic_attribute_binding" and o.size_end is not None
                                                       for o in objs])]  # fmt: skip
            clauses = []
            for o, np_ in zip(objs, nps):
                done = (o.color_end or o.size_end) if field is None else getattr(o, field)
                if not done:
                    clauses.append(f"{np_} {rng.choice(p[phrases])}")
                elif dim == "motion_binding":
                    clauses.append(f"{np_} {rng.choice(t['directions'][o.motion])}")
                elif dim == "action_binding":
                    clauses.append(f"{np_} {rng.choice(t['actions'][o.action])}")
                else:
                    clauses.append(f"{np_} {_change(o, t, rng)}")
            body = _clauses(clauses, t, rng)
    return _scene(spec, body, t, rng)

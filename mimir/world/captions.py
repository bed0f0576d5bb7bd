"""Captions of nano-world scenes: varied training wordings, a held-out split, one canonical wording, and a parser.

The wording tables (templates, synonyms, indirect descriptions such as "a circle the colour of grass" or "the sun
rising") are data shipped with the package: `mimir/prompts/world/templates_train.json` and
`mimir/prompts/world/templates_heldout.json`, loaded on first use. The two splits share only the plain vocabulary
words (`red`, `circle`, `two`, ...); every template, synonym and indirect phrase of the held-out file is absent from
training captions, so scores on held-out prompts measure text understanding rather than template matching.

`canonical_prompt` gives one fixed plain wording per spec; `parse_prompt` reads the canonical wording and the
common training wordings back into a spec (the app uses it to score a user's prompt).
"""

import functools
import json
import random
import re
from importlib.resources import files
from typing import Any, Literal

from mimir.world import vocab
from mimir.world.spec import SceneObject, SceneSpec, parse_spec


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


# ---------------------------------------------------------------------------------------------------------------
# parsing


def _alternation(words: Any) -> str:
    # longest first, so "a pair of" wins over "a"
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _pattern(template: str, slots: dict[str, str]) -> str:
    """A template as a regex: `{v:sits/sit}` matches either form, `{name}` the regex `slots[name]`."""

    def slot(part: str) -> str:
        m = _SLOT.fullmatch(part)
        if m[2] is not None:
            return f"(?:{re.escape(m[2])}|{re.escape(m[3])})"
        return slots[m[1]]

    parts = re.split(r"(\{[^}]*\})", template)
    return "".join(slot(x) if x.startswith("{") else re.escape(x) for x in parts)


@functools.cache
def _lexicon() -> dict[str, Any]:
    """Word -> meaning maps and regexes built from the training tables plus the canonical words."""
    t = load_tables("train")
    colors = {w: c for c, ws in t["colors"].items() for w in ws} | {c: c for c in vocab.COLORS}
    things = {w: c for c, ws in t["color_things"].items() for w in ws}
    shapes: dict[str, tuple[str, bool]] = {}
    for table in ("shapes", "shape_descriptions"):
        for s, entries in t[table].items():
            for e in entries:
                shapes[_form(e, False)] = (s, False)
                shapes[_form(e, True)] = (s, True)
    counts = {w: int(n) for n, ws in t["counts"].items() for w in ws} | {"an": 1, "the": 1}
    counts |= {f"the {_COUNT_WORDS[n]}": n for n in range(2, vocab.MAX_COUNT + 1)}  # "the two red circles"
    relations = {w: r for r, ws in t["relations"].items() for w in ws}
    directions = {}
    for d, entries in t["directions"].items():
        for e in entries + [f"moving {d}", d]:
            directions[_form(e, False)] = d
            directions[_form(e, True)] = d
    events = {_form(e, pl): ev for ev, es in t["events"].items() for e in es for pl in (False, True)}
    lighting = {w: lg for lg, ws in t["lighting"].items() for w in ws} | {
        f"the background {lg}": lg for lg in vocab.LIGHTINGS
    }
    idioms = {w: k for k, ws in t["idioms"].items() for w in ws}

    # text a training template puts around its content ("a video of ...", "... on a dark background")
    frames = set()
    for templates in t["templates"].values():
        for tpl in templates:
            if tpl.startswith("1:"):
                continue
            names = [m[1] for m in _SLOT.finditer(tpl) if m[2] is None]
            head, tail = tpl.find("{" + names[0] + "}"), tpl.rfind("}") + 1
            prefix, suffix = tpl[:head], tpl[tail:]
            if prefix or suffix:
                frames.add(_pattern(prefix, {}) + "(?P<core>.+)" + _pattern(suffix, {}))
    # a still object named after the main clause: ", a blue square standing still"
    static = [_pattern(x, {"other": "(?P<np>[^,;]+?)"}) for x in t["static_suffix"]]
    static.append(r",? (?P<np>[^,;]+?) (?:standing|staying) still")
    joiners = {tpl.split("{objs}")[1].split("{light}")[0] for tpl in t["templates"]["lighting"]}
    joiners |= {x.split("{light}")[0] for x in t["light_suffix"]}
    return dict(
        colors=colors,
        things=things,
        shapes=shapes,
        counts=counts,
        relations=relations,
        directions=directions,
        events=events,
        lighting=lighting,
        idioms=idioms,
        frames=sorted(frames, key=len, reverse=True),
        static=static,
        light_joiners=sorted(joiners | {", ", " and "}, key=len, reverse=True),
    )


def _parse_np(text: str) -> dict[str, Any] | None:
    """'two red circles' -> {"shape": "circle", "color": "red", "count": 2}; also 'a shape with three corners'
    style descriptions and 'a circle the colour of grass'; None if not such a noun phrase."""
    lex = _lexicon()
    det = rf"(?:(?P<det>{_alternation(lex['counts'])}) )?"
    shape = rf"(?P<shape>{_alternation(lex['shapes'])})"
    m = re.fullmatch(rf"{det}(?P<color>{_alternation(lex['colors'])}) {shape}", text)
    if m is not None:
        color = lex["colors"][m["color"]]
    else:
        m = re.fullmatch(rf"{det}{shape} the colou?r of (?P<thing>{_alternation(lex['things'])})", text)
        if m is None:
            return None
        color = lex["things"][m["thing"]]
    shape, plural = lex["shapes"][m["shape"]]
    count = lex["counts"].get(m["det"] or "", 1 if not plural else 0)
    if m["det"] == "the" and plural:
        return None  # "the red circles": how many?
    if count == 0 or (count > 1) != plural:
        return None  # no number, or "two red circle"
    return {"shape": shape, "color": color, "count": count}


def _parse_motion_clause(text: str) -> tuple[dict[str, Any] | None, str] | None:
    """'a red circle moving left' -> (object, 'left'); 'it moves up' / 'up' -> (None, 'up')."""
    lex = _lexicon()
    m = re.fullmatch(rf"(?:(?P<np>.+?) )?(?P<move>{_alternation(lex['directions'])})", text)
    if m is None:
        return None
    if m["np"] is None or m["np"] in ("it", "they"):
        return None, lex["directions"][m["move"]]
    obj = _parse_np(m["np"])
    return None if obj is None else (obj, lex["directions"][m["move"]])


def _parse_events(text: str) -> dict[str, Any] | None:
    """Motion and appearance scenes: '<np> moving left', '<clause>, then <clause>', '<np> appears'."""
    lex = _lexicon()
    m = re.fullmatch(r"(?:first,? )?(?P<a>.+?),? (?:and )?(?:then|after that) (?P<b>.+)", text)
    m = m or re.fullmatch(r"(?P<a>.+?) before (?P<b>.+)", text)
    if m:
        a, b = _parse_motion_clause(m["a"]), _parse_motion_clause(m["b"])
        if a is None or b is None or a[0] is None:
            return None
        objects = [a[0]] + ([b[0]] if b[0] is not None and b[0] != a[0] else [])
        steps = [{"object": 0, "direction": a[1]}, {"object": len(objects) - 1, "direction": b[1]}]
        return {"dimension": "temporal_order", "objects": objects, "motion": steps}

    mc = _parse_motion_clause(text)
    if mc is not None and mc[0] is not None:
        return {"dimension": "motion", "objects": [mc[0]], "motion": [{"object": 0, "direction": mc[1]}]}

    m = re.fullmatch(rf"(?:(?P<other>.+?),? and )?(?P<np>.+?) (?P<ev>{_alternation(lex['events'])})", text)
    if m:
        obj, other = _parse_np(m["np"]), _parse_np(m["other"]) if m["other"] else None
        if obj is None or (m["other"] and other is None):
            return None
        objects = [other, obj] if other else [obj]
        event = {"object": len(objects) - 1, "event": lex["events"][m["ev"]]}
        return {"dimension": "appearance", "objects": objects, "event": event}
    return None


def _parse_static_scene(text: str) -> dict[str, Any] | None:
    """Scenes without events: a relation, two objects, or one object."""
    lex = _lexicon()
    rel = _alternation(lex["relations"])
    for pattern in (
        rf"(?:there (?:is|are) )?(?P<a>.+?) (?:is |are )?(?:placed )?(?P<rel>{rel}) (?P<b>.+)",
        rf"(?P<rel>{rel}) (?P<b>.+?) (?:is|are) (?P<a>.+)",  # "to the left of the square is a circle"
    ):
        m = re.fullmatch(pattern, text)
        if m and _parse_np(m["a"]) and _parse_np(m["b"]):
            return {
                "dimension": "spatial_relationship",
                "objects": [_parse_np(m["a"]), _parse_np(m["b"])],
                "relation": lex["relations"][m["rel"]],
            }

    m = re.fullmatch(r"(?:both )?(?P<a>.+?) (?:and|together with|as well as) (?P<b>.+)", text)
    if m and _parse_np(m["a"]) and _parse_np(m["b"]):
        return {"dimension": "multiple_objects", "objects": [_parse_np(m["a"]), _parse_np(m["b"])]}

    obj = _parse_np(re.sub(r"^there (?:is|are) ", "", text))
    if obj is not None:
        return {"dimension": "count" if obj["count"] > 1 else "object_class", "objects": [obj]}
    m = re.fullmatch(rf"an? (?P<shape>{_alternation(lex['shapes'])}) (?:that is|coloured) (?P<color>.+)", text)
    if m and m["color"] in lex["colors"] and not lex["shapes"][m["shape"]][1]:
        obj = {"shape": lex["shapes"][m["shape"]][0], "color": lex["colors"][m["color"]], "count": 1}
        return {"dimension": "color", "objects": [obj]}
    return None


def _parse_scene(text: str) -> dict[str, Any] | None:
    """The spec dict (without id, prompt and lighting clause) of a prompt, trying it bare and without the
    text a training template wraps around its content."""
    lex = _lexicon()
    if text in lex["idioms"]:
        up = lex["idioms"][text] == "sun_rising"
        return {
            "dimension": "motion",
            "objects": [{"shape": "circle", "color": "yellow", "count": 1}],
            "motion": [{"object": 0, "direction": "up" if up else "down"}],
            "lighting": "brightens" if up else "darkens",
        }
    for core in _unframed(text):
        scene = _parse_events(core) or _parse_static_scene(core)
        if scene is not None:
            return scene
    # an event scene may name a still object after its main clause: "..., a blue square standing still"
    for pattern in lex["static"]:
        m = re.fullmatch(rf"(?P<main>.+?){pattern}", text)
        if m and (still := _parse_np(m["np"])) is not None:
            for core in _unframed(m["main"]):
                if (scene := _parse_events(core)) is not None:
                    scene["objects"] = scene["objects"] + [still]
                    return scene
    return None


def _unframed(text: str) -> list[str]:
    """`text`, then its content inside each training template frame that matches it ("a video of <content>")."""
    return [text] + [m["core"] for f in _lexicon()["frames"] if (m := re.fullmatch(f, text))]


def parse_prompt(prompt: str) -> SceneSpec | None:
    """Read a plain prompt (the canonical wording or a common training wording) back into a spec.

    Returns None when the prompt is not confidently understood: the app then shows no scores rather than wrong
    ones. Examples: "two red circles to the left of a blue square", "a red circle moving left",
    "a green square appears", "a white cross, the background brightens".
    """
    lex = _lexicon()
    text = " ".join(prompt.lower().split()).strip(" .!")
    if not text:
        return None
    lighting = None
    joiners = "|".join(re.escape(j) for j in lex["light_joiners"])
    m = re.fullmatch(rf"(?P<main>.+?)(?:{joiners})(?P<light>{_alternation(lex['lighting'])})", text)
    if m:
        text, lighting = m["main"], lex["lighting"][m["light"]]
    scene = _parse_scene(text)
    if scene is None:
        return None
    if lighting is not None:
        if scene.get("lighting") not in (None, lighting):
            return None
        scene["lighting"] = lighting
        if scene["dimension"] in ("object_class", "color", "count", "multiple_objects"):
            scene["dimension"] = "lighting"
    try:
        return parse_spec({"id": "prompt", "prompt": prompt, **scene})
    except ValueError:
        return None

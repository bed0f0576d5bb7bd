"""The prompt reader: a prompt in any wording the nano world defines -> its scene spec, or None.

It is the ground truth of the app's NanoBench verdicts, not a model: it knows every wording of both caption splits
(`mimir/prompts/world/templates_train.json` and `templates_heldout.json`) and the few extra words of
`reader_words.json` (words a visitor types that no caption uses, and a template the shipped held-out suites were
written with), and it reads combinations of them: a held-out synonym inside a training template ("a crimson disc
beneath an azure block"), either split's suffixes after either split's templates, and motion phrases put together
from a direction-neutral verb of one entry and a direction of another ("drifts" + "east").

Reading happens in two passes (our design):

1. Templates. Every template of every table becomes a regex whose slots are the tight grammar of their fillers
   (a noun phrase is `[count] colour shape`, `[count] shape the colour of <thing>` or `[count] colour
   <shape description>`), optionally followed by a static-object suffix and a lighting suffix, as `caption` writes
   them. The template that matches says the scene's structure and its dimension ("imagine {objs} and nothing
   more" is a colour prompt). When templates of several dimensions match the same text ("{objs}" belongs to
   object_class, color and count) the fewest suffixes win, then `_STATIC_PREFERENCE`.
2. Free wording. What no template matches is read by a few structural rules (a relation between two noun phrases,
   "<clause>, then <clause>", "<np> appears", a lighting clause after the scene, still objects after an event
   clause, the text a template wraps around its content): this reads the canonical wording (`canonical_prompt`)
   and the looser forms people type ("first a scarlet orb drifts east, then a cobalt tile sinks").

A prompt that is not confidently understood gives None: the app then shows no scores rather than wrong ones.
"""

import functools
import json
import re
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from mimir.world import vocab
from mimir.world.captions import _COUNT_WORDS, _INVERSE, _SLOT, _form, load_tables
from mimir.world.spec import SceneSpec, parse_spec


READER_WORDS = files("mimir") / "prompts" / "world" / "reader_words.json"
# Tables whose words a noun phrase, relation, motion, event or lighting clause may use.
_WORD_TABLES = (
    "colors",
    "color_things",
    "shapes",
    "shape_descriptions",
    "counts",
    "relations",
    "directions",
    "events",
    "lighting",
    "idioms",
)
# A static scene matched by templates of several dimensions gets the first of these that applies (ours; it is what
# the sampler makes: object_class and color scenes hold one object of count 1, count scenes one object).
_STATIC_PREFERENCE = ("multiple_objects", "count", "object_class", "color", "lighting")


@functools.cache
def reader_tables() -> list[dict[str, Any]]:
    """The wording tables the reader knows: training, held-out, then the reader's own extra words."""
    extra = json.loads(READER_WORDS.read_text(encoding="utf-8"))
    return [load_tables("train"), load_tables("heldout"), extra]


def _alternation(words: Any) -> str:
    # longest first, so "a pair of" wins over "a"
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _union(table: str) -> dict[str, list[str]]:
    """value -> entries of `table` over every reader table (a table may lack the key or the value)."""
    out: dict[str, list[str]] = {}
    for t in reader_tables():
        for value, entries in t.get(table, {}).items():
            out.setdefault(value, []).extend(e for e in entries if e not in out.get(value, []))
    return out


def _composed_directions(entries: dict[str, list[str]]) -> dict[str, str]:
    """Motion phrases made of a direction-neutral verb and a direction: "drifts east", "heading leftward", ...

    An entry "<verb> <rest>" whose verb form appears under two or more directions ("moves left", "moves up") has a
    neutral verb; its rest, and the rest of any entry with a neutral verb, is a direction phrase ("left",
    "to the left", "east", "toward the left edge"). Every neutral verb form joins every direction phrase.
    """
    split = []  # (direction, verb form, rest)
    for d, es in entries.items():
        for e in es:
            for plural in (False, True):
                verb, _, rest = _form(e, plural).partition(" ")
                if rest:
                    split.append((d, verb, rest))
    dirs_of_verb: dict[str, set[str]] = {}
    for d, verb, _ in split:
        dirs_of_verb.setdefault(verb, set()).add(d)
    neutral = {v for v, ds in dirs_of_verb.items() if len(ds) > 1}
    rests = {rest: d for d, verb, rest in split if verb in neutral}
    return {f"{verb} {rest}": d for verb in neutral for rest, d in rests.items()}


@functools.cache
def _lexicon() -> dict[str, Any]:
    """Word -> meaning maps and the regexes of the slot fillers, from every reader table."""
    colors = {w: c for c, ws in _union("colors").items() for w in ws} | {c: c for c in vocab.COLORS}
    things = {w: c for c, ws in _union("color_things").items() for w in ws}
    shapes: dict[str, tuple[str, bool]] = {}  # word -> (shape, plural)
    singular_shapes: dict[str, str] = {}  # plain shape nouns only, for "a {shape0} painted {color0}"
    for table in ("shapes", "shape_descriptions"):
        for s, entries in _union(table).items():
            for e in entries:
                shapes[_form(e, False)] = (s, False)
                shapes[_form(e, True)] = (s, True)
                if table == "shapes":
                    singular_shapes[_form(e, False)] = s
    counts = {w: int(n) for n, ws in _union("counts").items() for w in ws} | {"an": 1, "the": 1}
    counts |= {f"the {_COUNT_WORDS[n]}": n for n in range(2, vocab.MAX_COUNT + 1)}  # "the two red circles"
    relations = {w: r for r, ws in _union("relations").items() for w in ws}
    raw_directions = _union("directions")
    directions = _composed_directions(raw_directions)
    for d, entries in raw_directions.items():
        for e in entries + [f"moving {d}", d]:
            directions[_form(e, False)] = d
            directions[_form(e, True)] = d
    events = {_form(e, pl): ev for ev, es in _union("events").items() for e in es for pl in (False, True)}
    lighting = {w: lg for lg, ws in _union("lighting").items() for w in ws} | {
        f"the background {lg}": lg for lg in vocab.LIGHTINGS
    }
    idioms = {w: k for k, ws in _union("idioms").items() for w in ws}

    det = rf"(?:(?:{_alternation(counts)}) )?"
    shape = _alternation(shapes)
    np_re = rf"{det}(?:(?:{_alternation(colors)}) (?:{shape})|(?:{shape}) the colou?r of (?:{_alternation(things)}))"
    direction = _alternation(directions)
    return dict(
        colors=colors,
        things=things,
        shapes=shapes,
        singular_shapes=singular_shapes,
        counts=counts,
        relations=relations,
        directions=directions,
        events=events,
        lighting=lighting,
        idioms=idioms,
        np=np_re,
        slots={
            "objs": rf"{np_re}(?: and {np_re})?",
            "np": np_re,
            "shape": _alternation(singular_shapes),
            "color": _alternation(colors),
            "rel": _alternation(relations),
            "move": direction,
            "step": rf"(?:{np_re}|it|they) (?:{direction})",
            "event": _alternation(events),
            "light": _alternation(lighting),
        },
    )


# ---------------------------------------------------------------------------------------------------------------
# pass 1: templates

# slot name -> filler kind of `_lexicon()["slots"]`
_SLOT_KINDS = {
    "objs": "objs",
    "obj0": "np",
    "obj1": "np",
    "the_obj1": "np",
    "mover": "np",
    "ev_obj": "np",
    "other": "np",
    "shape0": "shape",
    "color0": "color",
    "rel": "rel",
    "rel_inv": "rel",
    "move": "move",
    "move_ing": "move",
    "move_bare": "move",
    "step0": "step",
    "step1": "step",
    "event": "event",
    "light": "light",
}


def _template_regex(template: str) -> str:
    """A template as a regex: `{v:sits/sit}` matches either form, `{name}` its filler as the group `name`."""
    slots = _lexicon()["slots"]

    def slot(part: str) -> str:
        m = _SLOT.fullmatch(part)
        if m[2] is not None:
            return f"(?:{re.escape(m[2])}|{re.escape(m[3])})"
        return f"(?P<{m[1]}>{slots[_SLOT_KINDS[m[1]]]})"

    parts = re.split(r"(\{[^}]*\})", template)
    return "".join(slot(x) if x.startswith("{") else re.escape(x) for x in parts)


@functools.cache
def _template_patterns() -> list[tuple[str, bool, re.Pattern]]:
    """(dimension, single-object template, regex) for every template of every reader table, each followed by an
    optional still-object suffix and, outside lighting templates, an optional lighting suffix."""
    tables = reader_tables()
    static = _alternation_of(_template_regex(x) for t in tables for x in t.get("static_suffix", []))
    light = _alternation_of(_template_regex(x) for t in tables for x in t.get("light_suffix", []))
    out = []
    for t in tables:
        for dim, templates in t.get("templates", {}).items():
            for tpl in templates:
                core = _template_regex(tpl.removeprefix("1:"))
                tail = f"(?P<static>{static})?" + (f"(?P<lit>{light})?" if dim != "lighting" else "")
                out.append((dim, tpl.startswith("1:"), re.compile(core + tail)))
    return out


def _alternation_of(patterns: Iterator[str]) -> str:
    # each suffix's groups appear once per alternative: Python names must be unique, so number the copies
    out = []
    for k, p in enumerate(dict.fromkeys(patterns)):
        out.append(re.sub(r"\(\?P<(\w+)>", lambda m, k=k: f"(?P<{m[1]}__{k}>", p))
    return "|".join(f"(?:{p})" for p in out)


def _group(m: re.Match, name: str) -> str | None:
    """The text of slot `name`, also when it sits in a numbered suffix alternative (`name__k`)."""
    for key, value in m.groupdict().items():
        if value is not None and (key == name or key.startswith(name + "__")):
            return value
    return None


def _from_template(dim: str, single: bool, m: re.Match) -> dict[str, Any] | None:
    """The spec dict a template match describes (None if a filler does not read, e.g. "two red circle")."""
    lex = _lexicon()
    g = functools.partial(_group, m)
    scene: dict[str, Any] = {"dimension": dim}
    if g("objs") is not None:
        objects = [_parse_np(x) for x in g("objs").split(" and ")]
    elif g("shape0") is not None:
        objects = [{"shape": lex["singular_shapes"][g("shape0")], "color": lex["colors"][g("color0")], "count": 1}]
    elif dim in ("multiple_objects", "spatial_relationship"):
        objects = [_parse_np(g("obj0")), _parse_np(g("obj1") or g("the_obj1"))]
    elif dim == "motion":
        objects = [_parse_np(g("mover"))]
        scene["motion"] = [{"object": 0, "direction": lex["directions"][g("move") or g("move_ing") or g("move_bare")]}]
    elif dim == "temporal_order":
        temporal = _temporal(_parse_motion_clause(g("step0")), _parse_motion_clause(g("step1")))
        if temporal is None:
            return None
        scene |= temporal
        objects = scene.pop("objects")
    elif dim == "appearance":
        objects = [_parse_np(g("ev_obj"))]
        scene["event"] = {"object": 0, "event": lex["events"][g("event")]}
    else:
        return None
    if dim == "spatial_relationship":
        rel = g("rel")
        scene["relation"] = lex["relations"][rel] if rel is not None else _INVERSE[lex["relations"][g("rel_inv")]]
    if g("other") is not None:
        objects.append(_parse_np(g("other")))
    if g("light") is not None:
        scene["lighting"] = lex["lighting"][g("light")]
        if dim in _STATIC_PREFERENCE:
            scene["dimension"] = "lighting"  # a still scene whose background changes is a lighting scene
    if any(o is None for o in objects) or (single and (len(objects) > 1 or objects[0]["count"] > 1)):
        return None
    scene["objects"] = objects
    return scene


def _read_templates(text: str) -> dict[str, Any] | None:
    """The scene of the best template match of `text` (see the module docstring), or None."""
    found = []  # (suffixes used, preference, scene)
    for dim, single, pattern in _template_patterns():
        m = pattern.fullmatch(text)
        if m is None or (scene := _from_template(dim, single, m)) is None or not _valid(scene):
            continue
        suffixes = (m["static"] is not None) + (dim != "lighting" and m["lit"] is not None)
        found.append((suffixes, _preference(scene), scene))
    if not found:
        return None
    return min(found, key=lambda f: f[:2])[2]


def _valid(scene: dict[str, Any]) -> bool:
    try:
        parse_spec({"id": "prompt", "prompt": "-", **scene})
    except ValueError:
        return False
    return True


def _preference(scene: dict[str, Any]) -> int:
    """Rank of a static scene's dimension in `_STATIC_PREFERENCE` where it fits the scene (lower is preferred)."""
    dim, objects = scene["dimension"], scene["objects"]
    fits = {
        "multiple_objects": len(objects) == 2,
        "count": any(o["count"] > 1 for o in objects),
        "object_class": True,
        "color": True,
        "lighting": True,
    }
    if dim not in fits:
        return 0  # an event, motion or relation template: the only reading of its text
    return _STATIC_PREFERENCE.index(dim) if fits[dim] else len(_STATIC_PREFERENCE)


# ---------------------------------------------------------------------------------------------------------------
# pass 2: free wording


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


def _temporal(a: tuple | None, b: tuple | None) -> dict[str, Any] | None:
    """A temporal order from its first and second motion clause; a clause without a noun phrase ("it moves up")
    moves the object the other clause names."""
    if a is None or b is None or (a[0] is None and b[0] is None):
        return None
    first, second = a[0] or b[0], b[0] or a[0]
    objects = [first] + ([second] if second != first else [])
    steps = [{"object": 0, "direction": a[1]}, {"object": len(objects) - 1, "direction": b[1]}]
    return {"dimension": "temporal_order", "objects": objects, "motion": steps}


def _parse_events(text: str) -> dict[str, Any] | None:
    """Motion and appearance scenes: '<np> moving left', '<clause>, then <clause>', '<np> appears'."""
    lex = _lexicon()
    m = re.fullmatch(r"(?:first,? )?(?P<a>.+?),? (?:and )?(?:then|after that) (?P<b>.+)", text)
    m = m or re.fullmatch(r"(?P<a>.+?) before (?P<b>.+)", text)
    if m:
        a, b = _parse_motion_clause(m["a"]), _parse_motion_clause(m["b"])
        return None if a is None or a[0] is None else _temporal(a, b)

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

    m = re.fullmatch(r"(?:both )?(?P<a>.+?) (?:and|together with|as well as|plus) (?P<b>.+)", text)
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


@functools.cache
def _frames() -> list[re.Pattern]:
    """Text a template puts around its content ("a video of ...", "... on a dark background"), as regexes."""
    frames = set()
    for t in reader_tables():
        for templates in t.get("templates", {}).values():
            for tpl in templates:
                if tpl.startswith("1:"):
                    continue
                names = [m[1] for m in _SLOT.finditer(tpl) if m[2] is None]
                head, tail = tpl.find("{" + names[0] + "}"), tpl.rfind("}") + 1
                prefix, suffix = tpl[:head], tpl[tail:]
                if prefix or suffix:
                    frames.add(_template_regex(prefix) + "(?P<core>.+)" + _template_regex(suffix))
    return [re.compile(f) for f in sorted(frames, key=len, reverse=True)]


def _unframed(text: str) -> list[str]:
    """`text`, then its content inside each template frame that matches it ("a video of <content>")."""
    return [text] + [m["core"] for f in _frames() if (m := f.fullmatch(text))]


def _read_free(text: str) -> dict[str, Any] | None:
    """The spec dict of a prompt no template matches: the structural rules of pass 2 (module docstring)."""
    lex = _lexicon()
    lighting = None
    joiners, lights = _alternation(_light_joiners()), _alternation(lex["lighting"])
    m = re.fullmatch(rf"(?P<main>.+?)(?:{joiners})(?P<light>{lights})", text)
    if m:
        text, lighting = m["main"], lex["lighting"][m["light"]]
    scene = _read_scene(text)
    if scene is None or lighting is None:
        return scene
    if scene.get("lighting") not in (None, lighting):
        return None
    scene["lighting"] = lighting
    if scene["dimension"] in ("object_class", "color", "count", "multiple_objects"):
        scene["dimension"] = "lighting"
    return scene


@functools.cache
def _light_joiners() -> list[str]:
    """Text between a scene and its lighting clause: from lighting templates "{objs}<joiner>{light}", lighting
    suffixes "<joiner>{light}", and ", " / " and " (the canonical wording and plain English)."""
    joiners = {", ", " and "}
    for t in reader_tables():
        for tpl in t.get("templates", {}).get("lighting", []):
            if tpl.startswith("{objs}") and tpl.endswith("{light}"):
                joiners.add(tpl.removeprefix("{objs}").removesuffix("{light}"))
        joiners |= {x.removesuffix("{light}") for x in t.get("light_suffix", []) if x.endswith("{light}")}
    return sorted(joiners)


@functools.cache
def _still_patterns() -> list[re.Pattern]:
    """A still object named after an event clause: every static suffix of the tables, and the canonical
    ", a blue square standing still"."""
    lex = _lexicon()
    patterns = [_template_regex(x) for t in reader_tables() for x in t.get("static_suffix", [])]
    patterns.append(rf",? (?P<other>{lex['np']}) (?:standing|staying) still")
    return [re.compile(rf"(?P<main>.+?){p}") for p in dict.fromkeys(patterns)]


def _read_scene(text: str) -> dict[str, Any] | None:
    """The scene of `text` without its lighting clause, bare or inside a template frame, with still objects named
    after an event clause (", a blue square standing still")."""
    for core in _unframed(text):
        scene = _parse_events(core) or _parse_static_scene(core)
        if scene is not None:
            return scene
    for pattern in _still_patterns():
        m = pattern.fullmatch(text)
        if m and (obj := _parse_np(m["other"])) is not None:
            for core in _unframed(m["main"]):
                if (scene := _parse_events(core)) is not None:
                    scene["objects"] = scene["objects"] + [obj]
                    return scene
    return None


# ---------------------------------------------------------------------------------------------------------------
# entry point


def _idiom(text: str) -> dict[str, Any] | None:
    """The spec dict of "the sun rising" and its kin: a yellow circle moving up while the background brightens."""
    key = _lexicon()["idioms"].get(text)
    if key is None:
        return None
    up = key == "sun_rising"
    return {
        "dimension": "motion",
        "objects": [{"shape": "circle", "color": "yellow", "count": 1}],
        "motion": [{"object": 0, "direction": "up" if up else "down"}],
        "lighting": "brightens" if up else "darkens",
    }


def known_words(prompt: str) -> list[tuple[str, str]]:
    """Single words of `prompt` that name a colour, shape, count or relation of the world, with what they mean, in
    prompt order: "a snowy owl over two dogs" -> [("snowy", "white"), ("over", "above"), ("two", "2")]. Articles
    are left out: they mean "one" only before a shape."""
    lex = _lexicon()
    meanings = {w: c for w, c in lex["colors"].items()}
    meanings |= {w: s for w, (s, _) in lex["shapes"].items()}
    meanings |= {w: str(n) for w, n in lex["counts"].items() if w not in ("a", "an", "the")}
    meanings |= lex["relations"]
    out: list[tuple[str, str]] = []
    for word in re.findall(r"[\w-]+", normalize(prompt)):
        if word in meanings and (word, meanings[word]) not in out:
            out.append((word, meanings[word]))
    return out


def normalize(prompt: str) -> str:
    """Lower case, single spaces, no closing full stop or exclamation mark: the text the reader matches."""
    return " ".join(prompt.lower().split()).strip(" .!")


def parse_prompt(prompt: str) -> SceneSpec | None:
    """Read a prompt in any wording of the nano world back into a spec (id "prompt", `prompt` as given).

    Returns None when the prompt is not confidently understood. Examples: "two red circles to the left of a blue
    square", "imagine an azure wedge and nothing more", "first a scarlet orb drifts east, then a cobalt tile sinks",
    "a white cross, the background brightens", "the sun rising".
    """
    text = normalize(prompt)
    if not text:
        return None
    scene = _idiom(text) or _read_templates(text) or _read_free(text)
    if scene is None:
        return None
    try:
        return parse_spec({"id": "prompt", "prompt": prompt, **scene})
    except ValueError:
        return None

"""World v2 scene specs: dataclasses, one validator (`parse_spec`) and the suite loader.

A v2 line names one of the seven T2V-CompBench categories as its `dimension` (`vocab.CATEGORIES`). A v1 line (a
dimension of `mimir.world.vocab.DIMENSIONS`) is still accepted: `parse_spec` hands it to v1's validator and returns
v1's `SceneSpec`, which the v2 renderer and NanoBench-Comp pass to v1's renderer and scorer, so a v1 suite loads,
renders and scores exactly as before. The field-by-field schema is `mimir/world/v2/SCHEMA.md`.

Every error is a `ValueError` that names the key, quotes the bad value and states the rule. Rules beyond the
schema, chosen so that every valid spec is renderable and its checked fact decidable from the video (ours):

- a field is allowed only in the category that checks it (`relation`, `motion`, `action`, `color_end`, ...), so
  the scorer never meets a scene whose ground truth it does not judge;
- in the binding categories (consistent, motion, action) objects differ pairwise in shape *and* colour, so that
  swapping an attribute between two objects always gives a different scene; in `dynamic_attribute_binding` they
  differ in shape (an object's colour changes, its shape names it);
- counts above 1 only in `generative_numeracy`; a scene holds at most `vocab.MAX_COPIES` copies, and a numeracy
  scene of more than `MAX_LARGE_COPIES` copies uses small objects only (room in the frame);
- `spin` only for shapes that change under rotation (`vocab.SPIN_SHAPES`);
- the two objects of an interaction differ in colour (the detector splits touching objects by colour).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimir.world import spec as v1_spec
from mimir.world import vocab as v1_vocab
from mimir.world.v2 import vocab


MAX_LARGE_COPIES = 4
_KEYS = (
    "id", "dimension", "prompt", "objects", "background", "relation", "interaction", "arrangement", "exclude",
    "language",
)  # fmt: skip
_OBJECT_KEYS = ("shape", "color", "count", "size", "color_end", "size_end", "motion", "action")
# which optional fields each category allows; "objects" is (min, max) objects
_RULES: dict[str, dict[str, Any]] = {
    "consistent_attribute_binding": {"objects": (2, 4), "fields": {"arrangement"}},
    "dynamic_attribute_binding": {"objects": (1, 3), "fields": {"arrangement", "color_end", "size_end"}},
    "spatial_relationships": {"objects": (2, 4), "fields": {"relation"}},
    "motion_binding": {"objects": (2, 4), "fields": {"arrangement", "motion"}},
    "action_binding": {"objects": (2, 3), "fields": {"arrangement", "action"}},
    "object_interactions": {"objects": (2, 3), "fields": {"interaction"}},
    "generative_numeracy": {"objects": (1, 3), "fields": {"count", "exclude"}},
}


@dataclass
class SceneObject:
    """One object: `count` copies of a shape in a colour and size; what changes or moves during the clip."""

    shape: str
    color: str
    count: int = 1
    size: str = "large"
    color_end: str | None = None  # dynamic attribute: the colour at the end of the clip
    size_end: str | None = None  # dynamic attribute: the size at the end of the clip
    motion: str | None = None  # a direction the object travels in over the whole clip
    action: str | None = None  # vocab.ACTIONS

    @property
    def kind(self) -> tuple[str, str]:
        return self.shape, self.color


@dataclass
class Interaction:
    """`objects[0]` acts on `objects[1]`: pushes it toward `direction`, or the two collide and bounce apart."""

    kind: str
    objects: tuple[int, int]
    direction: str | None = None  # push only: "left" or "right"


@dataclass
class Exclude:
    """Negation: no copy of this kind is in the scene (a missing key matches any value)."""

    shape: str | None = None
    color: str | None = None


@dataclass
class SceneSpec:
    """One v2 line of a suite file. Build it with `parse_spec` to get it validated."""

    id: str
    dimension: str
    prompt: str
    objects: list[SceneObject]
    background: str = "plain"
    relation: str | None = None  # spatial_relationships: object 0 relative to object 1
    interaction: Interaction | None = None
    arrangement: str | None = None  # "row": objects stand left to right in index order (ordinal prompts)
    exclude: Exclude | None = None
    language: str | None = None  # precise-language tag (vocab.LANGUAGE); changes nothing in the scene

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; unset optional keys are left out, so `parse_spec(s.to_dict()) == s`."""
        objects = []
        for o in self.objects:
            d = {"shape": o.shape, "color": o.color, "count": o.count, "size": o.size}
            for k in ("color_end", "size_end", "motion", "action"):
                if getattr(o, k) is not None:
                    d[k] = getattr(o, k)
            objects.append(d)
        out: dict[str, Any] = {"id": self.id, "dimension": self.dimension, "prompt": self.prompt}
        out["objects"] = objects
        out["background"] = self.background
        if self.relation is not None:
            out["relation"] = self.relation
        if self.interaction is not None:
            i = self.interaction
            out["interaction"] = {"kind": i.kind, "objects": list(i.objects)}
            if i.direction is not None:
                out["interaction"]["direction"] = i.direction
        if self.arrangement is not None:
            out["arrangement"] = self.arrangement
        if self.exclude is not None:
            out["exclude"] = {k: v for k, v in (("shape", self.exclude.shape), ("color", self.exclude.color)) if v}
        if self.language is not None:
            out["language"] = self.language
        return out


AnySpec = SceneSpec | v1_spec.SceneSpec


def is_v1(spec: AnySpec) -> bool:
    return isinstance(spec, v1_spec.SceneSpec)


_fail = v1_spec._fail
_choice = v1_spec._choice
_dict = v1_spec._dict
_index = v1_spec._index


def _object(key: str, value: Any, allowed: set[str]) -> SceneObject:
    d = _dict(key, value, _OBJECT_KEYS, ("shape", "color"))
    for k in ("count", "color_end", "size_end", "motion", "action"):
        if k in d and k not in allowed and not (k == "count" and d[k] == 1):
            raise _fail(f"{key}.{k}", d[k], "not allowed in this dimension (see SCHEMA.md)")
    count = d.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= vocab.MAX_COUNT:
        raise _fail(f"{key}.count", count, f"must be an integer in 1..{vocab.MAX_COUNT}")
    colors = tuple(vocab.COLORS)
    o = SceneObject(
        shape=_choice(f"{key}.shape", d["shape"], vocab.SHAPES),
        color=_choice(f"{key}.color", d["color"], colors),
        count=count,
        size=_choice(f"{key}.size", d.get("size", "large"), vocab.SIZES),
    )
    if "color_end" in d:
        o.color_end = _choice(f"{key}.color_end", d["color_end"], colors)
        if o.color_end == o.color:
            raise _fail(f"{key}.color_end", o.color_end, "must differ from the object's colour")
    if "size_end" in d:
        o.size_end = _choice(f"{key}.size_end", d["size_end"], vocab.SIZES)
        if o.size_end == o.size:
            raise _fail(f"{key}.size_end", o.size_end, "must differ from the object's size")
    if "motion" in d:
        o.motion = _choice(f"{key}.motion", d["motion"], vocab.DIRECTIONS)
    if "action" in d:
        o.action = _choice(f"{key}.action", d["action"], vocab.ACTIONS)
        if o.action == "spin" and o.shape not in vocab.SPIN_SHAPES:
            raise _fail(f"{key}.action", o.action, f"a {o.shape} looks the same at every rotation")
    return o


def _distinct(raw: Any, objects: list[SceneObject], attrs: tuple[str, ...]) -> None:
    for a in attrs:
        values = [getattr(o, a) for o in objects]
        if len(set(values)) != len(values):
            raise _fail("objects", raw, f"objects must differ pairwise in {a} in this dimension")


def parse_spec(d: dict[str, Any]) -> AnySpec:
    """Validate one scene spec (a decoded JSON object) and build it; raises `ValueError` naming the bad key.

    A v1 line (its dimension is one of v1's) is validated by v1 and returned as v1's `SceneSpec`."""
    if isinstance(d, dict) and d.get("dimension") in v1_vocab.DIMENSIONS:
        return v1_spec.parse_spec(d)
    d = _dict("spec", d, _KEYS, ("id", "dimension", "prompt", "objects"))
    if not isinstance(d["id"], str) or not d["id"]:
        raise _fail("id", d["id"], "must be a non-empty string")
    if not isinstance(d["prompt"], str) or not d["prompt"].strip():
        raise _fail("prompt", d["prompt"], "must be a non-empty string")
    dim = _choice("dimension", d["dimension"], vocab.CATEGORIES + v1_vocab.DIMENSIONS)
    rules = _RULES[dim]
    allowed = rules["fields"]
    for k in ("relation", "interaction", "arrangement", "exclude"):
        if k in d and k not in allowed:
            raise _fail(k, d[k], f"not allowed in dimension {dim!r}")

    raw = d["objects"]
    lo, hi = rules["objects"]
    if not isinstance(raw, list) or not lo <= len(raw) <= hi:
        raise _fail("objects", raw, f"dimension {dim!r} needs a list of {lo} to {hi} objects")
    objects = [_object(f"objects[{i}]", o, allowed) for i, o in enumerate(raw)]
    n = len(objects)
    kinds = [o.kind for o in objects]
    if len(set(kinds)) != n:
        raise _fail("objects", raw, "objects must differ pairwise in shape or colour")
    if dim in ("consistent_attribute_binding", "motion_binding", "action_binding"):
        _distinct(raw, objects, ("shape", "color"))
    if dim == "dynamic_attribute_binding":
        _distinct(raw, objects, ("shape",))
        if not any(o.color_end or o.size_end for o in objects):
            raise _fail("objects", raw, "at least one object needs color_end or size_end")
        for i, o in enumerate(objects):
            others = {c for j, p in enumerate(objects) if j != i for c in (p.color, p.color_end) if c}
            if o.color_end in others:
                raise _fail(f"objects[{i}].color_end", o.color_end, "is another object's colour")
    if dim == "motion_binding" and sum(o.motion is not None for o in objects) < 2:
        raise _fail("objects", raw, "motion binding needs at least two moving objects")
    if dim == "action_binding" and not any(o.action for o in objects):
        raise _fail("objects", raw, "action binding needs at least one object with an action")

    copies = sum(o.count for o in objects)
    if copies > vocab.MAX_COPIES:
        raise _fail("objects", raw, f"{copies} copies in all; a scene holds at most {vocab.MAX_COPIES}")
    if copies > MAX_LARGE_COPIES and any(o.size != "small" for o in objects):
        raise _fail("objects", raw, f"{copies} copies: above {MAX_LARGE_COPIES} copies every object must be small")

    spec = SceneSpec(
        id=d["id"],
        dimension=dim,
        prompt=d["prompt"],
        objects=objects,
        background=_choice("background", d.get("background", "plain"), tuple(vocab.BACKGROUNDS)),
    )
    if dim == "spatial_relationships":
        if "relation" not in d:
            raise _fail("relation", None, "required for dimension 'spatial_relationships'")
        spec.relation = _choice("relation", d["relation"], vocab.RELATIONS)
    if dim == "object_interactions":
        if "interaction" not in d:
            raise _fail("interaction", None, "required for dimension 'object_interactions'")
        e = _dict("interaction", d["interaction"], ("kind", "objects", "direction"), ("kind", "objects"))
        kind = _choice("interaction.kind", e["kind"], vocab.INTERACTIONS)
        pair = e["objects"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail("interaction.objects", pair, "must be a list of two object indices")
        a, b = (_index(f"interaction.objects[{k}]", pair[k], n) for k in range(2))
        if a == b:
            raise _fail("interaction.objects", pair, "must name two different objects")
        if objects[a].color == objects[b].color:
            raise _fail("interaction.objects", pair, "the two objects must differ in colour")
        direction = e.get("direction")
        if kind == "push":
            direction = _choice("interaction.direction", direction, ("left", "right"))
        elif direction is not None:
            raise _fail("interaction.direction", direction, "only a push has a direction")
        spec.interaction = Interaction(kind=kind, objects=(a, b), direction=direction)
    if "arrangement" in d:
        spec.arrangement = _choice("arrangement", d["arrangement"], ("row",))
        for i, o in enumerate(objects):
            if o.motion in ("left", "right"):
                raise _fail(f"objects[{i}].motion", o.motion, "objects in a row move up or down only")
    if "exclude" in d:
        e = _dict("exclude", d["exclude"], ("shape", "color"), ())
        if not e:
            raise _fail("exclude", e, "needs a shape, a colour or both")
        ex = Exclude(
            shape=_choice("exclude.shape", e["shape"], vocab.SHAPES) if "shape" in e else None,
            color=_choice("exclude.color", e["color"], tuple(vocab.COLORS)) if "color" in e else None,
        )
        for i, o in enumerate(objects):
            if (ex.shape in (None, o.shape)) and (ex.color in (None, o.color)):
                raise _fail(f"objects[{i}]", raw[i], "is of the excluded kind")
        spec.exclude = ex
    if "language" in d:
        spec.language = _choice("language", d["language"], vocab.LANGUAGE)
    return spec


def load_suite(path: str | Path) -> list[AnySpec]:
    """Read and validate a suite file (JSONL, one v1 or v2 spec a line; blank lines skipped): v1's reader with this
    world's `parse_spec`. Raises `ValueError("{path}:{lineno}: reason")` on the first bad line, a duplicate id or an
    empty file, so a bad suite is refused before anything is generated."""
    return v1_spec.load_suite(path, parse=parse_spec)


# Writing is the same for both worlds: one `to_dict()` a line.
write_suite = v1_spec.write_suite

"""Scene specs: one line of a suite file as dataclasses, with one validator and a suite loader.

`parse_spec` is the single place where a spec is checked: every error is a `ValueError` that
names the key, quotes the bad value and states the rule. Rules beyond the schema table are ours, chosen so that
every valid spec is renderable and checkable; they are marked "(ours)" below:

- `relation` / `motion` / `event` are allowed only on the dimension that needs them, so the scorer never meets a
  scene whose ground truth it does not judge (ours).
- `lighting` is allowed on any dimension (required for `lighting`), so that "the sun rising" (a yellow circle
  moving up while the background brightens) is one spec (ours).
- `multiple_objects` and `spatial_relationship` need exactly two objects, and two objects must differ in shape or
  colour, else "which one is which" is undecidable (ours).
- a `temporal_order` spec whose two steps move the same object must use two different directions (ours).
- room in the frame (ours, from the renderer's object size): a `spatial_relationship` scene holds at most
  `MAX_COPIES_SPATIAL` copies in all (4 + 4 do not fit side by side); a `motion` / `temporal_order` scene at most
  `MAX_COPIES_MOVING` copies, and a moving object at most `MAX_COUNT_MOVING`.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimir.world import vocab


MAX_COPIES_SPATIAL = 7
MAX_COPIES_MOVING = 4
MAX_COUNT_MOVING = 2
_KEYS = ("id", "dimension", "prompt", "objects", "relation", "motion", "event", "lighting")


@dataclass
class SceneObject:
    """One object of a scene: `count` copies of the same shape and colour."""

    shape: str
    color: str
    count: int = 1


@dataclass
class MotionStep:
    """Object `object` (index into `SceneSpec.objects`) moves in `direction` during one time segment."""

    object: int
    direction: str


@dataclass
class Event:
    """Object `object` appears or disappears during the clip."""

    object: int
    event: str


@dataclass
class SceneSpec:
    """One line of a suite file. Build it with `parse_spec` to get it validated."""

    id: str
    dimension: str
    prompt: str
    objects: list[SceneObject]
    relation: str | None = None
    motion: list[MotionStep] | None = None
    event: Event | None = None
    lighting: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; optional keys are left out when unset, so `parse_spec(s.to_dict()) == s`."""
        d: dict[str, Any] = {
            "id": self.id,
            "dimension": self.dimension,
            "prompt": self.prompt,
            "objects": [{"shape": o.shape, "color": o.color, "count": o.count} for o in self.objects],
        }
        if self.relation is not None:
            d["relation"] = self.relation
        if self.motion is not None:
            d["motion"] = [{"object": m.object, "direction": m.direction} for m in self.motion]
        if self.event is not None:
            d["event"] = {"object": self.event.object, "event": self.event.event}
        if self.lighting is not None:
            d["lighting"] = self.lighting
        return d


def _fail(key: str, value: Any, rule: str) -> ValueError:
    return ValueError(f"{key}={value!r}: {rule}")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _fail(key, value, f"must be one of {', '.join(allowed)}")
    return value


def _index(key: str, value: Any, n_objects: int) -> int:
    # bool is an int subclass; `true` is not an index
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_objects:
        raise _fail(key, value, f"must be an object index in 0..{n_objects - 1}")
    return value


def _dict(key: str, value: Any, keys: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(key, value, "must be a JSON object")
    for k in value:
        if k not in keys:
            raise _fail(f"{key}.{k}", value[k], f"unknown key (allowed: {', '.join(keys)})")
    for k in required:
        if k not in value:
            raise _fail(key, value, f"missing required key {k!r}")
    return value


def _object(key: str, value: Any) -> SceneObject:
    d = _dict(key, value, ("shape", "color", "count"), ("shape", "color"))
    count = d.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= vocab.MAX_COUNT:
        raise _fail(f"{key}.count", count, f"must be an integer in 1..{vocab.MAX_COUNT}")
    return SceneObject(
        shape=_choice(f"{key}.shape", d["shape"], vocab.SHAPES),
        color=_choice(f"{key}.color", d["color"], tuple(vocab.COLORS)),
        count=count,
    )


def parse_spec(d: dict[str, Any]) -> SceneSpec:
    """Validate one scene spec (a decoded JSON object) and build it; raises `ValueError` naming the bad key."""
    d = _dict("spec", d, _KEYS, ("id", "dimension", "prompt", "objects"))
    if not isinstance(d["id"], str) or not d["id"]:
        raise _fail("id", d["id"], "must be a non-empty string")
    if not isinstance(d["prompt"], str) or not d["prompt"].strip():
        raise _fail("prompt", d["prompt"], "must be a non-empty string")
    dimension = _choice("dimension", d["dimension"], vocab.DIMENSIONS)

    raw_objects = d["objects"]
    if not isinstance(raw_objects, list) or not 1 <= len(raw_objects) <= 2:
        raise _fail("objects", raw_objects, "must be a list of 1 or 2 objects")
    objects = [_object(f"objects[{i}]", o) for i, o in enumerate(raw_objects)]
    n = len(objects)
    if dimension in ("multiple_objects", "spatial_relationship") and n != 2:
        raise _fail("objects", raw_objects, f"dimension {dimension!r} needs exactly 2 objects")
    if n == 2 and (objects[0].shape, objects[0].color) == (objects[1].shape, objects[1].color):
        raise _fail("objects", raw_objects, "the two objects must differ in shape or color")

    def only_for(key: str, dims: tuple[str, ...]) -> Any:
        value = d.get(key)
        if dimension in dims and value is None:
            raise _fail(key, value, f"required for dimension {dimension!r}")
        if dimension not in dims and value is not None:
            raise _fail(key, value, f"only allowed for dimension {' or '.join(map(repr, dims))}, not {dimension!r}")
        return value

    relation = only_for("relation", ("spatial_relationship",))
    if relation is not None:
        relation = _choice("relation", relation, vocab.RELATIONS)

    raw_motion = only_for("motion", ("motion", "temporal_order"))
    motion = None
    if raw_motion is not None:
        steps = 1 if dimension == "motion" else 2
        if not isinstance(raw_motion, list) or len(raw_motion) != steps:
            raise _fail("motion", raw_motion, f"dimension {dimension!r} needs a list of exactly {steps} step(s)")
        motion = []
        for i, m in enumerate(raw_motion):
            m = _dict(f"motion[{i}]", m, ("object", "direction"), ("object", "direction"))
            motion.append(
                MotionStep(
                    object=_index(f"motion[{i}].object", m["object"], n),
                    direction=_choice(f"motion[{i}].direction", m["direction"], vocab.DIRECTIONS),
                )
            )
        if steps == 2 and motion[0] == motion[1]:
            raise _fail("motion", raw_motion, "two steps of the same object must have different directions")

    raw_event = only_for("event", ("appearance",))
    event = None
    if raw_event is not None:
        e = _dict("event", raw_event, ("object", "event"), ("object", "event"))
        event = Event(
            object=_index("event.object", e["object"], n), event=_choice("event.event", e["event"], vocab.EVENTS)
        )

    lighting = d.get("lighting")
    if dimension == "lighting" and lighting is None:
        raise _fail("lighting", lighting, "required for dimension 'lighting'")
    if lighting is not None:
        lighting = _choice("lighting", lighting, vocab.LIGHTINGS)

    copies = sum(o.count for o in objects)
    if dimension == "spatial_relationship" and copies > MAX_COPIES_SPATIAL:
        raise _fail("objects", raw_objects, f"{copies} copies in all; at most {MAX_COPIES_SPATIAL} fit side by side")
    if motion is not None:
        if copies > MAX_COPIES_MOVING:
            raise _fail(
                "objects", raw_objects, f"{copies} copies in all; a moving scene holds at most {MAX_COPIES_MOVING}"
            )
        for i, m in enumerate(motion):
            if objects[m.object].count > MAX_COUNT_MOVING:
                raise _fail(
                    f"objects[{m.object}].count",
                    objects[m.object].count,
                    f"a moving object (motion[{i}]) has at most {MAX_COUNT_MOVING} copies",
                )

    return SceneSpec(
        id=d["id"],
        dimension=dimension,
        prompt=d["prompt"],
        objects=objects,
        relation=relation,
        motion=motion,
        event=event,
        lighting=lighting,
    )


def load_suite(path: str | Path, parse: Callable[[dict], Any] | None = None) -> list[SceneSpec]:
    """Read and validate a suite file (JSONL, one spec a line; blank lines skipped). `parse`: a line's dict -> spec
    (default `parse_spec`; world v2 passes its own, which also reads v1 lines).

    Raises `ValueError("{path}:{lineno}: reason")` on the first bad line, on a duplicate id, or on a file
    without any spec, so a bad suite is rejected before any generation starts.
    """
    specs: list[SceneSpec] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                spec = (parse or parse_spec)(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno})") from e
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from e
            if spec.id in seen:
                raise ValueError(f"{path}:{lineno}: id={spec.id!r}: duplicate, first used on line {seen[spec.id]}")
            seen[spec.id] = lineno
            specs.append(spec)
    if not specs:
        raise ValueError(f"{path}:1: the suite holds no spec (empty or blank file)")
    return specs


def write_suite(specs: list[SceneSpec], path: str | Path) -> None:
    """Write specs as JSONL (one `to_dict()` a line), the inverse of `load_suite`."""
    with open(path, "w", encoding="utf-8") as f:
        for spec in specs:
            f.write(json.dumps(spec.to_dict()) + "\n")

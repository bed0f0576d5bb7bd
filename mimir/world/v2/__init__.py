"""Nano world v2: compositional scenes (up to four objects, counts of several kinds, sizes, places, colour and size
changes, motions and actions bound to objects, interactions) for NanoBench-Comp. A superset of v1: v1 specs load,
render and score as before. Schema: SCHEMA.md beside this file."""

from mimir.world.v2 import vocab
from mimir.world.v2.render import HEIGHT, NUM_FRAMES, WIDTH, Layout, render, render_layout
from mimir.world.v2.spec import (
    AnySpec,
    Exclude,
    Interaction,
    SceneObject,
    SceneSpec,
    is_v1,
    load_suite,
    parse_spec,
    write_suite,
)


__all__ = [
    "vocab",
    "HEIGHT",
    "NUM_FRAMES",
    "WIDTH",
    "AnySpec",
    "Exclude",
    "Interaction",
    "Layout",
    "SceneObject",
    "SceneSpec",
    "is_v1",
    "load_suite",
    "parse_spec",
    "render",
    "render_layout",
    "write_suite",
]

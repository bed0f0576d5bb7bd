"""The nano world: scene specs, the ground-truth renderer, captions, the prompt reader and a spec sampler."""

from mimir.world.captions import canonical_prompt, caption
from mimir.world.reader import parse_prompt
from mimir.world.render import Layout, render, render_layout
from mimir.world.sampler import make_suite, sample_spec, sample_specs
from mimir.world.spec import Event, MotionStep, SceneObject, SceneSpec, load_suite, parse_spec, write_suite


__all__ = [
    "Event",
    "Layout",
    "MotionStep",
    "SceneObject",
    "SceneSpec",
    "canonical_prompt",
    "caption",
    "load_suite",
    "make_suite",
    "parse_prompt",
    "parse_spec",
    "render",
    "render_layout",
    "sample_spec",
    "sample_specs",
    "write_suite",
]

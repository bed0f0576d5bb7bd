"""The nano world: scene specs, the ground-truth renderer, captions, the prompt reader, a spec sampler and what the
world says about itself."""

from mimir.world.about import unplaced_note, world_summary
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
    "unplaced_note",
    "world_summary",
    "write_suite",
]

"""World v2's vocabulary: the words a v2 scene spec may use (a superset of `mimir.world.vocab`).

Colours are v1's eight (one fixed RGB each), so a v1 scene keeps its look. Our choices for what v2 adds:

- two new shapes, `star` (five points) and `heart`, whose outlines differ from every v1 shape at every rotation;
- two sizes, `small` and `large` (a bounding box of `SIZE_FRACS[size] * min(H, W)`);
- backgrounds that look like places: each a vertical gradient plus a texture, in muted colours far from every
  palette colour (the detector separates objects from the background by colour), and `plain`, v1's dark grey;
- actions: `spin` (rotates), `bounce` (hops up and lands, twice), `pulse` (grows and shrinks, twice),
  `blink` (vanishes and comes back, three times);
- interactions: `push` (one object moves into another, touches it, and both move on together) and `collide`
  (two objects move toward each other, touch, and bounce apart).
"""

from mimir.world.vocab import COLORS, DIRECTIONS, RELATIONS


SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star", "heart")
SIZES: tuple[str, ...] = ("small", "large")
# bounding-box side / min(H, W); v1's single size is 0.22 (14 px at 64x64)
SIZE_FRACS: dict[str, float] = {"small": 0.13, "large": 0.21}
ACTIONS: tuple[str, ...] = ("spin", "bounce", "pulse", "blink")
INTERACTIONS: tuple[str, ...] = ("push", "collide")
# Shapes that look the same at every rotation cannot be seen to spin.
SPIN_SHAPES: tuple[str, ...] = ("square", "triangle", "cross", "star", "heart")

# name -> (top RGB, bottom RGB, texture) of a vertical gradient, 0..255; see render._texture for each texture
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], str]] = {
    "plain": ((40, 40, 48), (40, 40, 48), "none"),  # v1's background
    "grass": ((62, 92, 48), (38, 70, 32), "blades"),
    "sky": ((70, 96, 140), (128, 150, 178), "clouds"),
    "sand": ((168, 148, 110), (140, 120, 86), "grain"),
    "night": ((10, 12, 30), (28, 30, 58), "stars"),
}

MAX_OBJECTS: int = 4
MAX_COUNT: int = 6
MAX_COPIES: int = 8  # copies in one scene, all objects together (room in the frame, ours)

# The seven categories of T2V-CompBench, as `dimension` values of a v2 spec. `spatial_relationships` is plural, as
# in CompBench, so that it never meets v1's `spatial_relationship` (a v1 spec keeps v1's meaning and scorer).
CATEGORIES: tuple[str, ...] = (
    "consistent_attribute_binding",
    "dynamic_attribute_binding",
    "spatial_relationships",
    "motion_binding",
    "action_binding",
    "object_interactions",
    "generative_numeracy",
)
# Precise-language phenomena: a tag on a spec whose prompt needs them (the scene and its check do not change).
LANGUAGE: tuple[str, ...] = ("world_knowledge", "arithmetic", "ordinal", "coreference", "negation")

__all__ = [
    "ACTIONS",
    "BACKGROUNDS",
    "CATEGORIES",
    "COLORS",
    "DIRECTIONS",
    "INTERACTIONS",
    "LANGUAGE",
    "MAX_COPIES",
    "MAX_COUNT",
    "MAX_OBJECTS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "SIZE_FRACS",
    "SPIN_SHAPES",
]

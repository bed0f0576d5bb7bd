"""The nano world's vocabulary: the words a scene spec may use.

The RGB values are our choice: eight colours that stay far apart in RGB (and after the tiny VAE), so that a
classical colour segmentation in NanoBench can tell them apart exactly. The background is a dark grey that no
object colour is near; the lighting events move it between `BACKGROUND_DARK` and `BACKGROUND_BRIGHT`.
"""

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")

# name -> (R, G, B) in 0..255
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (30, 200, 40),
    "blue": (40, 70, 240),
    "yellow": (245, 230, 30),
    "purple": (150, 40, 210),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "cyan": (30, 225, 225),
}

MAX_COUNT: int = 4
RELATIONS: tuple[str, ...] = ("left_of", "right_of", "above", "below")
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")
EVENTS: tuple[str, ...] = ("appear", "disappear")
LIGHTINGS: tuple[str, ...] = ("brightens", "darkens")
DIMENSIONS: tuple[str, ...] = (
    "object_class",
    "color",
    "count",
    "multiple_objects",
    "spatial_relationship",
    "motion",
    "temporal_order",
    "appearance",
    "lighting",
)

# Background grey levels (0..255). Static scenes use BACKGROUND; lighting scenes ramp between the two.
BACKGROUND: tuple[int, int, int] = (40, 40, 48)
BACKGROUND_DARK: tuple[int, int, int] = (15, 15, 20)
BACKGROUND_BRIGHT: tuple[int, int, int] = (110, 110, 120)

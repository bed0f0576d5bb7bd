"""The prompt reader (`mimir.world.reader.parse_prompt`): every NanoBench line of both splits, captions of both
wording splits, the unseen-wording phrases a visitor types, and prompts outside the world."""

import random
from pathlib import Path

import pytest

import mimir.world.captions as captions
from mimir.world import caption, sample_specs
from mimir.world.reader import parse_prompt
from mimir.world.spec import SceneSpec, load_suite


BENCH = Path(__file__).resolve().parents[1] / "prompts" / "bench"
STATIC = ("object_class", "color", "count")
_INVERSE = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}


def meaning(s: SceneSpec) -> tuple:
    """What the checks of `mimir.bench.checks` judge, independent of object order and of the side a relation is
    worded from: every check is order-free over objects (a colour's match depends on the other objects' colours,
    not their index) and the spatial check of (b, inverse, a) is that of (a, relation, b). So two specs with equal
    meaning get the same verdict from every check, whatever the video."""
    objs = sorted((o.shape, o.color, o.count) for o in s.objects)
    motion = [(s.objects[m.object].shape, s.objects[m.object].color, m.direction) for m in s.motion or []]
    event = (s.objects[s.event.object].shape, s.objects[s.event.object].color, s.event.event) if s.event else None
    rel = None
    if s.relation:
        a, b = [(o.shape, o.color) for o in s.objects]
        rel = min((a, s.relation, b), (b, _INVERSE[s.relation], a))
    return objs, motion, event, rel, s.lighting


def suite_lines(split: str) -> list[SceneSpec]:
    return [s for path in sorted((BENCH / split).glob("*.jsonl")) for s in load_suite(path)]


def test_reads_every_heldout_line():
    """Failing first: the reader before this change read none of the 1,080 held-out lines."""
    specs = suite_lines("heldout")
    assert len(specs) == 1080
    wrong = [
        (s.prompt, p and p.to_dict())
        for s in specs
        if (p := parse_prompt(s.prompt)) is None or meaning(p) != meaning(s)
    ]
    assert not wrong, f"{len(wrong)} of {len(specs)} held-out lines misread, e.g. {wrong[:3]}"
    # every held-out template belongs to one dimension, so the headline check is the suite's as well
    assert all(parse_prompt(s.prompt).dimension == s.dimension for s in specs)


def test_reads_every_training_line():
    specs = suite_lines("train")
    assert len(specs) == 1080
    wrong = [
        (s.prompt, p and p.to_dict())
        for s in specs
        if (p := parse_prompt(s.prompt)) is None or meaning(p) != meaning(s)
    ]
    assert not wrong, f"{len(wrong)} of {len(specs)} training lines misread, e.g. {wrong[:3]}"
    # Training templates such as "{objs}" serve object_class, color and count alike: "a purple square" alone cannot
    # say which dimension a suite filed it under. Every other line keeps its dimension.
    for s in specs:
        p = parse_prompt(s.prompt)
        assert p.dimension == s.dimension or (s.dimension in STATIC and p.dimension in STATIC), s.prompt


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_reads_captions_of_both_splits(split):
    """Captions drawn now from the shipped tables (the suites were written earlier): every one is read right."""
    rng = random.Random(5)
    specs = sample_specs(900, seed=21)
    for s in specs:
        text = caption(s, rng, split)
        p = parse_prompt(text)
        assert p is not None and meaning(p) == meaning(s), (text, s.to_dict())


def _scene(s: SceneSpec) -> dict:
    return {k: v for k, v in s.to_dict().items() if k not in ("id", "prompt")}


def _obj(shape: str, color: str, count: int = 1) -> dict:
    return {"shape": shape, "color": color, "count": count}


@pytest.mark.parametrize(
    "prompt, expected",
    [
        (  # a held-out colour inside a training template
            "a crimson disc beneath an azure block",
            {
                "dimension": "spatial_relationship",
                "objects": [_obj("circle", "red"), _obj("square", "blue")],
                "relation": "below",
            },
        ),
        (  # a free "first ..., then ..." with a reader-only noun and a composed motion ("drifts" + "east")
            "first a scarlet orb drifts east, then a cobalt tile sinks",
            {
                "dimension": "temporal_order",
                "objects": [_obj("circle", "red"), _obj("square", "blue")],
                "motion": [{"object": 0, "direction": "right"}, {"object": 1, "direction": "down"}],
            },
        ),
        ("imagine an azure wedge and nothing more", {"dimension": "color", "objects": [_obj("triangle", "blue")]}),
        (
            "midway through the clip a tangerine shape with three sides blinks into existence",
            {
                "dimension": "appearance",
                "objects": [_obj("triangle", "orange")],
                "event": {"object": 0, "event": "appear"},
            },
        ),
        (  # a training colour inside a held-out template
            "imagine a crimson disc and nothing more",
            {"dimension": "color", "objects": [_obj("circle", "red")]},
        ),
        (  # a held-out still-object suffix and a training lighting suffix after a held-out motion template
            "watch two golden balls head west; a cyan cross does not budge while the background darkens",
            {
                "dimension": "motion",
                "objects": [_obj("circle", "yellow", 2), _obj("cross", "cyan")],
                "motion": [{"object": 0, "direction": "left"}],
                "lighting": "darkens",
            },
        ),
        (  # the held-out temporal template names the later step first; "it" is the object named before
            "a plum wedge heads east once it climbs",
            {
                "dimension": "temporal_order",
                "objects": [_obj("triangle", "purple")],
                "motion": [{"object": 0, "direction": "up"}, {"object": 0, "direction": "right"}],
            },
        ),
        (
            "the sun sinking at dusk",
            {
                "dimension": "motion",
                "objects": [_obj("circle", "yellow")],
                "motion": [{"object": 0, "direction": "down"}],
                "lighting": "darkens",
            },
        ),
        (  # "look {rel_inv} {obj0} and you find {obj1}": the relation is worded from object 1's side
            "look to the west of a trio of ivory tiles and you find a ball the colour of a lime",
            {
                "dimension": "spatial_relationship",
                "objects": [_obj("square", "white", 3), _obj("circle", "green")],
                "relation": "right_of",
            },
        ),
        (
            "the frame holds a quartet of emerald shapes with no corners, no more and no fewer",
            {"dimension": "count", "objects": [_obj("circle", "green", 4)]},
        ),
        (
            "with a ruby cross in view, the backdrop grows dimmer",
            {"dimension": "lighting", "objects": [_obj("cross", "red")], "lighting": "darkens"},
        ),
    ],
)
def test_reads_unseen_wordings(prompt, expected):
    parsed = parse_prompt(prompt)
    assert parsed is not None, prompt
    assert _scene(parsed) == expected and parsed.prompt == prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "an eagle soaring over a snowy forest",
        "two dogs",
        "a scarlet orb drifts sideways",  # a direction the world does not have
        "imagine two azure wedge and nothing more",  # number disagreement
        "a crimson disc beneath a crimson disc",  # two objects must differ
        "the frame holds scarlet balls, no more and no fewer",  # how many?
    ],
)
def test_out_of_world_prompts_are_not_read(prompt):
    assert parse_prompt(prompt) is None


def test_one_home_for_the_reader():
    # captions write prompts; the reader reads them: parse_prompt lives in mimir.world.reader alone
    assert not hasattr(captions, "parse_prompt")

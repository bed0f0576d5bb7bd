"""Every numeric check survives any JSON number (issue 22, failure 6): an integer of 400 digits, a float that
overflowed to inf, NaN. Each is refused with a ValueError that names the parameter and shows the value shortened,
never an OverflowError and never the 400 digits (tiny seeded pipeline, real tokenizers)."""

import pytest

from mimir.checks import SHOWN_CHARS, shown
from mimir.generation import GenerationSettings
from mimir.video import check_seed

from .test_pipeline import make_pipe, parts  # noqa: F401  (the module fixture)


HUGE = [10**400, -(10**400), 1e308 * 10, -1e308 * 10, float("nan"), 2**1100]
FIELDS = ("seed", "num_frames", "height", "width", "num_inference_steps", "guidance_scale")
GOOD = dict(
    prompt="a red circle", seed=0, num_frames=9, height=16, width=16, num_inference_steps=2, guidance_scale=3.0
)
# A message may quote the parameter, the rule and the value; never more than this much of it.
MAX_MESSAGE = 300


@pytest.mark.parametrize("value", HUGE, ids=repr)
def test_check_seed_refuses_any_huge_number_cleanly(value):
    with pytest.raises(ValueError, match="seed") as err:
        check_seed(value)
    assert len(str(err.value)) < MAX_MESSAGE


@pytest.fixture(scope="module")
def pipe(parts):  # noqa: F811
    return make_pipe(parts)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", HUGE, ids=repr)
def test_generation_settings_refuse_any_huge_number_cleanly(pipe, field, value):
    settings = GenerationSettings(**{**GOOD, field: value})
    with pytest.raises(ValueError, match=field) as err:
        settings.validate(pipe)
    assert len(str(err.value)) < MAX_MESSAGE


@pytest.mark.parametrize("field", FIELDS[1:])
@pytest.mark.parametrize("value", HUGE, ids=repr)
def test_check_inputs_refuses_any_huge_number_cleanly(pipe, field, value):
    kwargs = {k: v for k, v in GOOD.items() if k not in ("prompt", "seed", "height", "width")}
    kwargs[field] = value
    height, width = kwargs.pop("height", 16), kwargs.pop("width", 16)
    with pytest.raises(ValueError, match=field) as err:
        pipe.check_inputs("a red circle", height, width, None, ["latents"], **kwargs)
    assert len(str(err.value)) < MAX_MESSAGE


def test_a_huge_prompt_list_is_not_echoed_whole(pipe):
    with pytest.raises(ValueError) as err:
        pipe.check_inputs([None] * 100_000, 16, 16, None, ["latents"])
    assert len(str(err.value)) < MAX_MESSAGE


def test_shown_values():
    assert shown(7) == "7" and shown("abc") == "'abc'" and shown(float("inf")) == "inf"
    assert shown(10**400) == "an integer of about 401 digits"
    assert shown(-(10**5000)) == "a negative integer of about 5001 digits"  # repr itself would raise here
    text = shown("x" * (1 << 20))
    assert text.startswith("'" + "x" * (SHOWN_CHARS - 1)) and text.endswith(f"({(1 << 20) + 2} characters)")

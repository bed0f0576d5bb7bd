"""The preset registry: each preset's defaults are calls its own pipeline accepts; unknown names are refused early.

Fast: the text branches are tests/tiny.py's; the nano video models are the registry's own (shipped, or seeded when
absent); the 5B's video models are tiny ones with the sizes of THUDM/CogVideoX-5b's configs (no download).
"""

import dataclasses

import pytest
import torch

from mimir.__main__ import main
from mimir.loading import load_pipelines
from mimir.pipeline import MimirPipeline
from mimir.presets import PRESETS, Preset
from mimir.token_fuser import TokenFuser

from .tiny import ENCODER_DIM, tiny_text_encoder, tiny_video_models


def cogvideox_5b_shaped_video_models():
    """Tiny VAE and DiT with what `supported_inputs` reads from THUDM/CogVideoX-5b's configs: the VAE's 8x spatial
    and 4x temporal compression, the DiT's 60x90 latent sample and patch 2, 1000 training timesteps."""
    transformer, vae, scheduler = tiny_video_models(
        sample_height=60, sample_width=90, sample_frames=49, patch_size=2, max_text_seq_length=226 + 4
    )
    return vae, transformer, scheduler


def preset_pipeline(preset: Preset, vae, transformer, scheduler) -> MimirPipeline:
    tokenizer, text_encoder = tiny_text_encoder()
    return MimirPipeline(
        tokenizer,
        text_encoder,
        vae,
        transformer,
        scheduler,
        TokenFuser(fusion_type="t5_only", encoder_dim=ENCODER_DIM, llm_dim=8),
        max_sequence_length=preset.max_sequence_length,
        max_num_frames=preset.max_num_frames,
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_defaults_are_supported_by_the_presets_pipeline(name):
    preset = PRESETS[name]
    if name == "nano":
        video = preset.video_models(preset.dtype)
        pipe = preset_pipeline(preset, video.vae, video.transformer, video.scheduler)
    else:
        pipe = preset_pipeline(preset, *cogvideox_5b_shaped_video_models())
    d = preset.defaults
    supported = pipe.supported_inputs
    assert d.num_frames in supported.num_frames and d.num_frames <= preset.max_num_frames
    assert d.height in supported.height and d.width in supported.width
    assert supported.num_inference_steps[0] <= d.num_inference_steps <= supported.num_inference_steps[1]
    assert supported.max_prompt_tokens == preset.max_sequence_length
    # and the pipeline's one check accepts the whole default call
    pipe.check_inputs(
        prompt="a red circle", negative_prompt="", callback_on_step_end_tensor_inputs=None, **dataclasses.asdict(d)
    )


def test_registry_is_typed_and_frozen():
    for preset in PRESETS.values():
        assert isinstance(preset, Preset)
        assert set(dataclasses.asdict(preset.defaults)) == {
            "num_frames",
            "height",
            "width",
            "num_inference_steps",
            "guidance_scale",
        }
        with pytest.raises(dataclasses.FrozenInstanceError):
            preset.max_num_frames = 1
    assert PRESETS["nano"].llm_quantization == "none" and PRESETS["cogvideox-5b"].llm_quantization == "8bit"
    assert PRESETS["cogvideox-5b"].dtype == torch.bfloat16 and PRESETS["nano"].dtype == torch.float32


def test_unknown_preset_is_refused_with_the_names_listed():
    with pytest.raises(ValueError, match=r"preset must be one of \['nano', 'cogvideox-5b', 'nano-v2'\], got 'nano5b'"):
        load_pipelines("nano5b")


def test_cogvideox_5b_without_weights_is_refused_before_any_download():
    with pytest.raises(ValueError, match="needs mimir_weights=PATH"):
        load_pipelines("cogvideox-5b", device="cpu")


def test_cli_preset_choices_come_from_the_registry(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--prompt", "a red circle", "--out", "x.mp4", "--preset", "nano5b"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "invalid choice: 'nano5b'" in err
    listed = err.split("choose from ")[1].split(")")[0].replace("'", "").split(", ")
    assert listed == list(PRESETS)


def test_preset_names_sizes_and_memory_modes_have_one_home():
    """One rule, one home (STYLE 16): the preset names and the nano size are defined in mimir/presets.py, the memory
    modes in mimir/offload.py; a second definition anywhere else in the package is a bug waiting to drift."""
    import re
    from pathlib import Path

    from mimir.offload import MEMORY_MODES
    from mimir.presets import NANO_HEIGHT, NANO_NUM_FRAMES, NANO_WIDTH, PRESET_NAMES

    homes = {
        r"^\s*PRESET_NAMES\s*[:=]|\(\s*['\"]nano['\"],\s*['\"]cogvideox-5b['\"]\s*\)": "presets.py",
        r"^\s*NANO_(NUM_FRAMES|HEIGHT|WIDTH)\b.*=|^\s*NANO_NUM_FRAMES, NANO_HEIGHT, NANO_WIDTH\s*=": "presets.py",
        r"^\s*MEMORY_MODES\s*[:=]|['\"]model_offload['\"],\s*['\"]sequential_offload['\"]": "offload.py",
    }
    package = Path(__file__).resolve().parents[1] / "mimir"
    for pattern, home in homes.items():
        found = [
            f"{path.relative_to(package)}:{n}"
            for path in sorted(package.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(pattern, line)
        ]
        assert found and all(place.startswith(f"{home}:") for place in found), (pattern, found)
    assert PRESET_NAMES == tuple(PRESETS) and (NANO_NUM_FRAMES, NANO_HEIGHT, NANO_WIDTH) == (9, 64, 64)
    assert MEMORY_MODES[0] == "none" and PRESETS["nano"].defaults.num_frames == NANO_NUM_FRAMES

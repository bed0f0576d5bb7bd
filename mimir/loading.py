"""Building a preset's two pipelines: `load_pipelines` makes the CogVideoX pipeline (`fusion_type="t5_only"`) and
the Mimir pipeline of one preset (mimir/presets.py), which share one encoder, VAE and scheduler in memory, and places
both with one `OffloadController` (mimir/offload.py). The 5B preset reads its base model and its LLM from a Hub id
or a local folder (`base_model`, `llm`), checked (mimir/model_sources.py) before anything loads.

Also the Mimir weights folder (`check_mimir_weights_folder`, `load_mimir_weights`); a LoRA-adapted DiT is fused by
mimir/lora.py. The text models' loaders and caches are mimir/text_models.py.
"""

from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from diffusers import CogVideoXTransformer3DModel

from .fast import FastMode, FastSettings, apply_fast, check_fast, check_float8_device
from .lora import LORA_DIR, fused_lora_transformer, has_lora
from .model_sources import COGVIDEOX_LAYOUT, LLM_LAYOUT, resolve_model_source
from .offload import MEMORY_MODES, MemoryMode, OffloadController
from .pair import MODELS, ModelName
from .pipeline import MimirPipeline
from .presets import LLMQuantization, PresetName, get_preset
from .text_encoding import LLMBranchConfig
from .token_fuser import FUSION_TYPES, TokenFuser, load_token_fuser


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

    def pipeline(self, model: ModelName) -> MimirPipeline:
        if model not in MODELS:
            raise ValueError(f"model must be 'cogvideox' or 'mimir', got {model!r}")
        return getattr(self, model)


def check_mimir_weights_folder(path: str | Path) -> Path:
    """Refuse a Mimir weights folder that is missing or lacks `token_fuser/` or its DiT (`transformer/`, or a LoRA
    adapter in `transformer_lora/` with its `base.json`), before any loading."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"mimir_weights={str(path)!r} does not exist or is not a folder")
    lora = has_lora(path)
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
    lora = has_lora(path)
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
        transformer = fused_lora_transformer(path / LORA_DIR, base_transformer, dtype)
    else:
        transformer = CogVideoXTransformer3DModel.from_pretrained(path / "transformer", torch_dtype=dtype)
    if transformer.config.text_embed_dim != encoder_dim:
        raise ValueError(
            f"mimir_weights={str(path)!r}: transformer text_embed_dim={transformer.config.text_embed_dim} "
            f"does not match encoder_dim={encoder_dim}"
        )
    return transformer, fuser, llm_branch


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
    spec = get_preset(preset)
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

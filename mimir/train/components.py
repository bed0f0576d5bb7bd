"""What training takes from a preset: its frozen text models and VAE, the DiT to start from and the scheduler
(`training_components`), for the full-scale trainer (mimir/train/finetune.py), its tests and the benchmark."""

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

from mimir.presets import COGVIDEOX_5B, NANO_ASSETS, LLMQuantization, PresetName, get_preset


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
    spec = get_preset(preset)
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

"""LoRA fusion: a Mimir weights folder whose DiT is a LoRA adapter (`transformer_lora/`, written by
`mimir.train.mimir_weights.save_mimir_weights`) becomes a plain DiT with the adapter fused in.

The folder holds diffusers' `save_lora_adapter` files and `base.json`: where the base DiT came from and the config
keys it was trained with, so an adapter is refused on a base of another shape before its weights load.
"""

import copy
import json
from pathlib import Path

import torch
from diffusers import CogVideoXTransformer3DModel


LORA_DIR, BASE_FILE = "transformer_lora", "base.json"  # the folder layout, read here and written by save_mimir_weights
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


def has_lora(weights_folder: Path) -> bool:
    """Whether a Mimir weights folder holds its DiT as a LoRA adapter (`transformer_lora/base.json`)."""
    return (Path(weights_folder) / LORA_DIR / BASE_FILE).is_file()


def fused_lora_transformer(
    folder: Path, base: CogVideoXTransformer3DModel | None, dtype: torch.dtype
) -> CogVideoXTransformer3DModel:
    """The base DiT with a trained LoRA adapter fused in. A copy: the CogVideoX column keeps the base (so the two
    pipelines hold two DiTs, as with a full fine-tune)."""
    saved = json.loads((folder / BASE_FILE).read_text())
    if base is None:
        raise ValueError(f"{str(folder)!r} holds a LoRA adapter of {saved['base']!r}: it needs that base DiT")
    differing = sorted(k for k, v in saved["config"].items() if k in base.config and _plain(base.config[k]) != v)
    if differing:
        raise ValueError(
            f"{str(folder)!r} is a LoRA adapter of a DiT with other {', '.join(differing)} than this preset's "
            f"(trained on {saved['base']!r})"
        )
    transformer = copy.deepcopy(base).to(dtype)
    transformer.load_lora_adapter(folder, prefix=None, weight_name=LORA_WEIGHTS, use_safetensors=True)
    transformer.fuse_lora()
    transformer.unload_lora()  # fused weights, plain modules: inference needs no peft layers
    return transformer


def _plain(value):
    """A config value as JSON writes it (tuples become lists)."""
    return json.loads(json.dumps(value, default=list))

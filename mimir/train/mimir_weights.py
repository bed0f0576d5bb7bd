"""The Mimir weights folder a training run writes, the one `load_pipelines(..., mimir_weights=PATH)` and
`--mimir-weights PATH` read (`mimir.loading.load_mimir_weights`):

    token_fuser/        TokenFuser config.json + diffusion_pytorch_model.safetensors
    transformer/        the fine-tuned DiT (config.json + safetensors), for a full fine-tune, or
    transformer_lora/   its LoRA adapter (diffusers `save_lora_adapter`) + base.json (where the base DiT came from and
                        its config: the loader applies the adapter to the preset's DiT and checks it is that one)
    llm_branch.json     the LLM-branch settings the fuser was trained with
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from mimir.lora import BASE_FILE, LORA_DIR
from mimir.text_encoding import LLMBranchConfig


def save_mimir_weights(
    folder: str | Path, model, llm_branch: LLMBranchConfig, full_state: dict[str, torch.Tensor], base: str
) -> None:
    """Write the weights folder from an unwrapped `MimirDenoiser` and its full state dict (gathered: under FSDP the
    module's own parameters are shards). Main process only."""
    folder = Path(folder)
    _save_component(model.fuser, _strip(full_state, "fuser."), folder / "token_fuser")
    if getattr(model.transformer, "peft_config", None):
        shutil.rmtree(folder / "transformer", ignore_errors=True)  # a folder holds one kind of DiT weights
        model.transformer.save_lora_adapter(folder / LORA_DIR)
        config = {k: v for k, v in model.transformer.config.items() if not k.startswith("_")}
        (folder / LORA_DIR / BASE_FILE).write_text(
            json.dumps({"base": base, "config": config}, indent=1, default=list)
        )
    else:
        shutil.rmtree(folder / LORA_DIR, ignore_errors=True)
        _save_component(model.transformer, _strip(full_state, "transformer."), folder / "transformer")
    llm_branch.save(folder)


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _save_component(module, state: dict[str, torch.Tensor], target: Path) -> None:
    """`save_pretrained`'s layout (config.json + diffusion_pytorch_model.safetensors) from a given state dict."""
    target.mkdir(parents=True, exist_ok=True)
    module.save_config(target)
    if state:  # a t5_only fuser has no weights: its config alone rebuilds it
        save_file(
            {k: v.detach().contiguous().cpu() for k, v in state.items()},
            target / "diffusion_pytorch_model.safetensors",
        )

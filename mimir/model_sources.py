"""Where the `cogvideox-5b` preset's models come from: a Hugging Face Hub id or a local folder, checked before
anything loads.

A local folder must have the layout `from_pretrained` reads: a CogVideoX base model is a diffusers pipeline folder
(`model_index.json`, `transformer/`, `vae/`, `scheduler/`, `text_encoder/`, `tokenizer/`), an LLM a transformers
model folder (`config.json`, weights, tokenizer files). A folder that lacks a part is refused naming the folder and
the part, so a wrong path costs seconds, not a half-finished load of 25 GB. A Hub id (`owner/name`) is passed through
unchanged: the Hub (or its local cache) answers for it.
"""

import re
from dataclasses import dataclass
from pathlib import Path


# Hub repo ids are `owner/name`; a value of that form that is not an existing folder is taken to be one.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spiece.model", "tokenizer.model")


@dataclass(frozen=True)
class FolderLayout:
    """What a model folder must hold: `files` (relative paths), weights under each of `weights` ("" = the folder
    itself), tokenizer files in `tokenizer`."""

    kind: str  # for the error message: "a diffusers CogVideoX pipeline folder"
    files: tuple[str, ...]
    weights: tuple[str, ...]
    tokenizer: str


COGVIDEOX_LAYOUT = FolderLayout(
    kind="a diffusers CogVideoX pipeline folder",
    files=(
        "model_index.json",
        "transformer/config.json",
        "vae/config.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json",
    ),
    weights=("transformer", "vae", "text_encoder"),
    tokenizer="tokenizer",
)
LLM_LAYOUT = FolderLayout(kind="a transformers causal-LM folder", files=("config.json",), weights=("",), tokenizer="")


def missing_parts(folder: Path, layout: FolderLayout) -> list[str]:
    """The parts of `layout` that `folder` lacks, as readable relative paths; empty when the layout is complete."""
    missing = [f for f in layout.files if not (folder / f).is_file()]
    for sub in layout.weights:
        if not any(any((folder / sub).glob(pattern)) for pattern in WEIGHT_FILES):
            missing.append(f"{sub or '.'}/ weights ({', '.join(WEIGHT_FILES)})")
    if not any((folder / layout.tokenizer / name).is_file() for name in TOKENIZER_FILES):
        missing.append(f"{layout.tokenizer or '.'}/ tokenizer ({', '.join(TOKENIZER_FILES)})")
    return missing


def resolve_model_source(value: str | Path, name: str, layout: FolderLayout) -> str:
    """`value` as `from_pretrained` takes it: an existing folder with `layout` complete, or a Hub id `owner/name`.

    Raises ValueError naming `name`, the value and what is missing.
    """
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValueError(f"{name}={value!r} must be a Hub id (owner/name) or a folder")
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{name}={str(value)!r} is a file, not {layout.kind}")
        missing = missing_parts(path, layout)
        if missing:
            raise ValueError(f"{name}={str(path)!r} is not {layout.kind}: missing {'; '.join(missing)}")
        return str(path)
    if isinstance(value, str) and HUB_ID.match(value):
        return value
    raise ValueError(f"{name}={str(value)!r}: no such folder, and not a Hub id of the form owner/name")

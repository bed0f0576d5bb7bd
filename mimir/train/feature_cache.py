"""An on-disk cache of what the frozen models compute for each training clip: VAE latents and both text branches'
features, so that a long run encodes every clip once instead of once per epoch.

Layout of a cache folder:
    key.json                       what the features depend on (models, sizes, LLM-branch settings, the item list);
                                   a cache built for something else is refused, never silently reused
    shard_00000.safetensors        up to `shard_size` items in the order of the kept item list:
                                   latents (S, F_lat, C, h, w), encoder_embeds (S, n, D), encoder_mask (S, n),
                                   [llm_embeds (S, n, L, D_llm), llm_mask (S, n), instruction_embeds (S, 4, L, D_llm)],
                                   valid (S,) (0: the file broke after the scan; the item is skipped)
    empty.safetensors              the empty caption's text features (caption dropout, for CFG)

Shards are written whole (temporary name, then renamed), so a killed run resumes with the shards it finished. Items are
read lazily from the memory-mapped shards (`safe_open(...).get_slice`), so the cache may be larger than memory.
"""

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file


KEY_FILE = "key.json"


class FeatureCache:
    def __init__(self, folder: str | Path, key: dict, num_items: int, shard_size: int):
        if shard_size < 1:
            raise ValueError(f"cache shard size {shard_size} must be at least 1")
        self.folder, self.num_items, self.shard_size = Path(folder), num_items, shard_size
        self.folder.mkdir(parents=True, exist_ok=True)
        # As JSON reads it back (tuples become lists), so that an unchanged setting compares equal.
        key = json.loads(json.dumps({**key, "num_items": num_items, "shard_size": shard_size}, default=str))
        path = self.folder / KEY_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            differing = sorted(k for k in set(saved) | set(key) if saved.get(k) != key.get(k))
            if differing:
                raise ValueError(
                    f"cache {str(self.folder)!r} was built for other settings ({', '.join(differing)} differ): "
                    "give another --cache-dir or delete that one"
                )
        else:
            _atomic_write_text(path, json.dumps(key, indent=1, sort_keys=True))
        self._handles: dict[int, object] = {}

    @property
    def num_shards(self) -> int:
        return -(-self.num_items // self.shard_size)

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard_{shard:05d}.safetensors"

    def positions(self, shard: int) -> range:
        """The item positions a shard holds."""
        return range(shard * self.shard_size, min((shard + 1) * self.shard_size, self.num_items))

    def missing(self) -> list[int]:
        return [s for s in range(self.num_shards) if not self.shard_path(s).exists()]

    def has_empty(self) -> bool:
        return (self.folder / "empty.safetensors").exists()

    def write_shard(self, shard: int, tensors: dict[str, torch.Tensor]) -> None:
        expected = len(self.positions(shard))
        sizes = {name: t.shape[0] for name, t in tensors.items()}
        if set(sizes.values()) != {expected}:
            raise ValueError(f"shard {shard} must hold {expected} items per tensor, got {sizes}")
        _atomic_save(tensors, self.shard_path(shard))

    def write_empty(self, tensors: dict[str, torch.Tensor]) -> None:
        _atomic_save(tensors, self.folder / "empty.safetensors")

    def read_empty(self) -> dict[str, torch.Tensor]:
        with safe_open(self.folder / "empty.safetensors", framework="pt") as f:
            return {name: f.get_tensor(name) for name in f.keys()}

    def read(self, position: int) -> dict[str, torch.Tensor]:
        """One item's tensors, without its leading S dimension."""
        if not 0 <= position < self.num_items:
            raise IndexError(f"cache position {position} outside 0..{self.num_items - 1}")
        shard, offset = divmod(position, self.shard_size)
        if shard not in self._handles:
            self._handles[shard] = safe_open(self.shard_path(shard), framework="pt")
        handle = self._handles[shard]
        return {name: handle.get_slice(name)[offset : offset + 1][0] for name in handle.keys()}

    def __getstate__(self):
        # DataLoader workers get their own handles (open files do not pickle).
        return {**self.__dict__, "_handles": {}}


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp)
    os.replace(tmp, path)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)

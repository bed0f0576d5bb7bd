"""NanoBench suites: validated loading and the per-spec seed.

A suite is a JSONL file of scene specs (`mimir.world.spec.load_suite`). The spec schema has no `seed` key, so a
bench spec carries its fixed seed in its id, as a `-s<digits>` suffix (`color-0007-s918273`): the ground-truth
render and every generated video of that spec use it. An id without the suffix gets a stable hash of the id.
"""

import re
import zlib
from pathlib import Path

from mimir.world.spec import SceneSpec, load_suite


_SEED_SUFFIX = re.compile(r"-s(\d+)$")


def spec_seed(spec: SceneSpec) -> int:
    """The fixed seed of a bench spec: the id's `-s<digits>` suffix, else crc32 of the id (stable across runs)."""
    m = _SEED_SUFFIX.search(spec.id)
    return int(m.group(1)) if m else zlib.crc32(spec.id.encode("utf-8"))


def load_suites(paths: list[str | Path]) -> dict[str, list[SceneSpec]]:
    """Validate and load every suite before any work starts: path -> specs.

    Raises the first `ValueError("path:line: reason")` from `load_suite`, so a bad line is named before anything
    is generated.
    """
    return {str(p): load_suite(p) for p in paths}

"""The two models the studio compares, under one name each: the pair's one home (the app, the study, the CLI,
the benchmarks and the vote file all use these keys and labels)."""

from typing import Literal, get_args


ModelName = Literal["cogvideox", "mimir"]
# Generation order too: CogVideoX first, then Mimir, on the same seed and initial latents.
MODELS: tuple[str, ...] = get_args(ModelName)
# Display names, shared by the app, the tables and the CLI, so every table names things the same way.
MODEL_LABELS: dict[str, str] = {"cogvideox": "CogVideoX", "mimir": "Mimir"}

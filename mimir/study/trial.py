"""One blind trial: the record the trial store keeps, the vote rows copy and the reveal names.

A leaf module (it imports only the model pair, `mimir.pair`): `votes` and `trial_store` need the record without the
generation code that `trials` imports (torch, ~2 s), and without an import circle between `trials` and `votes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mimir.pair import MODEL_LABELS


if TYPE_CHECKING:  # an annotation only: importing generation at run time would load torch
    from mimir.generation import GenerationSettings


@dataclass
class Trial:
    """One blind comparison: the same prompt, seed and settings through both models, sides drawn at random."""

    trial_id: str
    prompt: str
    seed: int
    settings: dict[str, Any]  # votes.SETTING_FIELDS -> value
    model_left: str  # shown as "Video A"
    model_right: str  # shown as "Video B"
    preset: str = ""
    seconds_left: float | None = None
    seconds_right: float | None = None

    def model_for(self, choice: str) -> str:
        """The model a choice points at: ``A`` -> left, ``B`` -> right, otherwise the choice itself."""
        return {"A": self.model_left, "B": self.model_right}.get(choice, choice)

    def reveal(self) -> str:
        return f"Video A was {MODEL_LABELS[self.model_left]}, Video B was {MODEL_LABELS[self.model_right]}."

    def generation_settings(self) -> GenerationSettings:
        from mimir.generation import GenerationSettings  # here, not at the top: this module stays torch-free

        return GenerationSettings(prompt=self.prompt, seed=self.seed, **self.settings)

"""`Studio`: what the app does, as plain Python. Each public method backs one event of the app, one named API
endpoint, and (for `generate_pair`) `python -m mimir compare`.

A method takes values already of their JSON type (requests.py checks raw API values) and validates them once, at
its entrance: `settings()` builds and checks the generation settings, and every later step trusts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mimir import tokens
from mimir.bench import score_video
from mimir.generation import GenerationCancelled, GenerationResult, GenerationSettings, StepProgress
from mimir.gpu_time import check_budget, pair_seconds
from mimir.outputs import OutputFolder
from mimir.pair import MODEL_LABELS, MODELS
from mimir.video import DISPLAY_UPSCALE, MAX_SEED, save_gif, save_mp4
from mimir.world.about import unplaced_note, world_summary
from mimir.world.reader import parse_prompt

from . import gpu
from .config import VOTES_PER_MINUTE, StudioConfig, votes_persistence_note
from .requests import Client
from .study import TRIAL_PROGRESS_LABELS, ResultsOutput, Study, TrialOutput
from .verdicts import result_markdown


# (fraction, description) for a progress bar, and "is anybody still waiting for this answer?"
Progress = Callable[[float, str], None]
Alive = Callable[[], bool]


@dataclass
class ModelOutput:
    """One column of a pair: the video, its files, its verdicts and the words shown under it."""

    model: str
    result: GenerationResult
    verdicts: dict[str, Any] | None
    info: str  # markdown
    video: str | None = None  # mp4, once saved
    files: list[str] = field(default_factory=list)  # mp4, gif

    def record(self) -> dict[str, Any]:
        """What `python -m mimir compare` prints and writes for this model."""
        res = self.result
        return {
            "model": self.model,
            "video": self.video,
            "files": self.files,
            "seconds": round(res.seconds, 3),
            "peak_memory_bytes": res.peak_memory_bytes,
            "peak_memory_kind": res.peak_memory_kind,
            "frames_shape": list(res.frames.shape),
            "verdicts": self.verdicts,
        }


@dataclass
class PairOutput:
    settings: GenerationSettings
    outputs: dict[str, ModelOutput] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"settings": self.settings.as_dict(), "results": {m: out.record() for m, out in self.outputs.items()}}


@dataclass
class TokenSpaceOutput:
    figures: list[Any]  # plotly figures of panels a-d
    stats: pd.DataFrame
    volatility: pd.DataFrame
    answers: str  # markdown


def step_progress(progress: Progress | None, labels: dict[str, str], alive: Alive) -> StepProgress:
    """One bar per generation, labelled with the model (or a neutral label) and its step: "Mimir 12/20". Stops the
    generation between two steps once its request is no longer `alive`."""

    def report(model: str, step: int, total: int) -> None:
        if not alive():
            raise GenerationCancelled(f"{model} step {step}/{total}")
        if progress is not None:
            progress(step / total, f"{labels[model]} {step}/{total}")

    return report


def _always() -> bool:
    return True


class Studio:
    """The loaded pipelines, the study and the app's output folder."""

    def __init__(
        self,
        pipes: Any,
        votes_path: str | Path | None = None,
        study_prompts: str | Path | None = None,
        out_dir: str | Path | None = None,
        study_seed: int | None = None,
        trials_path: str | Path | None = None,
        vote_rate: tuple[int, float] = (VOTES_PER_MINUTE, 60.0),
        max_output_bytes: int | None = None,
        gpu_max_seconds: int | None = None,
    ) -> None:
        self.pipes = pipes
        self.gpu_max_seconds = gpu_max_seconds  # ZeroGPU: refuse up front what would need more GPU time than this
        # The study only where there is a vote file (the app); `python -m mimir compare` needs none.
        self.study = (
            None
            if votes_path is None
            else Study(votes_path, study_prompts, study_seed, trials_path, vote_rate, max_seed=MAX_SEED)
        )
        self.persistence_note = None if votes_path is None else votes_persistence_note(votes_path)
        self.outputs = OutputFolder(out_dir, **({} if max_output_bytes is None else {"max_bytes": max_output_bytes}))
        self.out_dir = self.outputs.root
        # The prompt an out-of-world note offers (the app sets its first example; None: the world's default example).
        self.try_example: str | None = None

    @classmethod
    def from_config(cls, config: StudioConfig) -> Studio:
        """The app's studio: the Space check and the vote and trial files first (a bad --votes path fails in a second,
        not after loading the models), then the pipelines, loaded once."""
        from mimir.loading import load_pipelines  # seconds: torch, diffusers, the text models

        gpu.check_memory_for_space(config.memory, gpu.on_zero_gpu())
        cls.check_files(config.votes)
        pipes = load_pipelines(
            preset=config.preset,
            mimir_weights=config.mimir_weights,
            memory=config.memory,
            base_model=config.base_model,
            llm=config.llm,
            fast=config.fast,
        )
        return cls(
            pipes,
            votes_path=config.votes,
            study_prompts=config.study_prompts,
            out_dir=config.out_dir,
            vote_rate=(config.votes_per_minute, 60.0),
            gpu_max_seconds=config.gpu_max_seconds,
        )

    @staticmethod
    def check_files(votes_path: str | Path) -> None:
        """Open the vote file and the trial file before any model loads: a bad --votes path fails in a second."""
        Study.check_files(votes_path)

    # The study's stores, under the names the app and the tests use.
    @property
    def votes(self):
        return self.study.votes

    @property
    def trial_store(self):
        return self.study.trial_store

    @property
    def trials(self):
        return self.study.trials

    @property
    def nano(self) -> bool:
        return self.pipes.preset == "nano"

    def header_markdown(self) -> str:
        p = self.pipes
        fast = "off" if p.fast is None else "fp8" if p.fast.float8 else "on"
        text = f"# Mimir Studio\n**preset** `{p.preset}` · **memory** `{p.memory}` · **fast** `{fast}`"
        text += " · CogVideoX vs Mimir (CVPR 2025)"
        if self.nano:
            text += f"  \n{world_summary()}"
        if not p.trained:
            text += (
                "\n\n<div class='untrained'><b>untrained</b>: the nano video models are random-initialised "
                "(no trained weights under mimir/assets/nano/). Videos are noise; the app, the token space and the "
                "study machinery still work.</div>"
            )
        return text

    # ---- Compare -----------------------------------------------------------------------------------------------

    def settings(self, prompt: str, negative_prompt: str = "", seed: int = 0, **values: Any) -> GenerationSettings:
        """The one validation of a generation request: the seed, then every model rule by both pipelines'
        `check_inputs`, then (ZeroGPU) the GPU time. Missing values take the preset's defaults."""
        values = {**{k: self.pipes.defaults[k] for k in _SETTING_DEFAULTS}, **values}
        settings = GenerationSettings(prompt=prompt, negative_prompt=negative_prompt or "", seed=seed, **values)
        settings.validate(*(self.pipes.pipeline(m) for m in MODELS))
        check_budget(pair_seconds(self.pipes.preset, self.pipes.memory, settings), self.gpu_max_seconds)
        return settings

    def run_pair(self, pipes: Any, settings: GenerationSettings, progress: StepProgress | None = None) -> dict:
        """Both videos of validated `settings`, through the GPU-scheduled call."""
        return gpu.run_compare(pipes, settings, progress)

    def generate_pair(
        self, settings: GenerationSettings, progress: Progress | None = None, alive: Alive = _always, save: bool = True
    ) -> PairOutput:
        """CogVideoX and Mimir for validated `settings` (from `settings()`) with the same seed and initial latents:
        each with, in the nano preset, the NanoBench verdicts when the prompt lies in the world, and (`save`) its mp4
        and gif in the app's output folder."""
        results = self.run_pair(self.pipes, settings, step_progress(progress, MODEL_LABELS, alive))
        spec = parse_prompt(settings.prompt) if self.nano else None
        unplaced = unplaced_note(settings.prompt, self.try_example) if self.nano and spec is None else ""
        pair = PairOutput(settings)
        for model, res in results.items():
            verdicts = None if spec is None else score_video(res.frames, spec)
            info = result_markdown(MODEL_LABELS[model], res, verdicts, nano=self.nano, unplaced=unplaced)
            out = pair.outputs[model] = ModelOutput(model, res, verdicts, info)
            if save:
                mp4, gif = self.save(res.frames, f"{model}-seed{settings.seed}")
                out.video, out.files = mp4, [mp4, gif]
        return pair

    def prompt_limit(self) -> str:
        """The prompt limit in words, stated where a prompt is typed: a longer one is refused (check_inputs)."""
        supported = self.pipes.mimir.supported_inputs
        return (
            f"at most {supported.max_prompt_tokens} tokens; a longer prompt is refused, never cut "
            f"(and at most {supported.max_prompt_chars} characters, checked first)"
        )

    def unplaced(self, prompt: str) -> bool:
        """Whether `prompt` lies outside the nano world (no verdicts; the note says what the world holds)."""
        return self.nano and parse_prompt(prompt) is None

    def save(self, frames: np.ndarray, stem: str, fps: int = 8, upscale: int = DISPLAY_UPSCALE) -> tuple[str, str]:
        """mp4 and gif of `frames` (F, H, W, 3) in a new folder of the app's output folder."""
        folder = self.outputs.new_folder()
        mp4 = save_mp4(frames, folder / f"{stem}.mp4", fps=fps, upscale=upscale)
        gif = save_gif(frames, folder / f"{stem}.gif", fps=fps, upscale=upscale)
        return str(mp4), str(gif)

    # ---- Token space -------------------------------------------------------------------------------------------

    def token_space(
        self,
        prompts_text: str,
        answer_prompt: str,
        k: int,
        perplexity: float,
        seed: int,
        progress: Progress | None = None,
        alive: Alive = _always,
    ) -> TokenSpaceOutput:
        """Fig. 7 a-d for the user's prompts (one per line); `tokens.token_space` checks them (its one entrance)."""

        def report(fraction: float, stage: str) -> None:
            if not alive():
                raise GenerationCancelled(stage)
            if progress is not None:
                progress(fraction, stage)

        space = gpu.run_token_space(
            self.pipes.mimir,
            (prompts_text or "").splitlines(),
            answer_prompt=answer_prompt,
            k=k,
            perplexity=perplexity,
            seed=seed,
            progress=report,
        )
        figures = [tokens.figure(space.panels[key]) for key in "abcd"]
        answers = "\n".join(f"{i + 1}. {a}" for i, a in enumerate(space.answers)) or "(no answers)"
        answers_md = f"**Sampled answers (panel b)**\n\n{answers}\n\n" + "  \n".join(f"_{n}_" for n in space.notes)
        return TokenSpaceOutput(figures, space.stats, space.volatility, answers_md)

    # ---- User study --------------------------------------------------------------------------------------------

    def new_trial(
        self, own_prompt: str, client: Client, progress: Progress | None = None, alive: Alive = _always
    ) -> TrialOutput:
        """A blind trial for `client`'s session; `own_prompt` is checked like a Compare prompt."""

        def run(pipes: Any, settings: GenerationSettings, step: StepProgress | None = None) -> dict:
            checked = self.settings(settings.prompt, settings.negative_prompt, settings.seed, **_values(settings))
            return self.run_pair(pipes, checked, step)

        return self.study.new_trial(
            self.pipes,
            own_prompt,
            client,
            self.outputs.new_folder(),
            run=run,
            progress=step_progress(progress, TRIAL_PROGRESS_LABELS, alive),
        )

    def vote(self, trial_id: Any, ballot: dict[str, Any], client: Client) -> str:
        return self.study.vote(trial_id, ballot, client)

    def results(self) -> ResultsOutput:
        return self.study.results(self.outputs.new_folder())


_SETTING_DEFAULTS = ("num_frames", "height", "width", "num_inference_steps", "guidance_scale")


def _values(settings: GenerationSettings) -> dict[str, Any]:
    return {k: getattr(settings, k) for k in _SETTING_DEFAULTS}

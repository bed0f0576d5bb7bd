"""Checkpoints: weights in diffusers format plus the config that rebuilds them, accelerate's trainer state to resume,
the loss log, and the export of a run.

Layout of a run folder:
    <run>/<component>/config.json + diffusion_pytorch_model.safetensors   (save_pretrained; one folder per model)
    <run>/trainer_state/        (accelerate's `save_state`: prepared models, optimizer, LR scheduler, GradScaler, the
                                 RNG states of every process; custom_checkpoint_0.pkl holds the step)
    <run>/losses.csv                                (step, loss, loss_mean, lr, elapsed seconds; see LossLog)
    <run>/args.json, environment.json                                      (the command's arguments; machine, versions)
"""

import copy
import csv
import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

from mimir.bench.report import environment
from mimir.token_fuser import load_token_fuser


STATE_DIR = "trainer_state"


def save_models(run: Path, models: dict, dtype: torch.dtype | None = None) -> None:
    """Save each model with `save_pretrained` under `run/<name>/` (optionally cast, e.g. fp16 for shipping)."""
    for name, model in models.items():
        target = run / name
        if dtype is not None:
            model = _cast_copy(model, dtype)
        model.save_pretrained(target, safe_serialization=True)


def _cast_copy(model, dtype):
    return copy.deepcopy(model).to(dtype)


class TrainingState:
    """What resumes a run: accelerate's `save_state` / `load_state` carry the prepared models, optimizer and
    GradScaler, the objects registered here (the LR scheduler) and every process's RNG states; this adds the step.

    Construct it after `accelerator.prepare`; `resume()` then continues a run where its last checkpoint left it.
    """

    def __init__(self, accelerator: Accelerator, run: Path, *objects):
        self.accelerator, self.run, self.step = accelerator, Path(run), 0
        accelerator.register_for_checkpointing(self, *objects)  # self first: custom_checkpoint_0.pkl is the step

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])

    def resume(self) -> int:
        """Restore `run/trainer_state/` if the run has one; returns the step to continue from (0 for a new run)."""
        if (self.run / "trainer_state.pt").exists() and not (self.run / STATE_DIR).exists():
            raise ValueError(
                f"{str(self.run)!r} holds a trainer_state.pt of an older checkpoint layout, which cannot resume: "
                "start a new --output-dir"
            )
        if (self.run / STATE_DIR).is_dir():
            self.accelerator.load_state(self.run / STATE_DIR)
        return self.step

    def save(self, step: int, models: dict | None = None, weights: Callable[[], None] | None = None) -> None:
        """Checkpoint at `step`; every process calls it (each saves its own RNG state). The models go to `run/<name>/`
        in diffusers format (what export and the presets read), the trainer state to `run/trainer_state/`, written
        beside the previous one and swapped in whole, so that a run killed mid-save still resumes.

        `weights`, instead of `models`, writes the weights itself; every process calls it (gathering a sharded FSDP
        model needs them all)."""
        self.step = step
        accelerator, current = self.accelerator, self.run / STATE_DIR
        new, old = current.with_name(STATE_DIR + ".new"), current.with_name(STATE_DIR + ".old")
        if weights is not None:
            weights()
        if accelerator.is_main_process:
            if models:
                save_models(self.run, {name: accelerator.unwrap_model(model) for name, model in models.items()})
            shutil.rmtree(new, ignore_errors=True)  # left by a save that was killed
        accelerator.wait_for_everyone()
        accelerator.save_state(new)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if current.exists():
                current.rename(old)
            new.rename(current)
            shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()


class LossLog:
    """Appends `step,loss,loss_mean,lr,seconds` rows to `run/losses.csv` (kept across resumes).

    `loss` is the logged step's own loss; `loss_mean` the mean over every step since the previous row. One step's loss
    varies by 6-13% (one standard deviation, late in the nano runs) with the sampled timesteps and noise, so the
    interval mean says more about where a run stands than any single step.
    The running sum stays on the device so that logging costs no sync per step.
    """

    def __init__(self, run: Path):
        self.path = run / "losses.csv"
        self.start = time.time()
        self.total: torch.Tensor | None = None
        self.count = 0
        if not self.path.exists():
            self.path.write_text("step,loss,loss_mean,lr,seconds\n")

    def add(self, loss: torch.Tensor) -> None:
        loss = loss.detach().float()
        self.total = loss if self.total is None else self.total + loss
        self.count += 1

    def write(self, step: int, loss: float, lr: float) -> None:
        mean = self.total.item() / self.count if self.count else float("nan")
        self.total, self.count = None, 0
        with self.path.open("a", newline="") as f:
            csv.writer(f).writerow(
                [step, f"{loss:.6f}", f"{mean:.6f}", f"{lr:.3e}", f"{time.time() - self.start:.1f}"]
            )


def weights_digest(folder: str | Path) -> str:
    """Short sha256 of a model folder's weights: cached latents belong to one VAE, not to whatever sits at a path."""
    digest = hashlib.sha256()
    for file in sorted(Path(folder).glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def write_args(run: Path, args) -> None:
    """The command's arguments, and the machine and versions it ran on (a figure must say what produced it)."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "args.json").write_text(json.dumps(vars(args), indent=2, default=str))
    (run / "environment.json").write_text(json.dumps(environment(), indent=2))


def pack(run: Path, names: list[str], out: Path) -> Path:
    """One tar of the named sub-folders and logs (a device call brings back few, small files)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        for name in names:
            tar.add(run / name, arcname=name)
    return out


def _drop_load_path(config: Path) -> None:
    """diffusers records in `_name_or_path` the folder a model was loaded from; a shipped config would cite the
    training machine's run folder. Written back as diffusers writes it (2-space indent, sorted keys)."""
    values = json.loads(config.read_text())
    values.pop("_name_or_path", None)
    config.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def export_run(run: str | Path, out: str | Path, fp16: bool) -> None:
    """Pack a run's models (`save_pretrained` folders, optionally cast to fp16) and its logs into one tar; the
    trainer state stays behind."""
    classes = {
        "vae": AutoencoderKLCogVideoX,
        "transformer": CogVideoXTransformer3DModel,
        "token_fuser": load_token_fuser,
    }
    run, names = Path(run), []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, cls in classes.items():
            if (run / name / "config.json").exists():
                model = cls(run / name) if cls is load_token_fuser else cls.from_pretrained(run / name)
                (model.to(torch.float16) if fp16 else model).save_pretrained(tmp / name)
                _drop_load_path(tmp / name / "config.json")
                names.append(name)
        for log in ("llm_branch.json", "losses.csv", "args.json", "environment.json", "colour_fidelity.txt"):
            if (run / log).exists():
                shutil.copy(run / log, tmp / log)
                names.append(log)
        pack(tmp, names, Path(out))
    print(json.dumps({"run": str(run), "out": str(out), "members": names}))

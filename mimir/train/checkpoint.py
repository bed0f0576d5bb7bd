"""Checkpoints: weights in diffusers format plus the config that rebuilds them, and the trainer state to resume.

Layout of a run folder:
    <run>/<component>/config.json + diffusion_pytorch_model.safetensors   (save_pretrained; one folder per model)
    <run>/trainer_state.pt                                                 (optimizer, step, RNG; for resuming)
    <run>/losses.csv                                (step, loss, loss_mean, lr, elapsed seconds; see LossLog)
    <run>/args.json, environment.json                                      (the command's arguments; machine, versions)
"""

import csv
import hashlib
import json
import tarfile
import time
from pathlib import Path

import torch


def save_models(run: Path, models: dict, dtype: torch.dtype | None = None) -> None:
    """Save each model with `save_pretrained` under `run/<name>/` (optionally cast, e.g. fp16 for shipping)."""
    for name, model in models.items():
        target = run / name
        if dtype is not None:
            model = _cast_copy(model, dtype)
        model.save_pretrained(target, safe_serialization=True)


def _cast_copy(model, dtype):
    import copy

    clone = copy.deepcopy(model)
    return clone.to(dtype)


def save_state(run: Path, step: int, optimizer, scheduler=None) -> None:
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    tmp = run / "trainer_state.pt.tmp"
    torch.save(state, tmp)
    tmp.replace(run / "trainer_state.pt")


def load_state(run: Path, optimizer, scheduler=None) -> int:
    """Restore optimizer and RNG state; returns the step to continue from (0 if the run has no state)."""
    path = run / "trainer_state.pt"
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("lr_scheduler") is not None:
        scheduler.load_state_dict(state["lr_scheduler"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])


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
    from mimir.bench.report import environment

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

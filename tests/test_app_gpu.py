"""On a CUDA device: an out-of-memory generation is answered with a clear error and the app keeps serving.

The OOM is forced, not hoped for. The tiny pipelines here take up to 49 frames of 512x512 (a DiT sample size of 32
latents); after a small pair (9 frames of 16x16) the process is capped (torch.cuda.set_per_process_memory_fraction) at
what the allocator then holds plus 64 MiB, and the largest size is asked for: its decoded frames alone are 154 MB in
fp32 (49 x 512 x 512 x 3 x 4 bytes). The first version capped at 1.5x the small pair's peak with 17 frames of 32x32:
on an H200 that did not run out of memory, as the weights, not the activations, made up the peak."""

import importlib.util
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

import app
from mimir.studio import service

from .tiny_studio import tiny_pipes


pytestmark = pytest.mark.gpu
SMALL = ("a red circle", "", 0, 9, 16, 16, 2, 4.0)
LARGEST = ("a red circle", "", 0, 49, 512, 512, 2, 4.0)


def write_frames(frames: np.ndarray, path, **_):
    """Stands in for mimir.video's writers where moviepy is missing (the GPU machine's image): the app still writes
    one file per video, so a half-written output would still show."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.save(f, frames)
    return path


@pytest.fixture
def capped_studio(tmp_path, monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    if importlib.util.find_spec("moviepy") is None:
        monkeypatch.setattr(service, "save_mp4", write_frames)
        monkeypatch.setattr(service, "save_gif", write_frames)
    pipes = tiny_pipes(video={"sample_height": 32, "sample_width": 32}, max_num_frames=49)
    for pipe in (pipes.cogvideox, pipes.mimir):
        pipe.to("cuda")
    studio = app.Studio(pipes, votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out")
    app.handlers(studio).generate(*SMALL)
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction((torch.cuda.memory_reserved() + 64 * 2**20) / total)
    yield studio
    torch.cuda.set_per_process_memory_fraction(1.0)
    studio.outputs.remove_all()


def test_out_of_memory_is_a_clear_error_and_the_app_keeps_serving(capped_studio):
    out_dir = capped_studio.outputs.root
    before = set(out_dir.rglob("*"))
    held = torch.cuda.memory_allocated()  # the weights and the small pair's cached prompt embeddings
    with pytest.raises(gr.Error, match="Out of memory while generating"):
        app.handlers(capped_studio).generate(*LARGEST)
    assert set(out_dir.rglob("*")) == before  # no half-written files
    assert torch.cuda.memory_allocated() <= held + 2**20  # what the failed call allocated is freed (1 MiB slack)
    cog, mimir, *_ = app.handlers(capped_studio).generate(*SMALL)  # the next request, under the same cap
    assert cog and mimir

"""On a CUDA device: an out-of-memory generation is answered with a clear error and the app keeps serving.

The OOM is forced, not hoped for: the process is capped (torch.cuda.set_per_process_memory_fraction) at 1.5x the
peak of a small pair, then the largest size the tiny pipelines accept (17 frames of 32x32 against 9 of 16x16: 7.5x
the latents, ~56x the attention) is asked for."""

import gradio as gr
import pytest
import torch

import app

from .test_app_api import tiny_pipes


pytestmark = pytest.mark.gpu
SMALL = ("a red circle", "", 0, 9, 16, 16, 2, 4.0)
LARGEST = ("a red circle", "", 0, 17, 32, 32, 2, 4.0)


@pytest.fixture
def capped_studio(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    pipes = tiny_pipes()
    for pipe in (pipes.cogvideox, pipes.mimir):
        pipe.to("cuda")
    studio = app.Studio(pipes, votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out")
    torch.cuda.reset_peak_memory_stats()
    studio.generate(*SMALL)
    small_peak = torch.cuda.max_memory_allocated()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(1.5 * small_peak / total)
    yield studio
    torch.cuda.set_per_process_memory_fraction(1.0)
    studio.outputs.remove_all()


def test_out_of_memory_is_a_clear_error_and_the_app_keeps_serving(capped_studio):
    out_dir = capped_studio.outputs.root
    before = set(out_dir.rglob("*"))
    held = torch.cuda.memory_allocated()  # the weights and the small pair's cached prompt embeddings
    with pytest.raises(gr.Error, match="Out of memory while generating"):
        capped_studio.generate(*LARGEST)
    assert set(out_dir.rglob("*")) == before  # no half-written files
    assert torch.cuda.memory_allocated() <= held + 2**20  # what the failed call allocated is freed (1 MiB slack)
    cog, mimir, *_ = capped_studio.generate(*SMALL)  # the next request, under the same cap
    assert cog and mimir

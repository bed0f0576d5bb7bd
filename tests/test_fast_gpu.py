"""On a CUDA GPU of compute capability >= 8.9 with torchao: `fast="fp8"`'s float8 matmuls on the 5B preset's loader
from tiny local folders. The layers `float8_layer` picks, and only those, hold torchao's float8 weights, and the
latents stay near the exact ones.

Tolerance, stated: relative L2 distance of the final latents (2 steps) below 0.1, and above 0 (float8 did change
the computation). float8 e4m3 keeps 3 mantissa bits; with a scale per row a matmul's relative error is a few percent.
"""

import importlib.util

import pytest
import torch
import torch._inductor.config

from mimir.fast import FLOAT8_MIN_CAPABILITY, FastSettings, apply_fast, float8_layer
from mimir.loading import load_pipelines

from .test_offload_gpu import generate
from .tiny import save_tiny_5b_folders


pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < FLOAT8_MIN_CAPABILITY:
        pytest.skip(f"needs a CUDA GPU of compute capability >= {FLOAT8_MIN_CAPABILITY}")
    if importlib.util.find_spec("torchao") is None:
        pytest.skip("needs torchao")
    return save_tiny_5b_folders(tmp_path_factory.mktemp("tiny5b"))


def test_float8_quantizes_the_block_linears_and_stays_near_the_exact_latents(folders):
    exact = load_pipelines("cogvideox-5b", device="cuda", **folders)
    reference = {name: generate(exact.pipeline(name))[0].float() for name in ("cogvideox", "mimir")}
    del exact
    pipes = load_pipelines("cogvideox-5b", device="cuda", **folders)
    # the tiny DiT has one block, too few for the step cache: float8 alone
    tuning = torch._inductor.config.coordinate_descent_tuning
    apply_fast((pipes.cogvideox, pipes.mimir), FastSettings(cache="none", float8=True), "none", "cuda")
    # torchao's default would turn on coordinate-descent autotuning for the whole process
    assert torch._inductor.config.coordinate_descent_tuning == tuning
    for name in ("cogvideox", "mimir"):
        transformer = pipes.pipeline(name).transformer
        linears = {n: m for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
        quantized = {n for n, m in linears.items() if "float8" in type(m.weight).__name__.lower()}
        assert quantized and quantized == {n for n, m in linears.items() if float8_layer(m, n)}, name
        latents = generate(pipes.pipeline(name))[0].float()
        distance = ((latents - reference[name]).norm() / reference[name].norm()).item()
        assert torch.isfinite(latents).all() and 0 < distance < 0.1, (name, distance)

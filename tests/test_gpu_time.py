"""The GPU time the app asks ZeroGPU for (mimir/gpu_time.py), its up-front refusal, and that building the app touches
no CUDA state in the main process (ZeroGPU allows that only inside `@spaces.GPU` functions)."""

import subprocess
import sys
import textwrap
from dataclasses import replace

import gradio as gr
import pytest

import app
from mimir.generation import GenerationSettings
from mimir.gpu_time import FIVE_B_COSTS, NANO_SECONDS, check_budget, pair_seconds
from mimir.studio import gpu

from .tiny_studio import tiny_pipes


FULL = GenerationSettings(prompt="a red car", num_frames=49, height=480, width=720, num_inference_steps=50)


def test_five_b_seconds_follow_the_measured_cost_of_the_mode():
    # model_offload at the reference size: 2 calls x (22.8 s fixed + 50 x 1.79 s) x 1.5 + 10 s = 346.9 -> 347
    assert pair_seconds("cogvideox-5b", "model_offload", FULL) == 347
    by_mode = {mode: pair_seconds("cogvideox-5b", mode, FULL) for mode in FIVE_B_COSTS}
    assert by_mode["none"] < by_mode["group_offload"] < by_mode["model_offload"] < by_mode["sequential_offload"]
    assert pair_seconds("cogvideox-5b", "none", replace(FULL, num_inference_steps=10)) < by_mode["none"]


def test_sizes_scale_linearly_below_the_reference_and_quadratically_above():
    base = pair_seconds("cogvideox-5b", "none", FULL) - 10
    half = pair_seconds("cogvideox-5b", "none", replace(FULL, height=240)) - 10
    double = pair_seconds("cogvideox-5b", "none", replace(FULL, width=1440)) - 10
    assert half == pytest.approx(base / 2, abs=1)
    assert double == pytest.approx(base * 4, abs=2)


def test_nano_asks_for_the_floor_and_an_unknown_mode_is_named():
    assert pair_seconds("nano", "none", FULL) == NANO_SECONDS
    with pytest.raises(ValueError, match="memory='low_vram': no GPU-time figures"):
        pair_seconds("cogvideox-5b", "low_vram", FULL)


def test_budget_refusal_names_the_need_and_the_limit():
    check_budget(300, None)
    check_budget(300, 300)
    with pytest.raises(ValueError, match="about 301 s of GPU time .* limit of 300 s"):
        check_budget(301, 300)


def test_app_refuses_over_budget_before_any_gpu_call(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(gpu, "run_compare", lambda *a, **k: ran.append(a))
    studio = app.Studio(tiny_pipes(), votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out", gpu_max_seconds=10)
    before = set((tmp_path / "out").rglob("*"))
    settings = GenerationSettings(prompt="a red circle", num_frames=9, height=16, width=16, num_inference_steps=2)
    need = pair_seconds("tiny", "none", settings)
    assert need == 11  # 10 s overhead + a sliver of the 5B cost at 1/7,500 of its volume, rounded up
    with pytest.raises(gr.Error, match=f"about {need} s of GPU time .* limit of 10 s"):
        app.handlers(studio).generate("a red circle", "", 0, 9, 16, 16, 2, 4.0)
    assert ran == [] and set((tmp_path / "out").rglob("*")) == before
    # an invalid setting is named first, as without a budget
    with pytest.raises(gr.Error, match="height=20 is not supported"):
        app.handlers(studio).generate("a red circle", "", 0, 9, 20, 16, 2, 4.0)


@pytest.mark.parametrize(("value", "message"), [("abc", "'abc' is not a whole number"), ("0", "'0' must be at least")])
def test_gpu_max_seconds_bad_values_are_refused(monkeypatch, capsys, value, message):
    monkeypatch.setenv("MIMIR_GPU_MAX_SECONDS", value)
    with pytest.raises(SystemExit):
        app.parse_args([])
    assert message in capsys.readouterr().err
    monkeypatch.setenv("MIMIR_GPU_MAX_SECONDS", "300")
    assert app.parse_args([]).gpu_max_seconds == 300


def test_building_the_app_touches_no_cuda_state(tmp_path):
    """On ZeroGPU the main process may only move modules to "cuda" (deferred); any other CUDA call at import or while
    the app is built fails there. Every CUDA entry point that initialises or queries the device is made to record a
    call, then the app is imported and built (nano preset) in a fresh process."""
    code = textwrap.dedent(
        f"""
        import torch
        calls = []
        def spy(name):
            return lambda *a, **k: calls.append(name)
        for name in ("init", "_lazy_init", "synchronize", "empty_cache", "mem_get_info", "get_device_properties",
                     "memory_allocated", "max_memory_allocated", "reset_peak_memory_stats", "set_device",
                     "current_device", "current_stream"):  # a Stream inits first; manual_seed is lazy
            setattr(torch.cuda, name, spy(name))
        import app
        demo, studio = app.create_app(app.parse_args(["--votes", {str(tmp_path / "v.csv")!r}]))
        studio.outputs.remove_all()
        print("CUDA calls:", calls)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=app.ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "CUDA calls: []" in out.stdout, out.stdout[-2000:]


def test_group_offload_is_refused_on_zero_gpu_only():
    gpu.check_memory_for_space("group_offload", zero_gpu=False)
    gpu.check_memory_for_space("model_offload", zero_gpu=True)
    with pytest.raises(ValueError, match="memory='group_offload' cannot run on a ZeroGPU Space"):
        gpu.check_memory_for_space("group_offload", zero_gpu=True)
    assert gpu.on_zero_gpu() is False  # no `spaces` package here


def test_every_nano_preset_asks_for_the_nano_time():
    settings = GenerationSettings(prompt="a red circle", num_frames=17, height=96, width=96, num_inference_steps=20)
    assert pair_seconds("nano", "none", settings) == pair_seconds("nano-v2", "none", settings) == NANO_SECONDS

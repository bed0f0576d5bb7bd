"""CogVideoX-5B and Mimir-5B at their true shapes, in every memory mode, against diffusers' own `CogVideoXPipeline`.

No 5B weights can be downloaded on the GPU machine, and time and memory do not depend on the weight values: every
component is built with random weights from the published configs in mimir/bench/random_5b.py (THUDM/CogVideoX-5b's
transformer, VAE, scheduler and T5-v1.1-XXL text encoder; microsoft/Phi-3.5-mini-instruct), saved in bf16 in the
diffusers/transformers folder layouts, and loaded back through the preset's own loader (`load_pipelines("cogvideox-5b",
base_model=..., llm=..., mimir_weights=...)`), exactly as a user's local copies would be.

    python benchmarks/full_scale.py --root /tmp/mimir-5b --build-only             # build + save once (~29 GB)
    python benchmarks/full_scale.py --root /tmp/mimir-5b --modes none model_offload --json OUT.json
    python benchmarks/full_scale.py --tiny --root /tmp/mimir-tiny --json /tmp/tiny.json   # the same code, tiny shapes

For each mode and for diffusers' `CogVideoXPipeline`, our CogVideoX (`t5_only`) and Mimir, `--repeats` rounds of one
call each of `--steps` denoising steps (after one untimed 1-step warm-up call of each of the three; the order reversed
every other round; each figure is the median over the rounds, each peak the largest) report:
- seconds per step: the median of steps 2..k (step 1 carries the DiT's onload); per video: text encoding and
  preparation + step 1 + 49 x that median + VAE decode, i.e. a 50-step video extrapolated from k measured steps
  (the step count is in the table and the JSON);
- text encoding: the encoder branch's (T5) and the LLM branch's forward passes apart, onload included (uncached: the
  prompt caches are cleared before each call);
- VAE decode: from the last step's end to the frames (decode with tiling + postprocessing);
- time to first step: from the call to the end of denoising step 1;
- peak GPU memory (CUDA allocated and reserved) and peak host memory (process RSS sampled every 5 ms);
- the ratio of each per-video time to diffusers' `CogVideoXPipeline` built in the same process over the same
  modules (so it runs under the same placement: the ratio isolates the pipelines' own cost), and to our CogVideoX:
  taken within each round, then the median over rounds;
- the final latents' largest difference to diffusers' (CogVideoX) and to the same pipeline in mode `none` (saved
  under --root by the `none` run, so a later command compares against it).

`--fast` adds, per mode, our CogVideoX and Mimir with `load_pipelines(fast="on")` (or `--fast-mode fp8`: also float8
matmuls in the DiT blocks, torchao) (mimir/fast.py: FirstBlockCache on
both DiTs, and on CUDA torch.compile of their blocks in modes `none` and `model_offload`), loaded afresh after the
exact rows, each warmed up untimed by one call of `--fast-steps` steps (compilation; its seconds are in the JSON).
The step cache skips some steps and not others, so a fast video is timed over all its steps: `--fast-steps` defaults
to 50, and with fewer the denoising time is scaled by 50 / k (stated in the JSON). Their ratio is to the exact
diffusers row of the same mode, i.e. fast vs diffusers' default `CogVideoXPipeline` at the same steps. Caveat: with
random weights the cache's skip decisions are those of random weights (`dit_block_forwards_computed` says how many
block forwards ran); the compile speed-up does not depend on the weights, the cache's does.

Tokenizers: the real ones cannot be fetched offline, and none of T5's or Phi-3.5's ships with a package here. Each
folder gets a word-level `tokenizers` tokenizer built from the prompt and the LLM-branch texts, with T5's and
Phi-3.5's special tokens and Phi-3.5's chat template. T5 pads to n = 226 whatever the words, so its cost is exact;
Phi-3.5 sees about one token per word where its SentencePiece BPE would cut ~1.3 per word, so the LLM branch's
sequences are somewhat shorter than with the real tokenizer (the token counts are in the JSON).

Phi-3.5's published config scales RoPE with 48 `longrope` factors; they rescale rotary frequencies beyond 4,096
positions and hold no weights, so they are left out (our prompts are a few hundred tokens).

Disk: base (T5 9.5 GB + DiT 11.1 GB + VAE 0.4 GB) + Phi-3.5 7.6 GB; the Mimir DiT folder links to the base DiT's (same
shapes, and random weights either way), so ~29 GB in all. Each component is built on the device, cast to bf16,
saved and freed before the next. `--cleanup` removes the folders at the end.
"""

import argparse
import dataclasses
import inspect
import json
import shutil
import statistics
import sys
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel
from transformers import Phi3Config, T5Config

from mimir.bench.environment import environment
from mimir.bench.random_5b import (
    FULL,
    TINY,
    free_disk_check,
    free_memory,
    phi_tokenizer,
    random_modules,
    save_5b_folders,
    t5_tokenizer,
)
from mimir.fast import record_cache_decisions
from mimir.loading import load_pipelines
from mimir.memory import PeakMemory
from mimir.offload import MEMORY_MODES
from mimir.presets import nano_scheduler
from mimir.text_encoding import LLMBranchConfig
from mimir.token_fuser import TokenFuser


GiB = 2**30
VIDEO_STEPS = 50  # the per-video figure is for CogVideoX's 50 steps

PROMPT = (
    "A small red fox trots across a snowy meadow at dawn, its breath visible in the cold air, while two crows circle "
    "above a leafless oak tree on the left and soft golden light spreads from behind distant blue mountains on the "
    "right; the camera slowly pans to follow the fox as it stops beside a frozen stream."
)
WARMUP_PROMPT = "A blue ball rolls slowly across a wooden table."


def config_differences(shapes: dict) -> dict[str, dict[str, list]]:
    """Where each config departs from its library's defaults, as {component: {key: [ours, default]}}: diffusers'
    CogVideoX defaults are the 2B's, transformers' Phi3Config the Phi-3-mini-4k's, T5Config t5-small's."""
    diffusers_defaults = {
        "transformer": inspect.signature(CogVideoXTransformer3DModel.__init__).parameters,
        "vae": inspect.signature(AutoencoderKLCogVideoX.__init__).parameters,
    }
    out = {}
    for name, params in diffusers_defaults.items():
        out[name] = {
            k: [v, params[k].default] for k, v in shapes[name].items() if _as_list(v) != _as_list(params[k].default)
        }
    for name, config_cls in (("text_encoder", T5Config), ("llm", Phi3Config)):
        default = config_cls().to_dict()
        out[name] = {
            k: [v, default.get(k)] for k, v in shapes[name].items() if _as_list(v) != _as_list(default.get(k))
        }
    return out


def _as_list(value):
    return list(value) if isinstance(value, tuple) else value


# ---- building the folders -----------------------------------------------------------------------------------------


def vocabulary_texts() -> list[str]:
    branch = LLMBranchConfig.from_file()
    return [PROMPT, WARMUP_PROMPT, branch.system_prompt, branch.answer_instruction, *branch.instructions]


def build_folders(root: Path, shapes: dict, device: str) -> dict[str, Path]:
    """`base/`, `llm/` and `mimir/` with random weights at `shapes` (the fuser a zero-initialised `mimir` one), one
    component at a time (built, saved in bf16, freed); tokenizers over `vocabulary_texts()`. Returns the paths."""
    texts = vocabulary_texts()

    def modules():
        yield from random_modules(shapes, device)
        # after the four models: their random weights are those of every earlier build from the same seed
        encoder_dim, llm_dim = shapes["text_encoder"]["d_model"], shapes["llm"]["hidden_size"]
        yield (
            "token_fuser",
            TokenFuser(fusion_type="mimir", encoder_dim=encoder_dim, llm_dim=llm_dim).to(torch.bfloat16),
        )

    return save_5b_folders(root, modules(), t5_tokenizer(texts), nano_scheduler(), phi_tokenizer(texts), device)


# ---- measuring ----------------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ForwardTimer:
    """Seconds spent in a module's forward passes, device-synchronised, its offload hook's onload included (torch's
    forward pre-hooks run before accelerate's wrapped forward)."""

    def __init__(self, module: torch.nn.Module, device: torch.device):
        self.device = device
        self.seconds = 0.0
        self.calls = 0
        self.first_start: float | None = None
        self._start = 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def reset(self) -> None:
        self.seconds, self.calls, self.first_start = 0.0, 0, None

    def _pre(self, module, args):
        _sync(self.device)
        self._start = time.perf_counter()
        if self.first_start is None:
            self.first_start = self._start

    def _post(self, module, args, output):
        _sync(self.device)
        self.seconds += time.perf_counter() - self._start
        self.calls += 1


def measure_call(pipe, name: str, call: dict, steps: int, device: torch.device, timers: dict) -> dict[str, Any]:
    """One timed call of `pipe`; the figures of the module docstring, and the final latents."""
    if hasattr(pipe, "prompt_encoder"):
        pipe.prompt_encoder.clear_cache()  # a new prompt: encoded, not read from the session cache
    for timer in timers.values():
        timer.reset()
    stamps: list[float] = []
    final: dict[str, torch.Tensor] = {}

    def on_step_end(p, i, t, kwargs):
        _sync(device)
        stamps.append(time.perf_counter())
        final["latents"] = kwargs["latents"].detach().float().cpu()
        return {}

    _sync(device)
    start = time.perf_counter()
    with (
        PeakMemory(torch.device("cpu")) as host,
        PeakMemory(device) if device.type == "cuda" else nullcontext() as gpu,
    ):
        pipe(
            prompt=PROMPT,
            num_inference_steps=steps,
            guidance_scale=6.0,
            generator=torch.Generator(device).manual_seed(0),
            output_type="np",
            callback_on_step_end=on_step_end,
            **call,
        )
        _sync(device)
        end = time.perf_counter()
    denoise_start = timers[f"{name}.transformer"].first_start
    first_step = stamps[0] - denoise_start
    steady = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    before_denoising = denoise_start - start  # checks, text encoding, latents
    decode = end - stamps[-1]
    return {
        "pipeline": name,
        "steps_measured": steps,
        "seconds_measured": end - start,
        "seconds_per_step": steady,
        "seconds_per_video_50": before_denoising + first_step + (VIDEO_STEPS - 1) * steady + decode,
        "seconds_text_encoder": timers["text_encoder"].seconds,
        "seconds_llm": timers["llm"].seconds if "llm" in timers else 0.0,
        "llm_forward_calls": timers["llm"].calls if "llm" in timers else 0,
        "seconds_before_denoising": before_denoising,
        "seconds_first_step": first_step,
        "seconds_to_first_step": stamps[0] - start,
        "seconds_vae_decode": decode,
        "seconds_denoising": stamps[-1] - denoise_start,
        "peak_gpu_allocated_bytes": gpu.peak_bytes if gpu else None,
        "peak_gpu_reserved_bytes": torch.cuda.max_memory_reserved(device) if gpu else None,
        "peak_host_rss_bytes": host.peak_bytes,
        "latents": final["latents"],
    }


def median_of_rounds(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the same pipeline's calls: the median of each time, the largest of each peak, the first call's
    latents (every call has the same seed), and each call's seconds per video."""
    row = dict(calls[0])
    for key, value in calls[0].items():
        if key.startswith("seconds_"):
            row[key] = statistics.median(c[key] for c in calls)
        elif key.startswith("peak_") and value is not None:
            row[key] = max(c[key] for c in calls)
    row["repeats"] = len(calls)
    row["seconds_per_video_50_each"] = [c["seconds_per_video_50"] for c in calls]
    return row


def paired_median_ratio(rounds: list[dict[str, dict]], label: str, reference: str) -> float:
    """Median over rounds of `label`'s seconds per video over `reference`'s in the same round."""
    return statistics.median(
        rnd[label]["seconds_per_video_50"] / rnd[reference]["seconds_per_video_50"] for rnd in rounds
    )


def load_5b(mode: str, paths: dict, args, device: torch.device, fast: str = "off"):
    """The preset's two pipelines from the built folders in `mode`, after freeing the previous mode's; returns
    (pipelines, seconds to load)."""
    free_memory(str(device))
    start = time.perf_counter()
    pipes = load_pipelines(
        "cogvideox-5b",
        memory=mode,
        device=device,
        vae_tiling=not args.no_vae_tiling,
        llm_quantization=args.llm_quantization,
        fast=fast,
        **{k: str(v) for k, v in paths.items()},
    )
    return pipes, time.perf_counter() - start


def run_mode(mode: str, paths: dict, args, shapes: dict, device: torch.device) -> list[dict[str, Any]]:
    """Load both pipelines in `mode` through the preset, build diffusers' pipeline over the same modules, time all."""
    pipes, load_seconds = load_5b(mode, paths, args, device)
    cog, mim = pipes.cogvideox, pipes.mimir
    reference = CogVideoXPipeline(cog.tokenizer, cog.text_encoder, cog.vae, cog.transformer, cog.scheduler)
    timers = {
        "text_encoder": ForwardTimer(cog.text_encoder, device),
        "llm": ForwardTimer(mim.llm, device),
        "cogvideox.transformer": ForwardTimer(cog.transformer, device),
        "mimir.transformer": ForwardTimer(mim.transformer, device),
    }
    call = shapes["call"]
    # One untimed call of each pipeline: the CUDA context and first kernels, each module's first trip between host and
    # GPU, and the LLM branch's template prefixes (computed once per process, mimir/llm_prefix.py) are not part of any
    # figure. Until 2026-11-30 only the reference warmed up, so Mimir's DiT alone made its first trip to the host
    # inside a timed call: the likely cause of its slower decode under model_offload (11.0 s against 6.3 s).
    for _ in range(args.warmup):
        for pipe in (reference, cog, mim):
            pipe(prompt=WARMUP_PROMPT, num_inference_steps=1, output_type="np", **call)
    # --repeats rounds of the three calls, the order reversed every other round: under offload a call's time is
    # mostly transfers between host and GPU, which vary from call to call by a second or more, and the ratios are
    # taken within a round (paired), then their median.
    pipes_by_label = {"diffusers": reference, "cogvideox": cog, "mimir": mim}
    rounds: list[dict[str, dict]] = []
    for r in range(args.repeats):
        order = list(pipes_by_label) if r % 2 == 0 else list(pipes_by_label)[::-1]
        timed = {}
        for label in order:
            dit = "mimir" if label == "mimir" else "cogvideox"  # whose DiT timer marks the denoising
            timed[label] = measure_call(pipes_by_label[label], dit, call, args.steps, device, timers)
        rounds.append(timed)
    tokens = mim.llm_tokenizer(PROMPT, add_special_tokens=False).input_ids
    rows = []
    for label in pipes_by_label:
        row = median_of_rounds([rnd[label] for rnd in rounds])
        row["ratio_to_diffusers"] = paired_median_ratio(rounds, label, "diffusers")
        row["ratio_to_cogvideox"] = paired_median_ratio(rounds, label, "cogvideox")
        reference_latents = rounds[0]["diffusers"]["latents"]
        row["max_abs_latent_diff_to_diffusers"] = (row["latents"] - reference_latents).abs().max().item()
        row["llm_prompt_tokens"] = len(tokens)
        rows.append({"mode": mode, "model": label, "load_seconds": load_seconds, **row})
    del pipes, reference, cog, mim
    free_memory(str(device))
    return rows


def run_mode_fast(mode: str, paths: dict, args, shapes: dict, device: torch.device, exact: list[dict]) -> list[dict]:
    """Our CogVideoX and Mimir with `fast=args.fast_mode`, loaded afresh in `mode`, against the exact rows of the
    same mode."""
    pipes, load_seconds = load_5b(mode, paths, args, device, fast=args.fast_mode)
    cog, mim = pipes.cogvideox, pipes.mimir
    timers = {
        "text_encoder": ForwardTimer(cog.text_encoder, device),
        "llm": ForwardTimer(mim.llm, device),
        "cogvideox.transformer": ForwardTimer(cog.transformer, device),
        "mimir.transformer": ForwardTimer(mim.transformer, device),
    }
    call, k = shapes["call"], args.fast_steps
    diffusers = next(r for r in exact if r["model"] == "diffusers")
    rows = []
    for label, pipe in (("cogvideox", cog), ("mimir", mim)):
        # before the first call: recording adds nothing inside the compiled blocks, so nothing recompiles later
        decisions = record_cache_decisions(pipe.transformer) if pipes.fast.cache == "first_block" else None
        started = time.perf_counter()  # compilation happens in the first call of each DiT
        pipe(prompt=WARMUP_PROMPT, num_inference_steps=k, output_type="np", **call)
        _sync(device)
        warmup = time.perf_counter() - started
        if decisions is not None:
            decisions.clear()
        row = measure_call(pipe, label, call, k, device, timers)
        blocks = len(pipe.transformer.transformer_blocks)
        # the first block runs at every call, the others where the cache decided to compute
        computed = (
            None if decisions is None else (len(decisions) + (blocks - 1) * sum(decisions)) / (len(decisions) * blocks)
        )
        per_video = row["seconds_before_denoising"] + row["seconds_denoising"] * VIDEO_STEPS / k
        per_video += row["seconds_vae_decode"]
        same = next(r for r in exact if r["model"] == label)
        rows.append(
            {
                "mode": mode,
                "model": f"{label} fast" if args.fast_mode == "on" else f"{label} fast-{args.fast_mode}",
                "load_seconds": load_seconds,
                **row,
                "seconds_per_video_50": per_video,
                "extrapolation": "measured" if k == VIDEO_STEPS else f"denoising x {VIDEO_STEPS}/{k}",
                "seconds_warmup_call": warmup,
                "fast_settings": dataclasses.asdict(pipes.fast),
                "dit_block_forwards_computed": 1.0 if computed is None else computed,
                "cache_decisions": decisions,
                "ratio_to_diffusers": per_video / diffusers["seconds_per_video_50"],
                # comparable only at the same step count
                "max_abs_latent_diff_to_diffusers": (row["latents"] - diffusers["latents"]).abs().max().item()
                if k == args.steps
                else None,
                "max_abs_latent_diff_to_exact": (row["latents"] - same["latents"]).abs().max().item()
                if k == args.steps
                else None,
                "llm_prompt_tokens": same["llm_prompt_tokens"],
            }
        )
    del pipes, cog, mim
    free_memory(str(device))
    return rows


def compare_to_none(rows: list[dict], root: Path, steps: int) -> None:
    """Largest latent difference to the same pipeline in mode `none` (saved by the run that measured `none`)."""
    for row in rows:
        model = row["model"].replace(" ", "_")
        path = root / f"latents-none-{model}-{row['steps_measured']}steps.pt"
        if row["mode"] == "none":  # the reference itself: nothing to compare (a 0 here would be by construction)
            torch.save(row["latents"], path)
            row["max_abs_latent_diff_to_none"] = None
            continue
        row["max_abs_latent_diff_to_none"] = (
            (row["latents"] - torch.load(path)).abs().max().item() if path.is_file() else None
        )


# ---- report -------------------------------------------------------------------------------------------------------


def markdown_table(rows: list[dict], steps: int) -> str:
    head = (
        f"| mode | model | s/step | s/video (50 steps, from {steps} measured) | text s: T5 / LLM | VAE decode s | "
        "to 1st step s | peak GPU GiB (alloc / reserved) | peak host GiB | x diffusers | x CogVideoX | "
        "max dlatent vs none |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        gpu = (
            f"{r['peak_gpu_allocated_bytes'] / GiB:.1f} / {r['peak_gpu_reserved_bytes'] / GiB:.1f}"
            if r["peak_gpu_allocated_bytes"] is not None
            else "n/a (CPU)"
        )
        diff = r["max_abs_latent_diff_to_none"]
        diff = "reference" if r["mode"] == "none" else "n/a" if diff is None else f"{diff:.2e}"
        cog = f"{r['ratio_to_cogvideox']:.3f}" if r.get("ratio_to_cogvideox") is not None else "n/a"
        lines.append(
            f"| {r['mode']} | {r['model']} | {r['seconds_per_step']:.2f} | {r['seconds_per_video_50']:.1f} | "
            f"{r['seconds_text_encoder']:.2f} / {r['seconds_llm']:.2f} | {r['seconds_vae_decode']:.2f} | "
            f"{r['seconds_to_first_step']:.2f} | {gpu} | {r['peak_host_rss_bytes'] / GiB:.1f} | "
            f"{r['ratio_to_diffusers']:.3f} | {cog} | {diff} |"
        )
    return "\n".join(lines)


def full_scale_environment(device: torch.device) -> dict[str, Any]:
    """The machine record, with the two keys full-scale reports have always had: "gpu" (the device's GPU, None on
    the CPU; benchmarks/dit_flops.py reads it) and "versions" (the packages' versions)."""
    env = environment(device)
    return {**env, "gpu": env["cuda"] if device.type == "cuda" else None, "versions": env["packages"]}


def main(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.fast and args.fast_steps < 2:
        raise SystemExit(f"--fast-steps={args.fast_steps}: at least 2")
    if args.repeats < 1:
        raise SystemExit(f"--repeats={args.repeats}: at least 1")
    if args.steps < 2:
        raise SystemExit(f"--steps={args.steps}: at least 2 (step 1 carries the onload; the others give the median)")
    args.modes = args.modes or (list(MEMORY_MODES) if device.type == "cuda" else ["none"])
    if device.type != "cuda" and set(args.modes) != {"none"}:
        raise SystemExit(f"--modes {args.modes}: on device={device.type!r} only 'none' runs (offload needs a GPU)")
    shapes = TINY if args.tiny else FULL
    root = Path(args.root)
    if not (root / "COMPLETE").is_file():
        free_disk_check(root, shapes)
    start = time.perf_counter()
    paths = build_folders(root, shapes, str(device))
    build_seconds = time.perf_counter() - start
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": full_scale_environment(device),
        "scale": "tiny" if args.tiny else "full",
        "settings": {
            "steps_measured": args.steps,
            "extrapolated_to_steps": VIDEO_STEPS,
            "warmup_calls": args.warmup,
            "repeats": args.repeats,
            "guidance_scale": 6.0,
            "vae_tiling": not args.no_vae_tiling,
            "llm_quantization": args.llm_quantization,
            "fast": args.fast,
            "fast_steps": args.fast_steps if args.fast else None,
            "fast_mode": args.fast_mode if args.fast else None,
            **shapes["call"],
        },
        "configs": {k: v for k, v in shapes.items() if k != "call"},
        "config_differences_from_library_defaults": config_differences(shapes),
        "build_seconds": build_seconds,
        "results": [],
    }
    if not args.build_only:
        for mode in args.modes:
            rows = run_mode(mode, paths, args, shapes, device)
            if args.fast:
                rows += run_mode_fast(mode, paths, args, shapes, device, rows)
            compare_to_none(rows, root, args.steps)
            for row in rows:
                row.pop("latents")
            report["results"].extend(rows)
            print(markdown_table(rows, args.steps), flush=True)
        report["table"] = markdown_table(report["results"], args.steps)
        print("\n" + report["table"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    if args.cleanup:
        shutil.rmtree(root)
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="folder for the built model folders (reused when complete)")
    parser.add_argument(
        "--modes", nargs="+", default=None, choices=MEMORY_MODES, help="default: all on a GPU, none on the CPU"
    )
    parser.add_argument("--steps", type=int, default=4, help="denoising steps measured per call (>= 2)")
    parser.add_argument("--warmup", type=int, default=1, choices=[0, 1], help="untimed warm-up calls per mode")
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed rounds of the three exact pipelines per mode; medians reported"
    )
    parser.add_argument("--llm-quantization", default="8bit", choices=["8bit", "none"])
    parser.add_argument("--no-vae-tiling", action="store_true")
    parser.add_argument("--fast", action="store_true", help="also our pipelines with --fast-mode (mimir/fast.py)")
    parser.add_argument(
        "--fast-mode", default="on", choices=("on", "fp8"), help="the fast rows' switch (fp8: CUDA >= 8.9, torchao)"
    )
    parser.add_argument(
        "--fast-steps", type=int, default=VIDEO_STEPS, help="steps of each fast call, warm-up and timed (default 50)"
    )
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes: a smoke test of this script (CPU)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--cleanup", action="store_true", help="remove --root at the end")
    parser.add_argument("--json", default=None, help="write the report here")
    return parser


if __name__ == "__main__":
    main(build_parser().parse_args())

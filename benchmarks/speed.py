"""Speed on the CPU against the targets below: text encoding, one video, and the CogVideoX + Mimir pair, nano preset.

    .venv/bin/python benchmarks/speed.py                 # default settings of the nano preset, 7 repeats
    .venv/bin/python benchmarks/speed.py --repeats 11 --warmup 3

Every figure is wall-clock seconds (`time.perf_counter`) over `--repeats` runs after `--warmup` untimed runs,
reported as min / median / max. What is timed:

- text encoding of one new prompt, uncached (the session cache is cleared before each run, and each run uses a
  different prompt): the encoder branch alone (MiniLM), both branches (MiniLM + SmolLM2: the prompt pass and the 4
  instruction passes), and each pipeline's whole `encode_prompt` (prompt + empty negative prompt + token fuser),
  uncached and cached;
- one video from precomputed embeddings (`pipe(prompt_embeds=..., negative_prompt_embeds=...)`): denoising at the
  default steps with classifier-free guidance, plus VAE decoding, for CogVideoX-nano and Mimir-nano;
- the pair: CogVideoX-nano then Mimir-nano on the same latents, without text encoding, and with it
  (`Studio.settings` then `Studio.run_pair`, the app's own calls, uncached, as a new prompt in the app).

Targets: one video <= 3 s median, the pair <= 6 s median, text encoding reported apart. The 1-minute load
average is recorded before and after every measurement: other processes on a 2-core machine slow the figures.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from mimir.bench.environment import environment
from mimir.bench.timing import measure
from mimir.generation import GenerationSettings, initial_latents
from mimir.loading import load_pipelines
from mimir.pair import MODELS
from mimir.studio.service import Studio
from mimir.world.sampler import fresh_prompts


REPO = Path(__file__).resolve().parent.parent


TARGETS = {"video_cogvideox": 3.0, "video_mimir": 3.0, "pair": 6.0}  # seconds, median


def wait_for_quiet(max_load: float, timeout_s: float) -> float:
    """Wait until the 1-minute load average is at most `max_load` (or `timeout_s` passed); returns the load."""
    deadline = time.monotonic() + timeout_s
    load = os.getloadavg()[0]
    while load > max_load and time.monotonic() < deadline:
        print(f"load average {load:.2f} > {max_load}: waiting", flush=True)
        time.sleep(15)
        load = os.getloadavg()[0]
    return load


# ---- timing -------------------------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> None:
    torch.set_grad_enabled(False)
    pipes = load_pipelines("nano")
    if not pipes.trained:
        raise SystemExit("the nano preset has no trained weights (mimir/assets/nano/): these would not be its timings")
    d = pipes.defaults
    for pipe in (pipes.cogvideox, pipes.mimir):
        pipe.set_progress_bar_config(disable=True)
    runs = args.warmup + args.repeats
    prompts = fresh_prompts(8 * runs, args.seed)  # a new prompt for every uncached run of every measurement
    settings = GenerationSettings(prompt=prompts[0], seed=args.seed, **d)
    latents = initial_latents(pipes.mimir, settings)  # (1, F_latent, C, h, w), shared by both models
    call = dict(
        num_frames=d["num_frames"],
        height=d["height"],
        width=d["width"],
        num_inference_steps=d["num_inference_steps"],
        guidance_scale=d["guidance_scale"],
        output_type="np",
    )
    embeds = {name: pipes.pipeline(name).encode_prompt(settings.prompt, "") for name in MODELS}
    load_start = wait_for_quiet(args.max_load, args.wait_s)
    results: dict[str, dict] = {}

    def video(name: str) -> None:
        pe, ne = embeds[name]
        pipes.pipeline(name)(prompt_embeds=pe, negative_prompt_embeds=ne, latents=latents.clone(), **call)

    def clear_all(_: int) -> None:
        for pipe in (pipes.cogvideox, pipes.mimir):
            pipe.prompt_encoder.clear_cache()

    # (a) text encoding. `offset` keeps the prompts of each measurement apart, so that none is cached.
    encoder = pipes.mimir.prompt_encoder
    results["text_encoder_branch"] = measure(
        lambda i: encoder.encode([prompts[i]], with_llm=False), args.warmup, args.repeats, clear_all
    )
    results["text_encoder_and_llm_branches"] = measure(
        lambda i: encoder.encode([prompts[runs + i]], with_llm=True), args.warmup, args.repeats, clear_all
    )
    for k, name in enumerate(MODELS):
        pipe = pipes.pipeline(name)

        def prime_negative(_: int, pipe=pipe) -> None:
            # a session has encoded the empty negative prompt already: only the new prompt is uncached
            pipe.prompt_encoder.clear_cache()
            pipe.encode_tokens([""])

        offset = (2 + k) * runs
        results[f"encode_prompt_{name}_uncached"] = measure(
            lambda i, pipe=pipe, offset=offset: pipe.encode_prompt(prompts[offset + i], ""),
            args.warmup,
            args.repeats,
            prime_negative,
        )
        results[f"encode_prompt_{name}_cached"] = measure(
            lambda i, pipe=pipe: pipe.encode_prompt(settings.prompt, ""), args.warmup, args.repeats
        )

    # (b) one video, text encoding excluded
    for name in MODELS:
        results[f"video_{name}"] = measure(lambda i, name=name: video(name), args.warmup, args.repeats)

    # (c) the pair, without and with (uncached) text encoding
    results["pair"] = measure(lambda i: (video("cogvideox"), video("mimir")), args.warmup, args.repeats)

    studio = Studio(pipes)  # the app's own entrance: one validation, then the pair (no files, no scoring)

    def pair_with_text(i: int) -> None:
        studio.run_pair(pipes, studio.settings(prompts[4 * runs + i], seed=args.seed))

    results["pair_with_text_encoding_uncached"] = measure(pair_with_text, args.warmup, args.repeats, clear_all)

    targets = {
        key: {"target_s": limit, "median_s": results[key]["median"], "met": results[key]["median"] <= limit}
        for key, limit in TARGETS.items()
    }
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "environment": environment(),
        "settings": {**d, "warmup": args.warmup, "repeats": args.repeats, "seed": args.seed},
        "load_average_start": load_start,
        "load_average_end": list(os.getloadavg()),
        "seconds": results,
        "targets": targets,
    }

    print(
        f"nano preset, {d['num_frames']} frames {d['height']}x{d['width']}, {d['num_inference_steps']} steps, "
        f"guidance {d['guidance_scale']}; {args.repeats} runs after {args.warmup} warm-up; seconds"
    )
    print(f"{'measurement':<36} {'min':>7} {'median':>7} {'max':>7}  load before/after")
    for key, r in results.items():
        print(
            f"{key:<36} {r['min']:7.3f} {r['median']:7.3f} {r['max']:7.3f}  "
            f"{r['load_average_before'][0]:.2f}/{r['load_average_after'][0]:.2f}"
        )
    for key, t in targets.items():
        print(f"target {key}: median {t['median_s']:.2f} s <= {t['target_s']} s: {'met' if t['met'] else 'MISSED'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    env = report["environment"]
    print(f"machine: {env['cpu_model']}, {env['cpu_count']} cores; wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each measurement")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents and of the prompt sampler")
    parser.add_argument("--max-load", type=float, default=0.5, help="wait for the 1-minute load average to drop")
    parser.add_argument("--wait-s", type=float, default=120, help="wait at most this long for a quiet machine")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "speed.json"))
    main(parser.parse_args())

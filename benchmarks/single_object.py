"""Single-object quality check: do CogVideoX-nano and Mimir-nano draw one object with the right shape and colour?

    .venv/bin/python benchmarks/single_object.py                       # canonical prompts, both models
    .venv/bin/python benchmarks/single_object.py --wordings canonical train --models cogvideox mimir

200 random single-object specs (half `object_class`, half `color`, from `mimir.world.sampler.make_suite` with a
fixed seed) are generated at the nano preset's default settings and judged by the NanoBench scorer
(`mimir.bench.score_video`). A video counts as right when the scorer's `object_class` AND `color` checks both
pass (each a majority over frames). The stricter `multiple_objects` check (one detection with both the right shape
and the right colour) is reported alongside. Rates carry a Wilson 95% interval. The renderer's ground-truth videos
of the same specs and seeds are scored too, as the scorer's ceiling.

Wordings: `canonical` is `mimir.world.captions.canonical_prompt(spec)` ("a red circle"); `train` is the spec's
caption drawn from the training wordings by the sampler. Every spec has one seed (`mimir.bench.suite.spec_seed`):
both models and both wordings start from the same initial latents.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mimir.bench import score_video, wilson_interval
from mimir.bench.environment import environment
from mimir.bench.suite import spec_seed
from mimir.generation import GenerationSettings, initial_latents
from mimir.loading import load_pipelines
from mimir.pair import MODELS
from mimir.presets import NANO_ASSETS
from mimir.train.checkpoint import weights_digest
from mimir.world.captions import canonical_prompt
from mimir.world.render import render
from mimir.world.sampler import make_suite
from mimir.world.spec import SceneSpec


REPO = Path(__file__).resolve().parent.parent


DIMENSIONS = ("object_class", "color")
RATE_KEYS = ("shape_and_color", "object_class", "color", "same_detection")
TARGET = 0.90  # target: shape and colour right in at least 90% for CogVideoX-nano


def single_object_specs(n: int, seed: int) -> list[SceneSpec]:
    """n single-object specs, n // 2 of dimension `object_class` and the rest `color` (captions: train wordings)."""
    half = n // 2
    return make_suite("object_class", half, seed) + make_suite("color", n - half, seed)


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    c = result["checks"]
    return {
        "shape_and_color": bool(c["object_class"] and c["color"]),
        "object_class": bool(c["object_class"]),
        "color": bool(c["color"]),
        "same_detection": bool(c["multiple_objects"]),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pass rate with its Wilson 95% interval for each verdict of `verdicts`."""
    n = len(rows)
    out: dict[str, Any] = {"n": n}
    for key in RATE_KEYS:
        k = sum(r["verdicts"][key] for r in rows)
        lo, hi = wilson_interval(k, n)
        out[key] = {"passed": k, "rate": k / n if n else 0.0, "ci_low": lo, "ci_high": hi}
    return out


def run_model(pipe, specs: list[SceneSpec], prompts: list[str], defaults: dict[str, Any]) -> tuple[list[dict], float]:
    """Generate one video per spec (text encoded once, batched, up front) and score it; returns rows, seconds."""
    started = time.perf_counter()
    # Text encoding in one batched pass; generation then runs one video at a time (batching does not speed up
    # denoising on the 2-core CPU: 8 videos took ~1.3 s each against ~1.0 s alone).
    prompt_embeds, negative_embeds = pipe.encode_prompt(prompts, "")  # (B, n + k, D) each
    rows = []
    for i, (spec, prompt) in enumerate(zip(specs, prompts)):
        seed = spec_seed(spec)
        out = pipe(
            prompt_embeds=prompt_embeds[i : i + 1],
            negative_prompt_embeds=negative_embeds[i : i + 1],
            num_frames=defaults["num_frames"],
            height=defaults["height"],
            width=defaults["width"],
            num_inference_steps=defaults["num_inference_steps"],
            guidance_scale=defaults["guidance_scale"],
            latents=initial_latents(pipe, GenerationSettings(prompt=prompt, seed=seed, **defaults)),
            output_type="np",
        )
        result = score_video(np.asarray(out.frames)[0], spec)  # frames (F, H, W, 3)
        rows.append(row(spec, prompt, seed, result))
    return rows, time.perf_counter() - started


def row(spec: SceneSpec, prompt: str, seed: int, result: dict[str, Any]) -> dict[str, Any]:
    obj = spec.objects[0]
    return {
        "id": spec.id,
        "dimension": spec.dimension,
        "shape": obj.shape,
        "color": obj.color,
        "prompt": prompt,
        "seed": seed,
        "verdicts": verdicts(result),
        "details": {k: result["details"][k] for k in ("plausible_frames", "shape_share", "color_share")},
    }


def ground_truth_rows(specs: list[SceneSpec], defaults: dict[str, Any]) -> list[dict]:
    seeds = [spec_seed(s) for s in specs]
    videos = render(specs, seeds, defaults["num_frames"], defaults["height"], defaults["width"])  # (B, F, H, W, 3)
    return [row(s, canonical_prompt(s), seed, score_video(v.numpy(), s)) for s, seed, v in zip(specs, seeds, videos)]


def format_line(label: str, s: dict[str, Any]) -> str:
    def pct(key: str) -> str:
        r = s[key]
        return f"{100 * r['rate']:5.1f} [{100 * r['ci_low']:4.1f}, {100 * r['ci_high']:5.1f}]"

    return f"{label:<28} {s['n']:>4}  " + "  ".join(pct(k) for k in RATE_KEYS)


def main(args: argparse.Namespace) -> None:
    specs = single_object_specs(args.num_specs, args.seed)
    pipes = load_pipelines("nano")
    if not pipes.trained:
        raise SystemExit("the nano preset has no trained weights (mimir/assets/nano/): the check would be meaningless")
    defaults = dict(pipes.defaults)
    for pipe in (pipes.cogvideox, pipes.mimir):
        pipe.set_progress_bar_config(disable=True)

    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        # which weights were judged: MIMIR_NANO_ASSETS may point away from the shipped mimir/assets/nano/
        "weights": {
            "folder": str(NANO_ASSETS),
            "sha256_12": {
                name: weights_digest(NANO_ASSETS / name)
                for name in ("vae", "cogvideox/transformer", "mimir/transformer", "mimir/token_fuser")
            },
        },
        "settings": {"num_specs": args.num_specs, "seed": args.seed, "dimensions": DIMENSIONS, **defaults},
        "environment": environment(),
        "load_average_start": os.getloadavg(),
        "target": {"shape_and_color_rate_cogvideox_canonical": TARGET},
        "verdict": "a video is right when the scorer's object_class and color checks both pass (shape_and_color)",
        "runs": {},
        "videos": {},
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    gt = ground_truth_rows(specs, defaults)
    report["runs"]["ground_truth"] = summarise(gt)
    print("rates in %, [Wilson 95% interval]:", "  ".join(RATE_KEYS))
    print(format_line("ground_truth (renderer)", report["runs"]["ground_truth"]), flush=True)

    for wording in args.wordings:
        prompts = [canonical_prompt(s) if wording == "canonical" else s.prompt for s in specs]
        for model in args.models:
            rows, seconds = run_model(pipes.pipeline(model), specs, prompts, defaults)
            key = f"{model}/{wording}"
            report["runs"][key] = {**summarise(rows), "seconds": round(seconds, 1), "load_average": os.getloadavg()}
            report["runs"][key]["per_dimension"] = {
                d: summarise([r for r in rows if r["dimension"] == d]) for d in DIMENSIONS
            }
            report["videos"][key] = rows
            print(format_line(key, report["runs"][key]) + f"  ({seconds:.0f} s)", flush=True)
            # written after every run, so that a partial report survives an interrupted run
            out_path.write_text(json.dumps(report, indent=1) + "\n")

    head = report["runs"].get("cogvideox/canonical")
    if head is not None:
        met = head["shape_and_color"]["rate"] >= TARGET
        report["target_met"] = met
        print(f"target (CogVideoX-nano, canonical, shape and colour >= {TARGET:.0%}): {'met' if met else 'MISSED'}")
    report["load_average_end"] = os.getloadavg()
    out_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-specs", type=int, default=200, help="specs in all, half per dimension")
    parser.add_argument("--seed", type=int, default=0, help="seed of the spec sampler")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--wordings", nargs="+", choices=("canonical", "train"), default=["canonical"], help="prompt wordings to run"
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "single_object.json"))
    main(parser.parse_args())

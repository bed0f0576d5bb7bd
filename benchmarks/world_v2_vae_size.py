"""Which video size keeps world-v2 objects through the nano VAE? Reconstruct ground-truth renders at candidate
sizes with the shipped v1 VAE (fully convolutional, trained on 64x64x9 v1 scenes) and measure, per object size
(small / large), how often an object of the render is found in the reconstruction with its colour and its shape,
the colour error inside it, and each category's verdict on the reconstruction.

    .venv/bin/python benchmarks/world_v2_vae_size.py [--sizes 64 96 128] [--per-category 3]
"""

import argparse
import dataclasses
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from mimir.bench.comp import score_any, size_class
from mimir.bench.comp_detect import detect_video
from mimir.bench.suite import spec_seed
from mimir.world.v2 import vocab
from mimir.world.v2.render import NUM_FRAMES, render
from mimir.world.v2.spec import load_suite


HERE = Path(__file__).resolve().parent
VAE_DIR = HERE.parent / "mimir" / "assets" / "nano" / "vae"


@torch.no_grad()
def roundtrip(vae, video: torch.Tensor) -> np.ndarray:
    """(B, F, H, W, 3) in [0, 1] -> the VAE's reconstruction, same shape (posterior mode)."""
    x = video.permute(0, 4, 1, 2, 3) * 2 - 1  # (B, 3, F, H, W) in [-1, 1]
    z = vae.encode(x).latent_dist.mode()
    y = vae.decode(z).sample  # (B, 3, F, H, W)
    return ((y.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1).numpy()


def main(args: argparse.Namespace) -> None:
    from diffusers import AutoencoderKLCogVideoX

    torch.set_num_threads(args.threads)
    vae = AutoencoderKLCogVideoX.from_pretrained(VAE_DIR, torch_dtype=torch.float32).eval()
    specs = [s for c in vocab.CATEGORIES for s in load_suite(HERE.parent / "prompts/bench/v2/train" / f"{c}.jsonl")
             [: args.per_category]]  # fmt: skip
    if args.background:  # one place for every clip: separates the VAE's object sizes from the textures it never saw
        specs = [dataclasses.replace(s, background=args.background) for s in specs]
    seeds = [spec_seed(s) for s in specs]
    out = {}
    for size in args.sizes:
        started = time.perf_counter()
        gt = render(specs, seeds, NUM_FRAMES, size, size)
        rec = np.concatenate([roundtrip(vae, gt[i : i + 1]) for i in range(len(specs))])
        found, color_err, found_by_shape = defaultdict(list), defaultdict(list), defaultdict(list)
        verdicts = defaultdict(list)
        for spec, g, r in zip(specs, gt.numpy(), rec):
            dg, dr = detect_video(g), detect_video(r)
            for t, (fg, fr) in enumerate(zip(dg, dr)):
                for b in fg.objects:
                    cls = size_class(b.radius, size, size)
                    hit = [o for o in fr.objects if (o.mask & b.mask).sum() > 0.3 * b.area]
                    ok = any(o.color == b.color and o.shape == b.shape for o in hit)
                    found[cls].append(ok)
                    found_by_shape[b.shape].append(ok)
                    color_err[cls].append(float(np.abs(r[t][b.mask] - g[t][b.mask]).mean()))
            verdicts[spec.dimension].append(score_any(r, spec)["pass"])
        out[size] = {
            "object_found_with_colour_and_shape": {k: round(float(np.mean(v)), 3) for k, v in found.items()},
            "found_by_shape": {k: round(float(np.mean(v)), 3) for k, v in sorted(found_by_shape.items())},
            "colour_error_in_object": {k: round(float(np.mean(v)), 4) for k, v in color_err.items()},
            "verdict_pass_on_reconstruction": {k: round(float(np.mean(v)), 3) for k, v in verdicts.items()},
            "vae_seconds_per_clip": round((time.perf_counter() - started) / len(specs), 2),
        }
        print(size, json.dumps(out[size]), flush=True)
    if args.out:
        record = {"clips_per_size": len(specs), "background": args.background or "the suites'", "results": out}
        Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--per-category", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--background", default=None, choices=list(vocab.BACKGROUNDS), help="override every place")
    parser.add_argument("--out", default=None)
    main(parser.parse_args())

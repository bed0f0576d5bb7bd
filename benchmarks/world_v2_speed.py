"""Renderer speed of world v2 on this machine: clips per second (layout + raster), and the scorer's seconds per clip.

.venv/bin/python benchmarks/world_v2_speed.py [--n 112] [--batch-size 16] [--threads 1]
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch

from mimir.bench.comp import score_any
from mimir.bench.report import environment
from mimir.bench.suite import spec_seed
from mimir.world.v2 import vocab
from mimir.world.v2.render import HEIGHT, NUM_FRAMES, WIDTH, rasterize, render_layout
from mimir.world.v2.spec import load_suite


HERE = Path(__file__).resolve().parent


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    per = args.n // len(vocab.CATEGORIES)
    specs = [
        s for c in vocab.CATEGORIES for s in load_suite(HERE.parent / "prompts/bench/v2/train" / f"{c}.jsonl")[:per]
    ]
    seeds = [spec_seed(s) for s in specs]
    render_layout(specs[0], seeds[0])  # warm the cached shape profiles
    t0 = time.perf_counter()
    layouts = [render_layout(s, seed) for s, seed in zip(specs, seeds)]
    t1 = time.perf_counter()
    videos = []
    for i in range(0, len(layouts), args.batch_size):
        videos.append(rasterize(layouts[i : i + args.batch_size], NUM_FRAMES, HEIGHT, WIDTH))
    t2 = time.perf_counter()
    frames = torch.cat(videos).numpy()
    k = min(len(specs), args.score)
    t3 = time.perf_counter()
    for s, v in zip(specs[:k], frames[:k]):
        score_any(v, s)
    t4 = time.perf_counter()
    out = {
        "clips": len(specs),
        "video": [NUM_FRAMES, HEIGHT, WIDTH],
        "threads": args.threads,
        "layout_s_per_clip": round((t1 - t0) / len(specs), 4),
        "raster_s_per_clip": round((t2 - t1) / len(specs), 4),
        "clips_per_s": round(len(specs) / (t2 - t0), 1),
        "score_s_per_clip": round((t4 - t3) / k, 3),
        "load_average": os.getloadavg(),
        "cpu_count": environment()["cpu_count"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=112, help="clips, spread evenly over the seven categories")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--score", type=int, default=28, help="clips to score (the scorer's speed)")
    main(parser.parse_args())

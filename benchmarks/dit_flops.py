"""The denoising step's share of the GPU's bf16 peak, from a `benchmarks/full_scale.py` report: the FLOPs of one
CogVideoX DiT step counted from its config, divided by the measured seconds per step.

    python benchmarks/dit_flops.py benchmarks/results/full_scale_none_model_offload.json [--peak-tflops 989.4]

Counted per transformer block and sequence of S = video patches + text tokens, D = heads x head dim, over a batch
of 2 (classifier-free guidance): the q, k, v and output projections 2 x 4D^2 x S, the feed-forward (D -> 4D -> D,
CogVideoX's GELU MLP) 2 x 8D^2 x S, and the attention matmuls QK^T and AV 2 x 2 S^2 D. Left out, since they are
below 1% of that at 5B: the patch embedding, the timestep embeddings and adaptive norms, the output projection,
softmax and norms.
Mimir's DiT reads k = 4 stabilizer tokens more than CogVideoX's 226, +0.02% here; the same count serves both.

Peak: NVIDIA's dense bf16 tensor-core figure for the H100/H200 SXM, 989.4 TFLOPS (1,979 is with 2:4 sparsity).
"""

import argparse
import json
from pathlib import Path


DENSE_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4}


def video_patches(config: dict, num_frames: int, height: int, width: int, vae_spatial: int = 8, vae_temporal: int = 4):
    """Patches the DiT sees: latent frames x (latent height / p) x (latent width / p)."""
    p = config["patch_size"]
    latent_frames = (num_frames - 1) // vae_temporal + 1
    return latent_frames * (height // vae_spatial // p) * (width // vae_spatial // p)


def step_flops(config: dict, num_frames: int, height: int, width: int, text_tokens: int, batch: int = 2) -> float:
    """FLOPs of one denoising step (one DiT forward over `batch` sequences); see the module docstring."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    s = video_patches(config, num_frames, height, width) + text_tokens
    per_block = 2 * 4 * d * d * s + 2 * 8 * d * d * s + 2 * 2 * s * s * d
    return batch * config["num_layers"] * per_block


def peak_tflops(gpu_name: str) -> float:
    for key, value in DENSE_BF16_TFLOPS.items():
        if key in gpu_name:
            return value
    raise ValueError(
        f"no bf16 peak known for GPU {gpu_name!r}; pass --peak-tflops (known: {sorted(DENSE_BF16_TFLOPS)})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a benchmarks/full_scale.py JSON report")
    parser.add_argument("--peak-tflops", type=float, default=None, help="default: from the report's GPU name")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    peak = args.peak_tflops or peak_tflops(report["environment"]["gpu"])
    s = report["settings"]
    config = report["configs"]["transformer"]
    flops = step_flops(config, s["num_frames"], s["height"], s["width"], config["max_text_seq_length"])
    print(
        f"{flops / 1e12:.1f} TFLOP per step ({s['num_frames']} frames, {s['height']}x{s['width']}, CFG batch 2); "
        f"peak {peak} TFLOPS"
    )
    print("| mode | pipeline | s/step | TFLOPS | share of bf16 peak |")
    print("|---|---|---|---|---|")
    for row in report["results"]:
        achieved = flops / row["seconds_per_step"] / 1e12
        print(
            f"| {row['mode']} | {row['model']} | {row['seconds_per_step']:.2f} | {achieved:.0f} | "
            f"{achieved / peak:.0%} |"
        )


if __name__ == "__main__":
    main()

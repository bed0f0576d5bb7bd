"""The full-scale recipe at CogVideoX-5B's true shapes with random initial weights (the GPU machine cannot download):
a few optimiser steps of `train_on_videos`, the trainer `python -m mimir train dit --preset cogvideox-5b` runs, on a
folder of generated videos. Prints one JSON line: peak GPU memory per process, samples per second, the losses.

    accelerate launch --config_file configs/accelerate/1gpu.yaml benchmarks/train_full_scale.py \
        --videos /tmp/videos --output-dir /tmp/runs/full_1gpu --max-train-steps 6 --gradient-checkpointing
    (any other `python -m mimir train dit` option passes through; benchmarks/train_full_scale.sh runs the set)

What is random and how it differs from the real models (only the memory and speed are measured, never quality):
- the DiT (5.57 B parameters), VAE, T5-v1.1-XXL encoder (4.76 B) and Phi-3.5-mini (3.82 B) are built from their
  published configs with random weights, in bf16 for the frozen ones;
- the LLM runs in bf16: bitsandbytes 8-bit quantisation needs `from_pretrained`, so `--llm-quantization 8bit` is not
  measured here (8-bit weights take about half the bytes of bf16 ones);
- both tokenizers are one word-level tokenizer built in code from the captions and the LLM-branch texts (real ones
  need a download): T5 still gets its 226 padded positions, the LLM fewer tokens per prompt than Phi's BPE would give.
  With `--cache-dir` the text models run once per clip before training and leave the GPU, so the training step does
  not depend on them.
"""

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from transformers import PreTrainedTokenizerFast

from mimir.bench.environment import environment
from mimir.bench.random_5b import FULL, random_modules, word_tokenizer
from mimir.presets import COGVIDEOX_5B, nano_scheduler
from mimir.text_encoding import LLMBranchConfig
from mimir.train import DTYPES, parse_args
from mimir.train.components import TrainingComponents
from mimir.train.finetune import train_on_videos


# `--scale tiny`: the same script on the CPU in seconds (a smoke test of the script, not a measurement).
TINY = {
    "transformer": dict(
        FULL["transformer"], num_layers=1, num_attention_heads=2, text_embed_dim=64, time_embed_dim=16
    ),
    "vae": dict(FULL["vae"], block_out_channels=(8, 8, 8, 8), norm_num_groups=2),
    "text_encoder": dict(FULL["text_encoder"], d_model=64, d_kv=32, d_ff=128, num_layers=1, num_heads=2),
    "llm": dict(
        FULL["llm"],
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
    ),
}
CAPTIONS = [
    "a red ball rolls across a wooden table",
    "two dogs run on a beach at sunset",
    "a blue car drives past a tall building",
    "a cat jumps onto a green sofa",
]


def write_videos(folder: Path, count: int, num_frames: int, height: int, width: int, fps: int = 8) -> None:
    """`count` H.264 clips of moving coloured squares at the trained size, with .txt captions (PyAV)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / f"clip{i:03d}.mp4"
        if path.exists():
            continue
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
            background, colour = rng.integers(30, 220, 3), rng.integers(0, 256, 3)
            side = min(96, height // 3, width // 3)  # the square's size in pixels
            for f in range(num_frames):
                frame = np.empty((height, width, 3), dtype=np.uint8)
                frame[:] = background
                x = (f * 8 + i * 37) % (width - side)  # moves right, wraps around
                frame[height // 3 : height // 3 + side, x : x + side] = colour
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        (folder / f"clip{i:03d}.txt").write_text(CAPTIONS[i % len(CAPTIONS)])


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


def caption_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the words of `texts`, with a chat template (stands in for T5's and Phi's)."""
    specials = ("[PAD]", "[UNK]", "</s>")
    fast = word_tokenizer(texts, specials, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def random_components(device: torch.device, transformer_dtype: torch.dtype, tiny: bool) -> TrainingComponents:
    """CogVideoX-5B + T5-XXL + Phi-3.5-mini at their true shapes (or `TINY` ones), random weights, built on the
    device."""
    branch = LLMBranchConfig.from_file()
    tokenizer = caption_tokenizer(CAPTIONS + [branch.system_prompt, *branch.instructions, "system user assistant"])
    shapes = TINY if tiny else FULL
    modules = dict(random_modules(shapes, device, {"transformer": transformer_dtype}))
    transformer, vae, text_encoder, llm = (modules[k] for k in ("transformer", "vae", "text_encoder", "llm"))
    # Where the preset's loader leaves it (mimir.train.components.training_components): the DiT waits on the host
    # while the feature cache is built, and the trainer moves it to the GPU when it prepares the model. The runs of
    # 2026-11-30 kept it on the GPU throughout, so their cache-building peak includes it (10.4 GiB in bf16).
    transformer.to("cpu")
    return TrainingComponents(
        tokenizer, text_encoder, tokenizer, llm, vae, transformer, nano_scheduler(), torch.bfloat16, COGVIDEOX_5B
    )


def logged_steps(run: Path) -> list[tuple[int, float, float]]:
    """(step, loss, seconds since the run's start) of each losses.csv row; [] before the first."""
    if not (run / "losses.csv").exists():
        return []
    with (run / "losses.csv").open() as f:
        return [(int(r["step"]), float(r["loss"]), float(r["seconds"])) for r in csv.DictReader(f)]


def throughput(rows: list[tuple[int, float, float]], samples_per_step: int) -> float | None:
    """Samples per second from the second logged step of this invocation to its last (the first step includes
    compilation of kernels and the allocator's warm-up)."""
    rows = rows[1:]
    if len(rows) < 2 or rows[-1][2] <= rows[0][2]:
        return None
    return samples_per_step * (rows[-1][0] - rows[0][0]) / (rows[-1][2] - rows[0][2])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", required=True, help="folder for the generated clips (made once)")
    parser.add_argument("--num-videos", type=int, default=16)
    parser.add_argument("--scale", default="true", choices=["true", "tiny"], help="tiny: a CPU smoke test")
    own, rest = parser.parse_known_args(argv)
    args = parse_args(["dit", "--data", own.videos, "--preset", "cogvideox-5b", "--log-every", "1", *rest])
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    cuda = state.device.type == "cuda"
    if state.is_main_process:
        write_videos(Path(own.videos), own.num_videos, args.num_frames * 2, args.height, args.width)
    state.wait_for_everyone()
    logged_before = len(logged_steps(Path(args.output_dir)))  # rows of an earlier invocation (a resumed run)
    start = time.time()
    components = random_components(state.device, DTYPES[args.transformer_dtype], own.scale == "tiny")
    built = time.time() - start
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    run = train_on_videos(args, components)  # closes the process group: from here on, the main process alone
    if state.is_main_process:
        peak = json.loads((run / "peak_memory.json").read_text())
        rows = logged_steps(run)
        report = {
            "command": " ".join(sys.argv),
            "scale": own.scale,
            "processes": state.num_processes,
            "device": torch.cuda.get_device_name() if cuda else "cpu",
            "peak_allocated_gib_per_gpu": _rounded(peak["peak_allocated_gib_per_process"]),
            "training_peak_allocated_gib_per_gpu": _rounded(peak["training_peak_allocated_gib_per_process"]),
            "cache_pass_peak_allocated_gib_per_gpu": _rounded(peak["cache_pass_peak_allocated_gib_per_process"]),
            "samples_per_s": throughput(
                rows[logged_before:], args.train_batch_size * state.num_processes * args.gradient_accumulation_steps
            ),
            "build_seconds": round(built, 1),
            "losses": {step: loss for step, loss, _ in rows},  # earlier invocations' steps included
            "environment": environment(state.device),
        }
        print(json.dumps(report), flush=True)
        (run / "benchmark.json").write_text(json.dumps(report, indent=1) + "\n")


def _rounded(peaks: list[float | None]) -> list[float | None]:
    return [round(p, 2) if p is not None else None for p in peaks]


if __name__ == "__main__":
    main(sys.argv[1:])

"""Training of the nano model family: `python -m mimir train {vae,dit} ...` (accelerate: the same command runs on
one GPU, on N GPUs under `accelerate launch -m mimir train ...`, or on the CPU for a smoke test).

    vae   the nano CogVideoX VAE on nano-world videos
    dit   the CogVideoX DiT: from scratch with `--fusion-type t5_only` (CogVideoX-nano), or fine-tuned from
          `--init-transformer` with any fusion type (Mimir-nano is `--fusion-type mimir`)
          `--world v2` (both stages): world v2's scenes, captions and size, the models of the `nano-v2` preset
          (mimir/world/v2/RECIPE.md); the default `--world v1` is the nano world of the shipped `nano` preset.
          With `--data VIDEOS`: Mimir on your own videos at any preset (`--preset cogvideox-5b` for the full
          scale; configs/accelerate/ for several GPUs): filtering, feature cache, LoRA, EMA, 8-bit AdamW.

The commands that produced the shipped weights are in mimir/assets/nano/README.md.
"""

import argparse
import sys

import torch

# The registry's names, the world versions and the nano sizes have one home, mimir/presets.py (light: its loaders
# import their libraries when they run), imported here for the CLI's choices and defaults.
from mimir.presets import NANO_FAMILIES, PRESET_NAMES, PRESETS, WORLDS
from mimir.token_fuser import FUSION_TYPES

from .filters import ScorerSpec


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", required=True, help="run folder: weights, trainer state, losses.csv")
    parser.add_argument("--seed", type=int, default=0, help="seeds the data pool and the training RNG")
    parser.add_argument("--pool-size", type=int, default=40000, help="scene/caption/render-seed items in the pool")
    parser.add_argument(
        "--world",
        default="v1",
        choices=WORLDS,
        help="nano world version: v1 (the nano preset's) or v2 (compositional scenes, the nano-v2 preset's)",
    )
    parser.add_argument("--num-frames", type=int, default=None, help="default: the world's (v1 9, v2 17) or preset's")
    parser.add_argument("--height", type=int, default=None, help="default: the world's (v1 64, v2 96) or preset's")
    parser.add_argument("--width", type=int, default=None, help="default: the world's (v1 64, v2 96) or preset's")
    parser.add_argument("--train-batch-size", type=int, default=None, help="per process; default 64, with --data 1")
    parser.add_argument("--max-train-steps", type=int, required=True, help="total steps (resuming continues to it)")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument(
        "--checkpoint-every", type=int, default=1000, help="steps between checkpoints (0: none; --data only)"
    )
    parser.add_argument(
        "--time-limit-minutes",
        type=float,
        default=None,
        help="checkpoint and stop after this long (a device call has a hard limit); resume later",
    )


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated layer indices such as 6,12,-1") from None
    return layers


def video_recipe_options() -> frozenset[str]:
    """The destinations of the `--data` recipe's options (read only with `--data`)."""
    parser = argparse.ArgumentParser(add_help=False)
    _videos(parser)
    return frozenset(action.dest for action in parser._actions)


def _videos(parser: argparse.ArgumentParser) -> None:
    """Options of the full-scale recipe (`--data`); see mimir/train/finetune.py."""
    g = parser.add_argument_group("training on your own videos (--data)")
    g.add_argument("--data", default=None, help="a folder of videos with .txt captions, or a .csv / .jsonl list")
    g.add_argument("--preset", default="nano", choices=PRESET_NAMES, help="whose text models, VAE and DiT")
    g.add_argument("--fps", type=float, default=8.0, help="frames sampled per second of video, from its start")
    g.add_argument("--min-seconds", type=float, default=None, help="filter: shortest source duration")
    g.add_argument("--min-aspect", type=float, default=None, help="filter: lowest width / height of the source")
    g.add_argument("--max-aspect", type=float, default=None, help="filter: highest width / height of the source")
    g.add_argument("--black-level", type=float, default=16.0, help="mean luma (0-255) below which a frame is black")
    g.add_argument("--max-black-frame-ratio", type=float, default=None, help="filter: highest share of black frames")
    g.add_argument("--min-brightness", type=float, default=None, help="filter: lowest mean luma (0-255)")
    g.add_argument("--max-brightness", type=float, default=None, help="filter: highest mean luma (0-255)")
    g.add_argument(
        "--scorer",
        type=_scorer,
        action="append",
        default=[],
        metavar="MODULE:FUNCTION:MIN",
        help="filter by a learned score (aesthetics, 1 - watermark probability): FUNCTION(frames (F,H,W,3) uint8, "
        "caption) -> float must reach MIN; repeatable",
    )
    g.add_argument("--cache-shard-size", type=int, default=64, help="clips per feature-cache shard (--cache-dir)")
    g.add_argument("--lora-rank", type=int, default=0, help="train a LoRA of this rank on the DiT (0: the whole DiT)")
    g.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: the rank)")
    g.add_argument(
        "--lora-base-storage",
        default=None,
        choices=["float8_e4m3fn", "float8_e5m2"],
        help="with --lora-rank and --gradient-checkpointing: keep the frozen DiT in float8, cast layer by layer to "
        "--transformer-dtype for compute (diffusers' layerwise casting): half a bf16 DiT's memory",
    )
    g.add_argument(
        "--gradient-accumulation-steps", type=int, default=1, help="batches per optimizer step (per process)"
    )
    g.add_argument("--optimizer", default="adamw", choices=["adamw", "adamw8bit"], help="adamw8bit: bitsandbytes")
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--max-grad-norm", type=float, default=1.0)
    g.add_argument("--gradient-checkpointing", action="store_true", help="recompute DiT blocks in backward")
    g.add_argument("--use-ema", action="store_true", help="keep an EMA of the trained weights; they are saved")
    g.add_argument("--ema-decay", type=float, default=0.9999)
    g.add_argument("--report-to", default="none", help="accelerate tracker: none, tensorboard, wandb, ...")
    g.add_argument(
        "--llm-quantization", default=None, choices=["none", "8bit"], help="frozen LLM: default the preset's"
    )
    g.add_argument(
        "--transformer-dtype",
        default="fp32",
        choices=list(DTYPES),
        help="trained weights' dtype: fp32 master weights (with --mixed-precision bf16), or bf16 to halve them",
    )
    g.add_argument("--vae-tiling", action="store_true", help="encode videos tile by tile (less GPU memory)")
    g.add_argument("--dataloader-num-workers", type=int, default=2)


def _scorer(text: str) -> ScorerSpec:
    try:
        return ScorerSpec.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def nano_world_defaults(world: str) -> dict:
    """The size defaults of a nano world version: its preset's video size and n, batch 64."""
    preset = PRESETS[NANO_FAMILIES[world].preset]
    d = preset.defaults
    return dict(
        num_frames=d.num_frames,
        height=d.height,
        width=d.width,
        train_batch_size=64,
        max_sequence_length=preset.max_sequence_length,
    )


def resolve_defaults(args) -> None:
    """Fill the size defaults: the nano world's (`--world`), or with --data the preset's."""
    if getattr(args, "data", None):
        if args.world != "v1":
            raise SystemExit(f"--world {args.world} is a nano world; with --data your videos are the data: drop it")
        defaults = PRESETS[args.preset].defaults
        fill = dict(
            num_frames=defaults.num_frames,
            height=defaults.height,
            width=defaults.width,
            train_batch_size=1,
            max_sequence_length=PRESETS[args.preset].max_sequence_length,
            fusion_type="mimir",
            encode_batch_size=4,  # clips per VAE / text-encoder pass while caching: 49x480x720 clips are large
        )
    else:
        fill = {
            **nano_world_defaults(getattr(args, "world", "v1")),
            "fusion_type": "t5_only",
            "encode_batch_size": 256,
        }
    for name, value in fill.items():
        if getattr(args, name, value) is None:
            setattr(args, name, value)
    for name in ("train_batch_size", "max_train_steps", "gradient_accumulation_steps"):
        if getattr(args, name, 1) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    if getattr(args, "data", None) and getattr(args, "vae", None):
        raise SystemExit("--vae is the nano world's VAE; with --data the preset's VAE encodes your videos: drop --vae")
    if getattr(args, "checkpoint_every", 1) < (0 if getattr(args, "data", None) else 1):
        raise SystemExit(f"--checkpoint-every {args.checkpoint_every}: must be >= 1 (0, no checkpoints, needs --data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mimir train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="stage", required=True)
    vae = sub.add_parser("vae", help="train the nano VAE")
    _common(vae)
    vae.add_argument("--object-weight", type=float, default=10.0, help="L1 weight of object pixels vs background")
    vae.add_argument("--kl-weight", type=float, default=1e-4)
    dit = sub.add_parser("dit", help="train / fine-tune the DiT (+ TokenFuser)")
    _common(dit)
    dit.add_argument("--vae", default=None, help="nano world: folder of the trained VAE (config.json + weights)")
    dit.add_argument("--fusion-type", default=None, choices=FUSION_TYPES, help="default: t5_only, with --data mimir")
    dit.add_argument("--init-transformer", default=None, help="start from this DiT (the Mimir fine-tune)")
    dit.add_argument("--fuser-learning-rate", type=float, default=None, help="default: --learning-rate")
    dit.add_argument("--lr-warmup-steps", type=int, default=500)
    dit.add_argument("--caption-dropout", type=float, default=0.1, help="share of empty captions, for CFG")
    dit.add_argument(
        "--max-sequence-length",
        type=int,
        default=None,
        help="n, the encoder length (default: the world's, v1 32, v2 64; or the preset's)",
    )
    dit.add_argument("--encode-batch-size", type=int, default=None, help="default 256, with --data 4")
    dit.add_argument("--cache-dir", default=None, help="keep pool latents and text features here between runs")
    dit.add_argument(
        "--llm-hidden-layers",
        type=_layers,
        default=(-1,),
        help="LLM hidden layers the branch takes, comma-separated (e.g. 6,12,18,-1); several are mixed by the fuser",
    )
    dit.add_argument(
        "--encoder-dropout",
        type=float,
        default=0.0,
        help="share of captions whose encoder tokens are replaced by the empty caption's (LLM branch alone)",
    )
    _videos(dit)
    export = sub.add_parser("export", help="pack a run's models (fp16 optional) and logs into one tar")
    export.add_argument("--run", required=True)
    export.add_argument("--out", required=True, help="output .tar")
    export.add_argument("--fp16", action="store_true", help="store weights in fp16 (how the nano weights ship)")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line's arguments with the size defaults filled in (what every stage reads)."""
    args = build_parser().parse_args(argv)
    resolve_defaults(args)
    return args


def cli_main(argv: list[str]) -> int:
    args = parse_args(argv)
    # Each stage's module is imported when it runs: at the top they would take `train --help` from 8 s to 13 s.
    if args.stage == "export":
        from .checkpoint import export_run

        export_run(args.run, args.out, args.fp16)
    elif args.stage == "vae":
        from .vae import train_vae

        train_vae(args)
    elif args.data:
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        from mimir.train.components import training_components

        from .finetune import train_on_videos
        from .videos import list_videos

        try:
            list_videos(args.data)  # a wrong path fails now, not after minutes of loading the 5B models
            components = training_components(
                args.preset,
                # The process group first, as the trainer's Accelerator will see it (on the CPU: gloo under torchrun).
                PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device,
                with_llm=args.fusion_type != "t5_only",
                llm_quantization=args.llm_quantization,
                init_transformer=args.init_transformer,
                transformer_dtype=DTYPES[args.transformer_dtype],
            )
            train_on_videos(args, components)
        except ValueError as err:  # bad input: the value and the rule, as `generate` reports it
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        if args.vae is None:
            raise SystemExit("train dit needs --data VIDEOS (your videos) or --vae VAE_FOLDER (the nano world)")
        if args.preset != "nano":
            raise SystemExit(f"--preset {args.preset} trains on your videos: pass --data")
        from .diffusion import train_dit

        train_dit(args)
    return 0

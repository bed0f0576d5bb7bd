"""Training of the nano model family: `python -m mimir train {vae,dit} ...` (accelerate: the same command runs on
one GPU, on N GPUs under `accelerate launch -m mimir train ...`, or on the CPU for a smoke test).

    vae   the nano CogVideoX VAE on nano-world videos
    dit   the CogVideoX DiT: from scratch with `--fusion-type t5_only` (CogVideoX-nano), or fine-tuned from
          `--init-transformer` with any fusion type (Mimir-nano is `--fusion-type mimir`)

The commands that produced the shipped weights are in mimir/assets/nano/README.md.
"""

import argparse

from mimir.token_fuser import FUSION_TYPES


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-dir", required=True, help="run folder: weights, trainer state, losses.csv")
    parser.add_argument("--seed", type=int, default=0, help="seeds the data pool and the training RNG")
    parser.add_argument("--pool-size", type=int, default=40000, help="scene/caption/render-seed items in the pool")
    parser.add_argument("--num-frames", type=int, default=9)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--train-batch-size", type=int, default=64)
    parser.add_argument("--max-train-steps", type=int, required=True, help="total steps (resuming continues to it)")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
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
    dit.add_argument("--vae", required=True, help="folder of the trained VAE (config.json + weights)")
    dit.add_argument("--fusion-type", default="t5_only", choices=FUSION_TYPES)
    dit.add_argument("--init-transformer", default=None, help="start from this DiT (the Mimir fine-tune)")
    dit.add_argument("--fuser-learning-rate", type=float, default=None, help="default: --learning-rate")
    dit.add_argument("--lr-warmup-steps", type=int, default=500)
    dit.add_argument("--caption-dropout", type=float, default=0.1, help="share of empty captions, for CFG")
    dit.add_argument("--max-sequence-length", type=int, default=32, help="n, the encoder length")
    dit.add_argument("--encode-batch-size", type=int, default=256)
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
    export = sub.add_parser("export", help="pack a run's models (fp16 optional) and logs into one tar")
    export.add_argument("--run", required=True)
    export.add_argument("--out", required=True, help="output .tar")
    export.add_argument("--fp16", action="store_true", help="store weights in fp16 (how the nano weights ship)")
    return parser


def cli_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    # Each stage's module is imported when it runs: at the top they would take `train --help` from 8 s to 13 s.
    if args.stage == "export":
        from .checkpoint import export_run

        export_run(args.run, args.out, args.fp16)
    elif args.stage == "vae":
        from .vae import train_vae

        train_vae(args)
    else:
        from .diffusion import train_dit

        train_dit(args)
    return 0

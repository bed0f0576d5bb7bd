"""Mimir-nano's `encode_prompt` over N new prompts in one process (model loading included): a whole-process timing
of the text encoding a user meets, for A/B runs of two commits under an outside timer.

    /usr/bin/time -v .venv/bin/python benchmarks/encode_new_prompts.py --prompts 40
"""

import argparse

import torch

from mimir.loading import load_pipelines
from mimir.world.sampler import fresh_prompts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=40, help="new prompts to encode (each once)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the prompt sampler")
    args = parser.parse_args(argv)
    if args.prompts < 1:
        parser.error(f"--prompts {args.prompts}: at least 1")
    pipe = load_pipelines("nano").mimir
    with torch.no_grad():  # a context, not the global switch: the tests call main() in their own process
        for prompt in fresh_prompts(args.prompts, seed=args.seed):
            pipe.encode_prompt(prompt, "")  # prompt + the empty negative prompt + the fuser, as a generation does


if __name__ == "__main__":
    main()

"""The app on tiny seeded pipelines in its own process, for the tests that kill it (SIGKILL, SIGTERM).

    python -m tests.serve_tiny --port P --votes FILE --out-dir DIR --study-prompts FILE [--votes-per-minute N]

As behind a proxy when started with MIMIR_BEHIND_PROXY=1 (the vote rate is then keyed on X-Forwarded-For).

Serves through `app.serve`, the same path as `python app.py` (SIGTERM handler, output folder removed on shutdown).
"""

import argparse
import logging

import app
from tests.tiny_studio import tiny_pipes


def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    studio = app.Studio(
        tiny_pipes(),
        votes_path=args.votes,
        study_prompts=args.study_prompts,
        out_dir=args.out_dir,
        vote_rate=(args.votes_per_minute, 60.0),
    )
    app.serve(app.queued(app.build_demo(studio)), studio, "127.0.0.1", args.port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--votes", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--study-prompts", required=True)
    parser.add_argument("--votes-per-minute", type=int, default=10_000, help="per client address (default: no limit)")
    main(parser.parse_args())

"""`python -m mimir.bench ...`: see mimir.bench.cli."""

import sys

from mimir.bench.cli import cli_main


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))

"""``python -m odyssai.runner``: parse the command line and run one rank."""

from __future__ import annotations

import argparse
import os
import sys

PARENT_PID = os.getppid()  #: read first thing: the process that started us

from . import EXIT_USAGE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m odyssai.runner",
                                description="One rank of an OdyssAI-X cluster (control channel on stdin/stdout).")
    p.add_argument("--rank", type=int, required=True, help="this rank (0 is the one that takes requests)")
    p.add_argument("--size", type=int, required=True, help="how many ranks the cluster has")
    p.add_argument("--models-dir", required=True, help="directory holding the models on this node")
    p.add_argument("--cluster", default="", help="the cluster's name, for logs")
    args = p.parse_args(argv)
    if args.size < 1 or not 0 <= args.rank < args.size:
        p.error(f"--rank must be in 0..{args.size - 1} and --size at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code else 0
    args.parent_pid = PARENT_PID
    from .lifecycle import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m odyssai_testbed reboot-node STATE_DIR NODE``: the reboot a node's topology names.

Run on the node over SSH (inside its namespace), it hands the reboot to a detached helper and
returns at once, the way ``shutdown -r now`` does on a Mac. Kept free of heavy imports: it is
started once per reboot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import TestbedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m odyssai_testbed")
    sub = parser.add_subparsers(dest="command", required=True)
    rb = sub.add_parser("reboot-node", help="reboot a testbed node: kill everything in it, restart its sshd")
    rb.add_argument("state_dir", type=Path, help="the testbed's state dir")
    rb.add_argument("node", help="node name, e.g. node2")
    rb.add_argument("--delay", type=float, default=1.0, help="seconds between the kill and sshd's return")
    rb.add_argument("--grace", type=float, default=0.3, help="seconds before the kill (lets this command return)")
    rb.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from . import reboot

    try:
        if args.detached:
            reboot.run_helper(args.state_dir, args.node, delay=args.delay, grace=args.grace)
        else:
            reboot.spawn_helper(args.state_dir, args.node, delay=args.delay, grace=args.grace)
            print(f"rebooting {args.node}: sshd back in about {args.grace + args.delay:g}s")
    except TestbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Example labloop instrument: the Branin function as a fake measurement.

    /usr/bin/python3 drivers/python/example_driver.py --endpoint ipc:///tmp/branin.ipc [--delay 2] [--capacity 1]

Inputs x1 in [-5, 10] and x2 in [0, 15] (continuous); output "y" = Branin(x1, x2), whose global
minimum 0.397887 is at (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import threading
from typing import Any

# Run from anywhere: the SDK is the file next to this one.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labloop_driver import Driver, serve  # noqa: E402


def branin(x1: float, x2: float) -> float:
    b = 5.1 / (4 * math.pi ** 2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


class BraninDriver(Driver):
    def __init__(self, delay: float, capacity: int) -> None:
        self.delay = delay
        self.capacity = capacity

    def describe(self) -> dict[str, Any]:
        return {
            "driver": "labloop-example-branin",
            "version": "0.1.0",
            "inputs": [
                {"name": "x1", "type": "continuous", "low": -5, "high": 10},
                {"name": "x2", "type": "continuous", "low": 0, "high": 15},
            ],
            "outputs": ["y"],
            "capacity": self.capacity,
        }

    def estimate(self, params: dict[str, Any]) -> dict[str, float]:
        # Runs on the socket thread that answers ping and hello: from what is known, at once.
        return {"expected_s": self.delay, "max_s": self.delay * 3 + 10}

    def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, float]:
        # "Measure" in small steps so an abort stops within ~50 ms and progress is visible.
        steps = max(1, int(self.delay / 0.05))
        for i in range(steps):
            if stop.wait(self.delay / steps):
                return {}  # the SDK reports an aborted experiment whatever we return
            self.report_progress((i + 1) / steps)
        return {"y": branin(params["x1"], params["x2"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Branin example instrument for labloop (protocol v1).")
    ap.add_argument("--endpoint", required=True, help="ZeroMQ endpoint to bind, e.g. tcp://*:5555 or ipc:///tmp/x.ipc")
    ap.add_argument("--delay", type=float, default=0.0, metavar="SECONDS", help="simulated measurement time (default 0)")
    ap.add_argument("--capacity", type=int, default=1, metavar="N", help="experiments run at once (default 1)")
    ap.add_argument("--cache", metavar="FILE", help="persist the result cache to this JSON-lines file")
    ap.add_argument("--verbose", action="store_true", help="log protocol events to stderr")
    ap.add_argument("--key", metavar="KEYS/NAME", help="encrypt with this key pair (CurveZMQ; `labloop keys new NAME`)")
    ap.add_argument("--allowed", metavar="FILE_OR_DIR", help="controller public keys allowed to connect (.pub file or directory)")
    ap.add_argument("--require-encryption", action="store_true", help="refuse to start without --key and --allowed")
    ap.add_argument("--exclusive", action="store_true", default=None,
                    help="one campaign at a time: others get `busy` naming the holder (default with --key)")
    ap.add_argument("--no-exclusive", dest="exclusive", action="store_false", help="serve every controller, even with --key")
    ap.add_argument("--lease", type=float, default=3600.0, metavar="SECONDS",
                    help="how long a silent holder keeps the instrument (default 3600; its messages renew it)")
    args = ap.parse_args(argv)
    if args.exclusive is None:
        args.exclusive = bool(args.key)
    if args.delay < 0 or not math.isfinite(args.delay):
        ap.error("--delay must be a finite number >= 0")
    if args.capacity < 1:
        ap.error("--capacity must be >= 1")
    if not 1 <= args.lease <= 31536000:  # nan included
        ap.error("--lease must be 1 to 31536000 seconds (a year)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="example_driver: %(levelname)s %(message)s")

    def ready(bound: str) -> None:
        # Echo the endpoint as given (scripts wait for it); only an ephemeral port needs resolving.
        shown = bound if args.endpoint.endswith((":0", ":*")) else args.endpoint
        print(f"example_driver: serving on {shown}", file=sys.stderr, flush=True)

    try:
        serve(BraninDriver(args.delay, args.capacity), args.endpoint, cache_path=args.cache, ready=ready,
              key_path=args.key, allowed_keys=args.allowed, require_encryption=args.require_encryption,
              exclusive=args.exclusive, lease_s=args.lease)
    except Exception as e:  # e.g. address in use: one clear line, non-zero exit
        print(f"example_driver: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

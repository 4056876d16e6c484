"""One experiment of the example oven, as labloop-driver-command runs it (README.md beside oven.json).

The params arrive as JSON on stdin: {"experiment": "...", "params": {"temperature": 180.0, ...}}.
Print the measurements as one JSON object on the last line of stdout and exit 0; anything else
on stdout before it, and everything on stderr, is kept in the run's folder for you to read.
To report a failed experiment, print {"error": "why"} (or exit non-zero).
"""
import json
import math
import sys
import time

request = json.load(sys.stdin)
p = request["params"]
print(f"heating to {p['temperature']} C for {p['minutes']} min under {p['atmosphere']}", file=sys.stderr)
time.sleep(0.1)  # the real instrument would take its time here

if p["atmosphere"] == "air" and p["temperature"] > 230:
    print(json.dumps({"error": "charred: above 230 C in air"}))
    sys.exit(0)

y = 100 * math.exp(-((p["temperature"] - 180) / 40) ** 2) * (1 - math.exp(-p["minutes"] / 15))
if p["atmosphere"] == "nitrogen":
    y *= 1.1
print(json.dumps({"yield": round(y, 3)}))

#!/usr/bin/env bash
# Installs the dependencies, builds labloop (Release) and runs the quick-start campaign on a
# simulated instrument. Extra arguments go to `labloop run` (e.g. --output DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
cmake --build build/release -j "$(nproc)"
# A fresh output directory per run, so running it again never collides with an earlier run.
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--output "runs/quickstart-$(date +%Y%m%d-%H%M%S)")
./build/release/labloop run examples/quickstart.json "${args[@]}"

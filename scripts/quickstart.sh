#!/usr/bin/env bash
# Installs the dependencies, builds labloop (Release) and runs the quick-start campaign on a
# simulated instrument. Extra arguments go to `labloop run` (e.g. --output DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Only what the campaign runs: the controller and the simulator (tests and benchmarks are
# scripts/test.sh's business; building them first took most of the time on a fresh machine).
# A unity build (the sources of a target compiled a few at a time as one translation unit, so
# Eigen's, nlohmann's and fmt's templates are instantiated once per batch): 2 min 44 s instead of
# 3 min 56 s on 2 cores. scripts/gcc-check.sh compiles every shipped source this way in CI.
# Ninja builds it: 2 min 59 s against Makefiles' 3 min 51 s on 2 cores (2026-12-07, the code
# having grown since the figures above); Make left a core idle for a quarter of the time. A
# build/release made before keeps its generator (CMake cannot change it in place).
generator=(-G Ninja)
[ ! -f build/release/CMakeCache.txt ] || generator=()
cmake -S . -B build/release "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DLABLOOP_BUILD_TESTS=OFF -DLABLOOP_BUILD_BENCH=OFF -DCMAKE_UNITY_BUILD=ON
cmake --build build/release -j "$(nproc)" --target labloop-cli labloop-sim
# A fresh output directory per run, so running it again never collides with an earlier run.
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--output "runs/quickstart-$(date +%Y%m%d-%H%M%S)")
./build/release/labloop run examples/quickstart.json "${args[@]}"

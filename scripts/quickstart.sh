#!/usr/bin/env bash
# Installs the dependencies, builds labloop (Release) and runs the quick-start campaign on a
# simulated instrument. Extra arguments go to `labloop run` (e.g. --output DIR).
# Run with sh, it would stop at the first bash-only line: run it with bash instead.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
# A relative --output DIR is where the caller stands, not in the source tree.
caller=$PWD
cd "$(dirname "$0")/.."
root=$PWD
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
cd "$caller"
status=0
"$root/build/release/labloop" run "$root/examples/quickstart.json" "${args[@]}" || status=$?
# What to do next, with the program's own path (it is not on PATH).
echo
echo "labloop is $root/build/release/labloop: \`labloop --help\` lists what it does (status, resume, console, …);"
echo "README.md and docs/ say how to write a campaign of your own."
exit "$status"

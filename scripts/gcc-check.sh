#!/usr/bin/env bash
# Compiles every source of what ships (labloop, labloop-sim, the example driver, the benchmarks)
# with the default compiler (g++ on Debian) in Release flags and all warnings, without generating
# code (-fsyntax-only): every error and warning g++ would give, at less than half the cost of a
# full -O2 build. CI uses it beside the clang sanitizer build, which compiles, links and runs
# everything; a full Release build is README's run command (scripts/quickstart.sh).
#
# Usage: scripts/gcc-check.sh [BUILD_DIR]   default: build/gcc-check (configure only; no objects)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/gcc-check}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLABLOOP_BUILD_TESTS=OFF -DLABLOOP_BUILD_BENCH=ON \
  -DCMAKE_UNITY_BUILD=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# One command per translation unit, its output and object replaced by -fsyntax-only. The
# precompiled-header prefix is included as text (its .gch is never built here).
python3 - "$build/compile_commands.json" >"$build/syntax-commands" <<'EOF'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        if a == "-c":
            continue
        out.append(a)
    out.insert(1, "-fsyntax-only")
    print("cd " + shlex.quote(entry["directory"]) + " && " + " ".join(shlex.quote(a) for a in out))
EOF
count=$(wc -l <"$build/syntax-commands")
# -Winvalid-pch only concerns a .gch that exists; the prefix headers are parsed as text here.
if ! tr '\n' '\0' <"$build/syntax-commands" | xargs -0 -P "$(nproc)" -I{} bash -c '{}' 2>"$build/syntax.log"; then
  cat "$build/syntax.log" >&2
  echo "gcc-check: g++ refused a source (above)" >&2
  exit 1
fi
if [ -s "$build/syntax.log" ]; then
  cat "$build/syntax.log" >&2
  echo "gcc-check: g++ warned (above); fix the warnings" >&2
  exit 1
fi
echo "gcc-check: $count translation units compile with g++ in Release flags, without a warning"

#!/usr/bin/env bash
# Parses the unity-build translation units (the libraries' and the tests') as CI's clang build groups them
# (scripts/test.sh), without generating code: in a unity build a test file's namespace-scope names
# (anonymous namespaces too) share a translation unit with its batch's other files, and adding or
# moving one file regroups the batches after it. About 40 s on 2 cores instead of CI's full build.
#
# Usage: scripts/unity-check.sh [BUILD_DIR]   default: build/unity-check (configure only; no objects)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/unity-check}
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DLABLOOP_BUILD_BENCH=OFF \
  -DCMAKE_UNITY_BUILD=ON -DLABLOOP_BUILD_TESTS=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# The tests' unity sources, each with its output and object replaced by -fsyntax-only, and the
# precompiled header (never built here) included as text.
python3 - "$build/compile_commands.json" >"$build/unity-commands" <<'PY'
import json, shlex, sys
for entry in json.load(open(sys.argv[1])):
    if "/Unity/" not in entry["file"]:
        continue
    args, out, i = shlex.split(entry["command"]), [], 0
    while i < len(args):
        a = args[i]
        if a == "-o":
            i += 2
            continue
        if a == "-c":
            i += 1
            continue
        if a == "-Xclang" and i + 1 < len(args) and args[i + 1] == "-include-pch":
            i += 4
            continue
        if a == "-Xclang" and i + 1 < len(args) and args[i + 1] == "-include":
            out += ["-include", args[i + 3]]  # the precompiled header's source, included as text
            i += 4
            continue
        out.append(a)
        i += 1
    out.insert(1, "-fsyntax-only")
    print("cd " + shlex.quote(entry["directory"]) + " && " + " ".join(shlex.quote(a) for a in out))
PY
count=$(wc -l <"$build/unity-commands")
if ! tr '\n' '\0' <"$build/unity-commands" | xargs -0 -P "$(nproc)" -I{} bash -c '{}' 2>"$build/unity.log"; then
  grep -E "error" -A3 "$build/unity.log" >&2 || cat "$build/unity.log" >&2
  echo "unity-check: a unity batch does not compile (above): rename the clashing namespace-scope name" >&2
  exit 1
fi
echo "unity-check: $count unity translation units parse with clang"

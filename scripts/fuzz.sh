#!/usr/bin/env bash
# Runs the libFuzzer targets in tests/fuzz all at once, each for a bounded time, from the seed
# corpus in tests/fuzz/corpus (read only: new inputs go to BUILD_DIR/fuzz/<target>/corpus).
# Any crash, sanitizer report, leak, timeout (> 10 s on one input) or out-of-memory fails the
# script and names the reproducer. See docs/fuzzing.md.
#
# Usage: scripts/fuzz.sh [BUILD_DIR [SECONDS]]   defaults: build/sanitize, 60
# BUILD_DIR must be configured with -DCMAKE_CXX_COMPILER=clang++ -DLABLOOP_SANITIZE=ON -DLABLOOP_FUZZ=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/sanitize}
seconds=${2:-60}
targets=(config protocol journal key_file)
out="$build/fuzz"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allow_addr2line=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:allow_addr2line=1}

pids=()
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz.sh: $exe is missing; build $build with -DLABLOOP_FUZZ=ON (docs/fuzzing.md)" >&2
    exit 1
  fi
  rm -rf "${out:?}/$t"
  mkdir -p "$out/$t/corpus"
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/$t.dict" -artifact_prefix="$out/$t/" "$out/$t/corpus" "tests/fuzz/corpus/$t" \
    >"$out/$t/log" 2>&1 &
  pids+=($!)
done

failed=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  if wait "${pids[$i]}"; then
    echo "fuzz.sh: fuzz_$t ran clean: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out/$t/log")"
  else
    failed=1
    tail -n 80 "$out/$t/log"
    for reproducer in $(find "$out/$t" -maxdepth 1 -type f ! -name log); do
      echo "fuzz.sh: fuzz_$t FAILED; reproduce with: $build/tests/fuzz/fuzz_$t $reproducer"
    done
    echo "fuzz.sh: fuzz_$t FAILED (log: $out/$t/log)"
  fi
done
exit "$failed"

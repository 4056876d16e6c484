#!/usr/bin/env bash
# Installs the dependencies, then:
# - a Release build (-O2, the default compiler) of everything that ships (labloop, labloop-sim, the
#   example driver, the benchmarks) and the unit tests, which it runs: the maths as users get it;
# - an AddressSanitizer + UndefinedBehaviorSanitizer build with clang that runs every test (unit,
#   integration with real processes and sockets, fault), and builds the libFuzzer targets and runs
#   each for 45 s (scripts/fuzz.sh, docs/fuzzing.md).
# The process-based tests run once, under the sanitizers, where they find more: running them in
# Release too cost about 150 s of the 15-minute CI budget (compiling and running them again).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --tests
jobs=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DLABLOOP_BUILD_TESTS=ON -DLABLOOP_BUILD_BENCH=ON
cmake --build build/release -j "$jobs" --target labloop-cli labloop-sim labloop-example-driver labloop-bench-speed labloop-bench-pool unit
ctest --test-dir build/release --output-on-failure --no-tests=error -j "$jobs" -L unit

# A build/sanitize left by an older test.sh used g++; CMake cannot switch compilers in place.
if [ -f build/sanitize/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang++' build/sanitize/CMakeCache.txt; then
  rm -rf build/sanitize
fi
cmake -S . -B build/sanitize -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DLABLOOP_SANITIZE=ON -DLABLOOP_FUZZ=ON \
  -DLABLOOP_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
cmake --build build/sanitize -j "$jobs"
# allow_addr2line: readable stack traces without installing llvm (llvm-symbolizer is used when present).
export ASAN_OPTIONS=detect_leaks=1:allow_addr2line=1 UBSAN_OPTIONS=print_stacktrace=1:allow_addr2line=1
ctest --test-dir build/sanitize --output-on-failure --no-tests=error -j "$jobs"
./scripts/fuzz.sh build/sanitize 45
echo "test.sh: unit tests passed in the release build, every test passed in the sanitizer build, and the fuzzers ran clean"

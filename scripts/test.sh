#!/usr/bin/env bash
# Installs the dependencies, then:
# - g++ compiles every source of what ships (labloop, labloop-sim, the example driver, the
#   benchmarks) in Release flags with all warnings, without generating code (scripts/gcc-check.sh):
#   every error and warning of the compiler README's run command uses, at less than half the cost
#   of the -O2 build it replaced here (CI took 971 s with that build; its limit is 900 s);
# - an AddressSanitizer + UndefinedBehaviorSanitizer build with clang that compiles, links and runs
#   every test (unit, integration with real processes and sockets, fault), and builds the libFuzzer
#   targets and runs each for 20 s (scripts/fuzz.sh, docs/fuzzing.md).
# Every test runs once, under the sanitizers, where it finds more (docs/decisions/0028 gathers how
# CI keeps to its 15 minutes). Compiling and running the tests
# in Release as well took CI past its 15 minutes (880 s, then 929 s).
# -gline-tables-only: sanitizer reports name the file and line of every frame, without the full
# debug information Eigen's templates make expensive to compile and link. The test programs' own
# sources compile at -O0 instead of -O1, in about a third of the time (tests/CMakeLists.txt).
# The sanitizer build is a unity build (CMAKE_UNITY_BUILD: the sources of a target compiled a few
# at a time as one translation unit): Eigen's, nlohmann's and Catch2's templates are then
# instantiated once per batch instead of once per file. A test file's namespace-scope names share
# its batch's translation unit: scripts/unity-check.sh checks the batches in about 40 s.
# Ninja builds it, and LLVM's linker (lld) links its programs: from scratch on two cores, Ninja
# and lld took 408 s, Makefiles and lld 468 s (2026-12-07), Ninja and GNU ld 449 s (the day
# before). Ninja keeps both cores busy to the end; lld links tests/unit in 1.5 s against GNU ld's
# 6.3 s and keeps the same copy of each inline function (the libraries' optimized ones,
# tests/CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --tests
jobs=$(nproc)

./scripts/gcc-check.sh build/gcc-check

# A build/sanitize left by an older test.sh used g++, or Makefiles; CMake cannot switch compilers
# or generators in place.
if [ -f build/sanitize/CMakeCache.txt ] && ! { grep -q '^CMAKE_CXX_COMPILER:.*clang++' build/sanitize/CMakeCache.txt &&
  grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' build/sanitize/CMakeCache.txt; }; then
  rm -rf build/sanitize
fi
cmake -S . -B build/sanitize -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DLABLOOP_SANITIZE=ON -DLABLOOP_FUZZ=ON \
  -DLABLOOP_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" -DCMAKE_UNITY_BUILD=ON \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld
cmake --build build/sanitize -j "$jobs"
# allow_addr2line: readable stack traces without installing llvm (llvm-symbolizer is used when present).
export ASAN_OPTIONS=detect_leaks=1:allow_addr2line=1 UBSAN_OPTIONS=print_stacktrace=1:allow_addr2line=1
# Twice as many tests as cores at once: the process-based tests spend much of their time waiting
# (on the programs they start, timers, sockets), which left two cores 62 % busy at -j2 (297 s);
# -j4 took 219 s and 205 s, every test passing.
ctest --test-dir build/sanitize --output-on-failure --no-tests=error -j "$((jobs * 2))"
./scripts/fuzz.sh build/sanitize 20
echo "test.sh: g++ compiled what ships without a warning, every test passed in the sanitizer build, and the fuzzers ran clean"

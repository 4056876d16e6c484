#!/usr/bin/env bash
# Installs everything labloop needs to build and test on Debian 12 (bookworm).
# Idempotent and non-interactive: safe to run again, and safe in CI (no terminal).
set -euo pipefail

# What building and running labloop needs; `--tests` adds what the tests, fuzzers and benchmarks
# need (clang for the sanitizer build, Catch2, Google Benchmark, pyzmq for the Python SDK).
packages=(
  build-essential cmake ninja-build git pkg-config ca-certificates
  libeigen3-dev libnlopt-cxx-dev libnlopt-dev
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libsodium-dev
  libfmt-dev libcli11-dev
  libcpp-httplib-dev  # the operator console's HTTP server (labloop console)
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(
    clang libclang-rt-14-dev  # the sanitizer + libFuzzer build (Debian 12's clang is 14)
    lld  # the sanitizer build's linker (scripts/test.sh says why)
    catch2 libbenchmark-dev
    python3 python3-zmq
    tmux  # the progress display is tested in a real terminal
    librsvg2-bin  # rsvg-convert: a test renders convergence.svg to PNG
    chromium chromium-driver python3-selenium  # the operator console is tested in a real headless browser
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Checks the Debian package in a clean Debian 12 root: it installs with apt (its Depends only);
# README.md's first campaign, `labloop run /usr/share/labloop/examples/quickstart.json`, finishes
# on the installed labloop-sim; and, with the package's Recommends added, the example driver builds
# against the installed CMake package (find_package(labloop COMPONENTS driver)) and runs a campaign.
# Not part of CI (it downloads a Debian root).
#
# Prerequisites (on a Debian/Ubuntu host):
#   - root (debootstrap, chroot and mounting /proc in the root need it);
#   - debootstrap (`apt-get install debootstrap`) and network access to a Debian mirror
#     (MIRROR, default http://deb.debian.org/debian);
#   - to build the package when no .deb is given: what scripts/install-deps.sh installs.
#
# Usage: scripts/check-deb.sh [PATH/TO/labloop_<version>_<arch>.deb]
#   Without an argument, builds the package first: build/package (Release, no tests), cpack -G DEB.
#   ROOT=DIR keeps the Debian root there for a quicker second run (default: a temporary directory,
#   removed at the end); the Depends-only check means something only in a fresh root.
set -euo pipefail
cd "$(dirname "$0")/.."
mirror=${MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" -eq 0 ] || { echo "check-deb: run as root (debootstrap and chroot need it)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "check-deb: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

deb=${1:-}
if [ -z "$deb" ]; then
  cmake -S . -B build/package -DCMAKE_BUILD_TYPE=Release -DLABLOOP_BUILD_TESTS=OFF -DLABLOOP_BUILD_BENCH=OFF
  cmake --build build/package -j "$(nproc)"
  (cd build/package && cpack -G DEB)
  deb=$(find build/package -maxdepth 1 -name "labloop_*.deb" -newer build/package/CPackConfig.cmake | head -n 1)
fi
deb=$(realpath "$deb")
echo "check-deb: $deb"
dpkg-deb --info "$deb"

root=${ROOT:-}
keep_root=1
if [ -z "$root" ]; then
  root=$(mktemp -d /var/tmp/labloop-check-deb.XXXXXX)
  keep_root=0
fi
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  [ "$keep_root" = 1 ] || rm -rf "$root"
}
trap cleanup EXIT

if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "check-deb: debootstrap bookworm into $root"
  debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -rf "$root/check"
mkdir -p "$root/check"
cp "$deb" "$root/check/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

echo "check-deb: install with its Depends only (--no-install-recommends)"
in_root apt-get update -q
in_root dpkg --purge labloop >/dev/null 2>&1 || true  # a kept ROOT: install afresh
in_root apt-get install -y -q --no-install-recommends "/check/$(basename "$deb")"
in_root dpkg -s labloop | sed -n '/^Version/p;/^Depends/p;/^Recommends/p'
for program in labloop labloop-sim labloop-driver-command labloop-driver-files labloop-driver-scpi; do
  if in_root ldd "/usr/bin/$program" | grep 'not found'; then echo "check-deb: $program misses libraries" >&2; exit 1; fi
done
in_root labloop --version

echo "check-deb: the quick-start (README.md) from the package: labloop run /usr/share/labloop/examples/quickstart.json"
in_root sh -c 'cd /check && labloop run /usr/share/labloop/examples/quickstart.json --output /check/runs/quickstart'
results=$(grep -c '"event":"result"' "$root/check/runs/quickstart/journal.jsonl" || true)
[ "$results" = 30 ] || { echo "check-deb: expected 30 results from the quick-start, found $results" >&2; exit 1; }
head -n 3 "$root/check/runs/quickstart/results.csv"

echo "check-deb: with the Recommends, a driver builds with find_package(labloop COMPONENTS driver)"
# shellcheck disable=SC2016  # ${Recommends} is dpkg-query's, not the shell's
recommends=$(in_root dpkg-query -W -f='${Recommends}' labloop | tr -d ',')
# shellcheck disable=SC2086  # a list of package names
in_root apt-get install -y -q --no-install-recommends $recommends
mkdir -p "$root/check/driver"
cat >"$root/check/driver/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(my_driver LANGUAGES CXX)
find_package(labloop REQUIRED COMPONENTS driver)
add_executable(my-driver /usr/share/labloop/examples/minimal_driver.cpp)
target_link_libraries(my-driver PRIVATE labloop::driver)
EOF
in_root cmake -S /check/driver -B /check/driver/build
in_root cmake --build /check/driver/build -j "$(nproc)"
cat >"$root/check/oven.json" <<'EOF'
{
  "name": "oven",
  "parameters": [
    {"name": "temperature", "type": "continuous", "low": 50, "high": 240},
    {"name": "minutes", "type": "integer", "low": 1, "high": 60}
  ],
  "objective": {"name": "yield", "goal": "maximize"},
  "planner": {"kind": "bayesian", "initial": 4},
  "instruments": [{"name": "oven", "endpoint": "ipc:///check/oven.sock"}],
  "budget": {"experiments": 8}
}
EOF
# shellcheck disable=SC2016  # expanded by the root's shell
in_root sh -c '/check/driver/build/my-driver ipc:///check/oven.sock >/check/driver.log 2>&1 & pid=$!
  labloop run /check/oven.json --output /check/runs/oven; status=$?; kill $pid; wait $pid; exit $status'
results=$(grep -c '"event":"result"' "$root/check/runs/oven/journal.jsonl" || true)
[ "$results" = 8 ] || { echo "check-deb: expected 8 results from the driver, found $results" >&2; exit 1; }
echo "check-deb: passed: the package installs on Debian 12, runs the quick-start, and builds a driver"

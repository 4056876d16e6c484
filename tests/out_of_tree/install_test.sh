#!/usr/bin/env bash
# The installed package, used from outside (ctest "install: …", cmake/Install.cmake):
#  1. `cmake --install` the build into a temporary prefix;
#  2. check that labloop::driver's link interface there names no Eigen, NLopt or libsodium;
#  3. build tests/out_of_tree/ against it: examples/minimal_driver.cpp with
#     find_package(labloop COMPONENTS driver) and labloop::driver, Eigen and NLopt made unfindable
#     (tests/out_of_tree/driver/), and with find_package(labloop) a program embedding
#     labloop::labloop through a shared library (so the static libraries must be PIC);
#  4. run a campaign with the installed `labloop` against that driver (tcp://127.0.0.1:PORT), a
#     small one on the installed labloop-sim, and a dry run in the embedding program.
# Needs the build's labloop, labloop-sim and libraries built. Removes its processes and files.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX_COMPILER [FLAGS]
#   FLAGS (e.g. "-fsanitize=address,undefined") go to the out-of-tree compile and link lines, for
#   a sanitizer build whose static libraries need the sanitizer runtimes.
set -euo pipefail
build=$1 src=$2 cmake=$3 cxx=$4 flags=${5:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/labloop-install-test.XXXXXX")
driver_pid=""
cleanup() {
  if [ -n "$driver_pid" ]; then
    kill "$driver_pid" 2>/dev/null || true
    wait "$driver_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
  echo "install_test: FAIL: $*" >&2
  for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- ${log##*/}"; tail -n 40 "$log"; }; done >&2
  exit 1
}
step() { echo "install_test: [${SECONDS}s] $*"; }

step "cmake --install $build --prefix $work/prefix"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || fail "cmake --install failed"
for f in bin/labloop bin/labloop-sim bin/labloop-driver-command bin/labloop-driver-files bin/labloop-driver-scpi include/labloop/driver.hpp include/labloop/labloop.hpp include/labloop/core/version.hpp \
         share/labloop/examples/quickstart.json share/labloop/data/README.md share/labloop/data/buchwald_a/data.csv; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
targets=$(find "$prefix" -name labloopTargets.cmake | head -n 1)
[ -n "$targets" ] || fail "no labloopTargets.cmake installed"

step "labloop::driver's link interface (${targets#"$prefix"/})"
# INTERFACE_LINK_LIBRARIES of labloop::<name>, as written in the installed targets file.
link_interface() {
  awk -v head="set_target_properties(labloop::$1 PROPERTIES" '
    index($0, head) == 1 { inside = 1; next }
    inside && /^\)/ { inside = 0 }
    inside && /INTERFACE_LINK_LIBRARIES/ { sub(/^[^"]*"/, ""); sub(/"[^"]*$/, ""); print }' "$targets"
}
closure="" seen=" driver " queue=(driver)
while [ ${#queue[@]} -gt 0 ]; do
  t=${queue[0]} queue=("${queue[@]:1}")
  libs=$(link_interface "$t")
  closure+="labloop::$t: $libs"$'\n'
  for dep in $(grep -o 'labloop::[A-Za-z_]*' <<<"$libs" || true); do
    dep=${dep#labloop::}
    case "$seen" in *" $dep "*) ;; *) seen+="$dep " queue+=("$dep") ;; esac
  done
done
printf '%s' "$closure"
grep -q cppzmq <<<"$closure" || fail "labloop::driver's link interface was not read (no cppzmq in it)"
if grep -Eiq 'eigen|nlopt|sodium' <<<"$closure"; then fail "labloop::driver's link interface names Eigen, NLopt or libsodium"; fi

step "configure and build tests/out_of_tree with find_package(labloop)"
oot=$work/oot
config_args=(-S "$src/tests/out_of_tree" -B "$oot" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx"
             -DLABLOOP_SOURCE_DIR="$src")
if [ -n "$flags" ]; then
  config_args+=(-DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags")
fi
"$cmake" "${config_args[@]}" >"$work/configure.log" 2>&1 || fail "configuring the out-of-tree project failed"
grep -q "^labloop_DIR:PATH=$prefix/" "$oot/CMakeCache.txt" || fail "find_package(labloop) did not find the temporary install"
"$cmake" --build "$oot" -j 2 >"$work/build.log" 2>&1 || fail "building the out-of-tree project failed"

step "the driver was compiled and linked without Eigen, NLopt or libsodium"
driver_compile=$(grep '"command".*minimal_driver\.cpp' "$oot/compile_commands.json") || fail "no compile command for minimal_driver.cpp"
if grep -qi eigen <<<"$driver_compile"; then fail "the driver's compile line has Eigen: $driver_compile"; fi
if grep -Eqi 'nlopt|sodium|eigen' "$oot/driver/CMakeFiles/oven-driver.dir/link.txt"; then
  fail "the driver's link line has NLopt or libsodium: $(cat "$oot/driver/CMakeFiles/oven-driver.dir/link.txt")"
fi
if command -v readelf >/dev/null && readelf -d "$oot/driver/oven-driver" | grep NEEDED | grep -Eqi 'nlopt|sodium'; then
  fail "the driver loads NLopt or libsodium"
fi

step "a campaign with the installed labloop against the out-of-tree driver"
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 30000))
  # timeout: the driver goes even if this script is killed before its cleanup runs.
  timeout 120 "$oot/driver/oven-driver" "tcp://127.0.0.1:$port" "$work/oven-cache.jsonl" >"$work/driver.log" 2>&1 &
  driver_pid=$!
  sleep 0.3
  kill -0 "$driver_pid" 2>/dev/null && break  # listening (a taken port ends it at once)
  wait "$driver_pid" || true
  driver_pid=""
done
[ -n "$driver_pid" ] || fail "the out-of-tree driver did not start"
cat >"$work/oven.json" <<EOF
{
  "name": "oven",
  "seed": 3,
  "parameters": [
    {"name": "temperature", "type": "continuous", "low": 50, "high": 240},
    {"name": "minutes", "type": "integer", "low": 1, "high": 60}
  ],
  "objective": {"name": "yield", "goal": "maximize"},
  "planner": {"kind": "bayesian", "initial": 4},
  "instruments": [{"name": "oven", "endpoint": "tcp://127.0.0.1:$port"}],
  "budget": {"experiments": 8}
}
EOF
timeout 60 "$prefix/bin/labloop" run "$work/oven.json" --output "$work/oven-run" >"$work/campaign.log" 2>&1 \
  || fail "labloop run against the out-of-tree driver failed"
results=$(grep -c '"event":"result"' "$work/oven-run/journal.jsonl" || true)
[ "$results" = 8 ] || fail "expected 8 results in the journal, found $results"
rows=$(($(wc -l <"$work/oven-run/results.csv") - 1))
[ "$rows" = 8 ] || fail "expected 8 rows in results.csv, found $rows"
[ "$(grep -c '"type":"result"' "$work/oven-cache.jsonl")" = 8 ] || fail "expected 8 results in the driver's cache"
kill "$driver_pid"
wait "$driver_pid" || true
driver_pid=""

step "a campaign on the installed labloop-sim"
sed -e 's/"bayesian"/"random"/' -e 's/"experiments": 30/"experiments": 5/' \
  "$prefix/share/labloop/examples/quickstart.json" >"$work/sim.json"
timeout 60 "$prefix/bin/labloop" run "$work/sim.json" --output "$work/sim-run" >"$work/sim.log" 2>&1 \
  || fail "labloop run on the installed labloop-sim failed"
results=$(grep -c '"event":"result"' "$work/sim-run/journal.jsonl" || true)
[ "$results" = 5 ] || fail "expected 5 results on the simulator, found $results"

step "the installed programs read the installed datasets"
# Not the source tree's: an installed labloop keeps working when the source is gone.
"$prefix/bin/labloop-sim" --help >"$work/sim-help.log" 2>&1 || true
grep -q "$prefix/share/labloop/data" "$work/sim-help.log" || fail "labloop-sim --help does not name the installed data directory"
timeout 60 "$prefix/bin/labloop" bench --datasets perovskites --seeds 1 --max 5 --planners random -o "$work/bench" >"$work/bench.log" 2>&1 \
  || fail "labloop bench on an installed dataset failed"
grep -q "perovskites: lookup table, pool of 192 rows" "$work/bench.log" || fail "labloop bench did not read the installed perovskites"

step "a dry run in the program embedding labloop::labloop"
timeout 60 "$oot/embed" "$work/oven.json" "$work/embed-run" >"$work/embed.log" 2>&1 || fail "the embedding program failed"
cat "$work/embed.log"
version=$(sed -n 's/.*kVersion = "\(.*\)".*/\1/p' "$prefix/include/labloop/core/version.hpp")
grep -q "^labloop $version: budget reached, 8 done" "$work/embed.log" || fail "unexpected output from the embedding program"

step "passed"

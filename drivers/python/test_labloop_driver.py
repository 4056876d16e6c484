#!/usr/bin/python3
"""Self-contained protocol-v1 conformance test for the Python SDK, via example_driver.py.

Starts two example drivers as subprocesses on temporary ipc endpoints and plays the controller
with a DEALER socket. Stdlib + pyzmq only; every receive has a timeout; the whole run is
bounded by a watchdog. Exit status 0 = all checks passed.

    /usr/bin/python3 drivers/python/test_labloop_driver.py
    cd drivers/python && /usr/bin/python3 -m unittest test_labloop_driver -v   # the same, as unittest cases
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Iterator, Optional

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "example_driver.py")
BRANIN_MIN = 0.397887
WATCHDOG_S = 45.0

procs: list[subprocess.Popen[bytes]] = []
failures: list[str] = []
checks = 0


def wait_until(probe: Any, timeout: float) -> Any:
    """probe()'s first truthy answer within `timeout` seconds, else its last answer."""
    until = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() >= until:
            return answer
        time.sleep(0.02)


def check(cond: bool, what: str) -> None:
    global checks
    checks += 1
    if cond:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        failures.append(what)


class Controller:
    """A minimal controller: one DEALER per driver, JSON in one frame."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, msg: dict[str, Any] | bytes) -> None:
        self.sock.send(msg if isinstance(msg, bytes) else json.dumps(msg).encode())

    def recv_frames(self, timeout: float = 3.0) -> list[bytes] | None:
        if self.sock.poll(int(timeout * 1000), zmq.POLLIN):
            return self.sock.recv_multipart()
        return None

    def recv(self, timeout: float = 3.0) -> dict[str, Any] | None:
        frames = self.recv_frames(timeout)
        if frames is None:
            return None
        assert len(frames) == 1, f"expected one frame, got {frames!r}"
        msg = json.loads(frames[0])
        assert isinstance(msg, dict) and msg.get("v") == 1, f"bad reply {msg!r}"
        return msg

    def ask(self, msg: dict[str, Any] | bytes, timeout: float = 3.0) -> dict[str, Any]:
        self.send(msg)
        reply = self.recv(timeout)
        return reply if reply is not None else {"type": "<timeout>"}


def start_driver(tmp: str, name: str, *args: str) -> tuple[subprocess.Popen[bytes], str, str]:
    endpoint = f"ipc://{tmp}/{name}.ipc"
    log_path = os.path.join(tmp, f"{name}.log")
    log = open(log_path, "wb")  # a file, not a pipe: the driver can never block on stderr
    proc = subprocess.Popen([sys.executable, "-B", EXAMPLE, "--endpoint", endpoint, *args],
                            stdout=subprocess.DEVNULL, stderr=log)
    procs.append(proc)
    return proc, endpoint, log_path


def wait_banner(proc: subprocess.Popen[bytes], log_path: str, endpoint: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    want = f"example_driver: serving on {endpoint}"
    while time.monotonic() < deadline:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            if want in f.read().splitlines():
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def run_exp(c: Controller, exp: str, x1: float, x2: float) -> tuple[dict[str, Any], dict[str, Any] | None]:
    acc = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"x1": x1, "x2": x2}})
    return acc, c.recv(5.0) if acc.get("type") == "accepted" else None



def quick_driver_class(ld: Any) -> type:
    """A driver of x in [0, 1] that answers y = x at once, one run at a time (exclusive-control tests)."""

    class Quick(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "quick", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 1}

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            return {"y": params["x"]}

    return Quick

def test_fast_driver(c: Controller) -> None:
    print("driver A (delay 0, capacity 1)")
    w = c.ask({"v": 1, "type": "hello", "controller": "labloop-test 0.1.0", "campaign": "t"})
    check(w.get("type") == "welcome", "hello -> welcome")
    check(isinstance(w.get("driver"), str) and isinstance(w.get("version"), str), "welcome has driver and version")
    inputs = {i["name"]: i for i in w.get("inputs", [])}
    check(inputs.get("x1", {}).get("type") == "continuous" and (inputs["x1"]["low"], inputs["x1"]["high"]) == (-5, 10),
          "welcome input x1 continuous [-5, 10]")
    check(inputs.get("x2", {}).get("type") == "continuous" and (inputs["x2"]["low"], inputs["x2"]["high"]) == (0, 15),
          "welcome input x2 continuous [0, 15]")
    check(w.get("outputs") == ["y"] and w.get("capacity") == 1, "welcome outputs [y], capacity 1")

    acc, res = run_exp(c, "a-0001", -math.pi, 12.275)
    check(acc.get("type") == "accepted" and acc.get("experiment") == "a-0001", "run -> accepted")
    check(res is not None and res.get("type") == "result" and res.get("status") == "ok", "then result ok")
    y = (res or {}).get("values", {}).get("y")
    check(isinstance(y, float) and abs(y - BRANIN_MIN) < 1e-5, f"Branin(-pi, 12.275) = {y} ~ {BRANIN_MIN}")
    check((res or {}).get("meta", {}).get("run_seq") == 1, "meta.run_seq == 1 for the first run")

    again = c.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x1": -math.pi, "x2": 12.275}})
    check(again == res, "repeat run of a finished id -> identical cached result, no accepted")
    check(c.recv(0.3) is None, "nothing else follows the cached result")
    # Another campaign reusing the id (or a stray client) asks for other params: never the
    # cached result of a different experiment, and nothing runs.
    r = c.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x1": 5.0, "x2": 5.0}})
    check(r.get("type") == "rejected" and r.get("experiment") == "a-0001"
          and str(r.get("reason", "")).startswith("conflict"), f"finished id + other params -> rejected conflict ({r.get('reason')!r})")
    check(c.recv(0.3) is None, "nothing else follows the conflict")
    # Params are checked against the limits before the cache is asked: invalid ones are refused
    # for what is wrong with them, as they would be without a cache.
    r = c.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x2": 12.275}})
    check(r.get("type") == "rejected" and r.get("reason") == "missing input x1", f"finished id + missing input -> rejected ({r})")
    r = c.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x1": -40, "x2": 12.275}})
    check(r.get("type") == "rejected" and "outside limits" in str(r.get("reason")), f"finished id + params out of limits -> rejected ({r})")
    check(c.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x2": 12.275, "x1": -math.pi}}) == res,
          "finished id + the same params (other key order) -> the cached result")
    # A peer that never ran a-0001 can neither abort it nor fetch its result through abort.
    stranger = Controller(c.sock.context, c.sock.getsockopt_string(zmq.LAST_ENDPOINT))
    r = stranger.ask({"v": 1, "type": "abort", "experiment": "a-0001"})
    check(r.get("type") == "error" and r.get("code") == "unknown_experiment" and r.get("experiment") == "a-0001"
          and "result" not in json.dumps(r), "abort of a finished id from another peer -> unknown_experiment, no result")
    check(c.ask({"v": 1, "type": "abort", "experiment": "a-0001"}) == res, "abort of a finished id from its owner -> cached result")
    # Once the stranger re-sends the matching run it owns the experiment (a restarted controller).
    check(stranger.ask({"v": 1, "type": "run", "experiment": "a-0001", "params": {"x1": -math.pi, "x2": 12.275}}) == res,
          "another peer's matching run -> the cached result")
    check(stranger.ask({"v": 1, "type": "abort", "experiment": "a-0001"}) == res, "... and it is then the owner")
    stranger.sock.close()
    _, res2 = run_exp(c, "a-0002", 0.0, 0.0)
    check((res2 or {}).get("meta", {}).get("run_seq") == 2, "next new id is only the 2nd run (repeats did not run)")

    def reason(params: dict[str, Any], exp: str = "a-bad") -> str | None:
        r = c.ask({"v": 1, "type": "run", "experiment": exp, "params": params})
        return r.get("reason") if r.get("type") == "rejected" and r.get("experiment") == exp else None

    r = reason({"x1": 12, "x2": 3})
    check(r is not None and "x1" in r and "limits" in r, f"x1=12 -> rejected ({r!r})")
    check(reason({"x1": 1}) is not None, "missing input -> rejected")
    check(reason({"x1": 1, "x2": 1, "x3": 1}) == 'unknown input "x3"', "unknown input -> rejected, named")
    # A name filling a whole 1 MiB message was repeated in full: a reply over the 1 MiB limit.
    long_name = "k" * ((1 << 20) - 60)
    c.send(json.dumps({"v": 1, "type": "run", "experiment": "a-long", "params": {long_name: 1}}, separators=(",", ":")).encode())
    frames = c.recv_frames() or [b"{}"]
    r = json.loads(frames[-1])
    check(r.get("type") == "rejected" and str(r.get("reason")).startswith('unknown input "kkk') and len(r["reason"]) <= 80 + 14
          and len(frames[-1]) < 4096, f"an unknown input's 1 MiB name -> rejected, the name shortened ({len(frames[-1])} bytes)")
    check(reason({"x1": "1", "x2": 1}) is not None, "string for a number -> rejected")
    check(reason({"x1": True, "x2": 1}) is not None, "boolean for a number -> rejected")
    check(reason({"x1": 1, "x2": -0.001}) is not None, "x2 below low -> rejected")
    acc, res = run_exp(c, "a-bad", 10, 15)  # the same id that was rejected, now valid: evaluated afresh
    check(acc.get("type") == "accepted" and (res or {}).get("status") == "ok", "rejected id re-sent with valid params -> runs")
    acc, res = run_exp(c, "a-edge", -5, 0)
    check(acc.get("type") == "accepted", "limits are inclusive (x1=-5, x2=0 accepted)")

    p = c.ask({"v": 1, "type": "ping"})
    check(p.get("type") == "pong" and p.get("running") == [], "ping -> pong, running []")
    p = c.ask({"v": 1, "type": "ping", "future_field": {"anything": [1, 2]}})
    check(p.get("type") == "pong", "unknown extra fields are ignored")

    def code(msg: dict[str, Any] | bytes) -> str | None:
        r = c.ask(msg)
        return r.get("code") if r.get("type") == "error" and isinstance(r.get("message"), str) else None

    check(code(b"\xff\xfe garbage \x00") == "bad_json", "garbage bytes -> error bad_json")
    check(code(b"\xef\xbb\xbf" + json.dumps({"v": 1, "type": "ping"}).encode()) == "bad_json",
          "a byte-order mark before the JSON -> error bad_json")
    check(code(b'{"v":1,"type":"ping","type":"pong"}') == "bad_json", "a key twice in one object -> error bad_json")
    # docs/protocol.md section 2: byte-order mark before depth, as the C++ SDK (it answered too_deep).
    check(code(b"\xef\xbb\xbf" + b"[" * 70 + b"]" * 70) == "bad_json", "a byte-order mark and 70 levels -> bad_json, not too_deep")
    check(code(b'{"v":1,"type":"ping","x":{"y":1},"z":[{"y":2},{"y":3}]}') is None, "one key in several objects is no repeat")
    t0 = time.monotonic()
    check(code(b"[" * 100_000) == "too_deep", f"100,000 '[' -> error too_deep ({time.monotonic() - t0:.2f} s)")
    check(code(b'{"v":1,"type":"ping","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}") == "too_deep",
          "a deep but balanced member -> error too_deep")

    def nested(levels: int) -> bytes:  # a ping whose extra member makes `levels` levels in all
        return b'{"v":1,"type":"ping","x":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
    check(code(nested(65)) == "too_deep", "65 levels -> error too_deep")
    check(c.ask(nested(64)).get("type") == "pong", "64 levels -> answered")
    check(c.ask(b'{"v":1,"type":"ping","x":"' + b"[" * 1000 + b'"}').get("type") == "pong",
          "brackets inside a string are not nesting")
    check(code(b"[1, 2, 3]") == "bad_json", "JSON array -> error bad_json")
    check(code(b'{"v": 1, "type": "ping"') == "bad_json", "truncated JSON -> error bad_json")
    check(code({"type": "ping"}) == "bad_version", "missing v -> error bad_version")
    check(code({"v": 2, "type": "ping"}) == "bad_version", "v = 2 -> error bad_version")
    check(code({"v": "1", "type": "ping"}) == "bad_version", "v = \"1\" -> error bad_version")
    check(code({"v": 1, "type": "frobnicate"}) == "unknown_type", "unknown type -> error unknown_type")
    check(code({"v": 1}) == "bad_message", "missing type -> error bad_message")
    check(code({"v": 1, "type": "run", "params": {"x1": 0, "x2": 0}}) == "bad_message", "run without experiment -> bad_message")
    check(code({"v": 1, "type": "run", "experiment": "x" * 129, "params": {}}) == "bad_message", "129-char id -> bad_message")
    r = c.ask({"v": 1, "type": "run", "experiment": "a-np", "params": [1, 2]})
    check(r.get("type") == "error" and r.get("code") == "bad_message" and r.get("experiment") == "a-np",
          "run with non-object params -> bad_message carrying the experiment id")
    check(code(b'{"v":1,"type":"ping","pad":"' + b"x" * (1 << 20) + b'"}') == "too_large", "> 1 MiB -> error too_large")
    # Beyond 16 MiB the frame is not read at all: ZeroMQ drops the connection (as the C++ SDK's).
    giant = Controller(c.sock.context, c.sock.getsockopt_string(zmq.LAST_ENDPOINT))
    giant.send(b'{"v":1,"type":"ping","pad":"' + b"x" * (16 << 20) + b'"}')
    check(giant.recv(1.0) is None, "a frame over 16 MiB is not answered (its connection is dropped)")
    giant.sock.close()
    check(c.ask({"v": 1, "type": "ping"}).get("type") == "pong", "... and others are still served")
    r = c.ask({"v": 1, "type": "abort", "experiment": "never-seen"})
    check(r.get("type") == "error" and r.get("code") == "unknown_experiment" and r.get("experiment") == "never-seen",
          "abort of an unknown id -> error unknown_experiment")
    c.send({"v": 1, "type": "error", "code": "bad_message", "message": "controller complains"})
    check(c.recv(0.3) is None, "an error from the controller is not answered")

    # "\ud800" is a legal JSON escape that Python decodes to a str UTF-8 cannot encode: echoing it
    # in a reply once killed the driver. Refused like the C++ SDK does, before anything runs.
    for raw in (b'{"v":1,"type":"run","experiment":"e\\ud800","params":{"x1":0,"x2":0}}',
                b'{"v":1,"type":"x\\udc00"}', b'{"v":"\\ud800"}', b'{"v":1,"type":"abort","experiment":"\\ud800"}',
                b'{"v":1,"type":"run","experiment":"ok-1","params":{"\\ud800":1}}',
                b'{"v":1,"type":"run","experiment":"ok-1","params":{"x1":"\\ud800","x2":0}}',
                b'{"v":1,"type":"ping","deep":[{"a":["\\udfff"]}]}'):
        check(code(raw) == "bad_json", f"a lone surrogate escape -> error bad_json ({raw.decode()})")
    check(c.ask(b'{"v":1,"type":"ping","x":"\\ud83d\\ude00"}').get("type") == "pong", "a surrogate pair is a character, answered")
    check(c.ask({"v": 1, "type": "ping"}).get("running") == [], "nothing was started by a message with a lone surrogate")
    # Numbers no double holds are refused as the C++ SDK refuses them, not as a driver bug.
    huge = b"1" + b"0" * 400
    for raw, what in ((b'{"v":1,"type":"run","experiment":"a-huge","params":{"x1":' + huge + b',"x2":1}}', "a 400-digit integer"),
                      (b'{"v":1,"type":"run","experiment":"a-huge","params":{"x1":-' + huge + b',"x2":1}}', "a -400-digit integer"),
                      (b'{"v":1,"type":"run","experiment":"a-huge","params":{"x1":1e999,"x2":1}}', "1e999")):
        r = c.ask(raw)
        check(r.get("code") == "bad_json" and "too large for a double" in str(r.get("message")), f"{what} in params -> bad_json ({r})")
    check(c.ask({"v": 1, "type": "run", "experiment": "a-big", "params": {"x1": 10**20, "x2": 1}}).get("type") == "rejected",
          "a large integer a double holds is checked against the limits")
    # campaign_id is checked without exclusive control too (section 4.1).
    for campaign_id, what in (("", "an empty"), ("x" * 129, "a 129-character")):
        check(code({"v": 1, "type": "hello", "campaign_id": campaign_id}) == "bad_message", f"hello with {what} campaign_id -> bad_message")
    check(c.ask({"v": 1, "type": "hello", "campaign_id": "x" * 128}).get("type") == "welcome", "a 128-character campaign_id is welcome")

    # REQ-style envelope: an empty delimiter frame before the payload is echoed back.
    c.sock.send_multipart([b"", json.dumps({"v": 1, "type": "ping"}).encode()])
    frames = c.recv_frames()
    check(frames is not None and len(frames) == 2 and frames[0] == b"" and json.loads(frames[1]).get("type") == "pong",
          "empty delimiter frame is tolerated and echoed")

    w = c.ask({"v": 1, "type": "hello"})
    check(w.get("type") == "welcome", "driver still serving after all malformed input")


def test_slow_driver(c: Controller) -> None:
    print("driver B (delay 2, capacity 1)")
    acc = c.ask({"v": 1, "type": "run", "experiment": "b-0001", "params": {"x1": 1.0, "x2": 2.0}})
    check(acc.get("type") == "accepted" and acc.get("expected_s") == 2.0, "run -> accepted with expected_s 2")
    acc2 = c.ask({"v": 1, "type": "run", "experiment": "b-0001", "params": {"x1": 1.0, "x2": 2.0}})
    check(acc2 == acc, "repeat run while running -> the same accepted again")
    r = c.ask({"v": 1, "type": "run", "experiment": "b-0001", "params": {"x1": 1.0, "x2": 3.0}})
    check(r.get("type") == "rejected" and r.get("experiment") == "b-0001"
          and str(r.get("reason", "")).startswith("conflict"), f"running id + other params -> rejected conflict ({r.get('reason')!r})")
    stranger = Controller(c.sock.context, c.sock.getsockopt_string(zmq.LAST_ENDPOINT))
    r = stranger.ask({"v": 1, "type": "abort", "experiment": "b-0001"})
    check(r.get("type") == "error" and r.get("code") == "unknown_experiment" and r.get("experiment") == "b-0001",
          "abort of a running id from another peer -> unknown_experiment")
    r = stranger.ask({"v": 1, "type": "run", "experiment": "b-0001", "params": {"x1": 1.0, "x2": 2.5}})
    check(r.get("type") == "rejected" and str(r.get("reason", "")).startswith("conflict"),
          "another peer's run of the running id with other params -> conflict")
    check(stranger.recv(0.1) is None, "the stranger gets nothing else")
    time.sleep(0.3)
    p = c.ask({"v": 1, "type": "ping"})
    check(p.get("type") == "pong" and p.get("running") == ["b-0001"], "ping while running -> running [b-0001] (once)")
    prog = p.get("progress", {}).get("b-0001")
    check(prog is None or 0.0 <= prog <= 1.0, f"progress within 0..1 ({prog})")
    busy = c.ask({"v": 1, "type": "run", "experiment": "b-0002", "params": {"x1": 1.0, "x2": 2.0}})
    check(busy.get("type") == "rejected" and str(busy.get("reason", "")).startswith("busy"), "capacity full -> rejected busy")
    res = c.recv(4.0)
    check(res is not None and res.get("type") == "result" and res.get("experiment") == "b-0001"
          and res.get("status") == "ok", "result ok after the delay")
    check(abs((res or {}).get("values", {}).get("y", 0) - 21.627635) < 1e-5 and (res or {}).get("meta", {}).get("run_seq") == 1,
          "exactly one run happened (run_seq 1, Branin(1, 2) ~ 21.627635)")
    check(c.recv(0.5) is None, "no second result for the repeated run")
    check(stranger.recv(0.1) is None, "the stranger got no result")
    stranger.sock.close()

    acc = c.ask({"v": 1, "type": "run", "experiment": "b-0003", "params": {"x1": 0.0, "x2": 0.0}})
    check(acc.get("type") == "accepted", "run b-0003 -> accepted")
    time.sleep(0.3)
    t0 = time.monotonic()
    c.send({"v": 1, "type": "abort", "experiment": "b-0003"})
    res = c.recv(2.0)
    check(res is not None and res.get("type") == "result" and res.get("experiment") == "b-0003"
          and res.get("status") == "failed" and res.get("error") == "aborted",
          f"abort -> result failed 'aborted' in {time.monotonic() - t0:.2f} s")
    check(c.ask({"v": 1, "type": "abort", "experiment": "b-0003"}) == res, "abort of a finished id -> cached result")
    check(c.ask({"v": 1, "type": "run", "experiment": "b-0003", "params": {"x1": 0, "x2": 0}}) == res,
          "run of an aborted id -> cached failed result (a failed id is final)")
    p = c.ask({"v": 1, "type": "ping"})
    check(p.get("running") == [], "nothing running after the abort")

    # Clean shutdown while an experiment is running.
    c.ask({"v": 1, "type": "run", "experiment": "b-0004", "params": {"x1": 0, "x2": 0}})


def test_validate_params() -> None:
    print("validate_params (in-process)")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
    from labloop_driver import ParamError, validate_params

    inputs = [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
              {"name": "cycles", "type": "integer", "low": 1, "high": 8},
              {"name": "solvent", "type": "categorical", "choices": ["THF", "DMF"]}]

    def verdict(params: Any) -> Any:
        try:
            return validate_params(inputs, params)
        except ParamError as e:
            return f"rejected: {e}"

    ok = verdict({"x1": 1.5, "cycles": 3.0, "solvent": "THF"})
    check(ok == {"x1": 1.5, "cycles": 3, "solvent": "THF"} and isinstance(ok["cycles"], int),
          "integral 3.0 accepted for an integer input and passed on as int")
    for bad, what in (({"x1": 1, "cycles": 2.5, "solvent": "THF"}, "non-integral integer"),
                      ({"x1": 1, "cycles": 9, "solvent": "THF"}, "integer above high"),
                      ({"x1": 1, "cycles": 2, "solvent": "DCM"}, "categorical not among choices"),
                      ({"x1": 1, "cycles": 2, "solvent": 1}, "categorical of the wrong JSON type"),
                      ({"x1": float("nan"), "cycles": 2, "solvent": "THF"}, "NaN"),
                      ({"x1": 10 ** 400, "cycles": 2, "solvent": "THF"}, "an integer no double holds"),
                      ({"x1": 1, "cycles": -10 ** 400, "solvent": "THF"}, "a negative integer no double holds"),
                      ([1, 2, 3], "params not an object")):
        check(str(verdict(bad)).startswith("rejected: "), f"{what} -> {verdict(bad)!r}")


def test_discrete_inputs() -> None:
    print("discrete inputs (in-process)")
    from labloop_driver import ParamError, validate_describe, validate_params

    desc = {"driver": "d", "version": "1", "outputs": ["y"],
            "inputs": [{"name": "conc", "type": "discrete", "values": [0.153, 0.057, 0.1]}]}
    inputs = validate_describe(desc)["inputs"]
    check(inputs[0]["values"] == [0.057, 0.1, 0.153], "discrete levels sorted ascending by validate_describe")
    for values, what in (([], "no levels"), ([0.1, "a"], "a level that is not a number"),
                         ([0.1, 0.1], "a level twice"), ([float("inf")], "an infinite level"),
                         ([0.1, 0.1 + 1e-12, 0.2], "two levels the controller takes for one")):
        bad = dict(desc, inputs=[{"name": "conc", "type": "discrete", "values": values}])
        try:
            validate_describe(bad)
            check(False, f"describe with {what} refused")
        except ValueError as e:
            check("discrete input 'conc'" in str(e), f"describe with {what} refused: {e}")

    def verdict(params: Any) -> Any:
        try:
            return validate_params(inputs, params)
        except ParamError as e:
            return f"rejected: {e}"

    check(validate_describe(dict(desc, inputs=[{"name": "conc", "type": "discrete", "values": [1e-12, 2e-12]}]))["inputs"][0]["values"]
          == [1e-12, 2e-12], "tiny levels apart by their own scale accepted")
    for capacity in (0, 2147483648, True, 1.5):
        try:
            validate_describe(dict(desc, capacity=capacity))
            check(False, f"capacity {capacity!r} refused")
        except ValueError as e:
            check("'capacity' must be an integer from 1 to 2147483647" in str(e), f"capacity {capacity!r} refused: {e}")
    check(validate_describe(dict(desc, capacity=2147483647))["capacity"] == 2147483647, "the largest capacity accepted")
    check(verdict({"conc": 0.1}) == {"conc": 0.1}, "a level accepted")
    check(verdict({"conc": 0.1 + 1e-13}) == {"conc": 0.1}, "a level with a rounding error accepted as the level")
    for v in (0.12, 0.2, "0.1", float("nan")):
        got = str(verdict({"conc": v}))
        check(got.startswith("rejected: "), f"conc={v!r} refused -> {got!r}")
    check("0.057, 0.1, 0.153" in str(verdict({"conc": 0.12})), "the refusal names the levels")
    named = [{"name": "n" * 10000, "type": "continuous", "low": 0, "high": 1}]
    for params, what in (({}, "missing"), ({"n" * 10000: 2}, "outside limits"), ({"n" * 10000: 0, "u" * 10000: 0}, "unknown")):
        try:
            validate_params(named, params)
            check(False, f"{what} input refused")
        except ParamError as e:
            check(len(str(e)) <= 4096, f"a reason naming a 10,000-character input ({what}) is at most 4096 characters ({len(str(e))})")
    # Levels spanning past the largest double: the spread overflowed to infinity, and any finite
    # value was taken as its nearest level (4e307 ran at 0). The tolerance is 1e-9 of 1e308 now.
    wide = validate_describe(dict(desc, inputs=[{"name": "c", "type": "discrete", "values": [-1e308, 0, 1e308]}]))["inputs"]
    for v in (4e307, -3e307, 1e300, 2e299):
        try:
            got = validate_params(wide, {"c": v})
        except ParamError as e:
            got = f"rejected: {e}"
        check(str(got).startswith("rejected: c="), f"levels [-1e308, 0, 1e308]: c={v!r} refused -> {got!r}")
    check(validate_params(wide, {"c": 1e308 * (1 - 1e-12)}) == {"c": 1e308} and validate_params(wide, {"c": 0}) == {"c": 0}
          and validate_params(wide, {"c": 1e298}) == {"c": 0}, "... the levels themselves, within 1e-9 of 1e308, accepted")

    check(validate_describe(dict(desc, noise={"y": 2}))["noise"] == {"y": 2.0}, "a stated noise is kept")
    check("noise" not in validate_describe(desc), "no noise stated, none sent")
    for noise, what in (({"z": 1}, "an output it does not have"), ({"y": -1}, "a negative noise"),
                        ({"y": float("nan")}, "NaN"), ({"y": True}, "a boolean"), ([1], "a list")):
        try:
            validate_describe(dict(desc, noise=noise))
            check(False, f"noise with {what} refused")
        except ValueError as e:
            check("'noise'" in str(e), f"noise with {what} refused: {e}")


def test_describe_json(tmp: str) -> None:
    """describe() holding what JSON cannot send is refused at start, naming the input and field: a
    NaN in an extra field let the driver start, then every hello failed to encode its welcome
    (only a traceback in the log). With a cache, the refusal blamed results_depend_on."""
    print("describe() that JSON cannot send")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    x = {"name": "x", "type": "continuous", "low": 0, "high": 1}
    desc = {"driver": "d", "version": "1", "outputs": ["y"], "inputs": [x]}
    for spec, field, what in ((dict(x, default=float("nan")), "'default'", "NaN in an extra field"),
                              (dict(x, vendor={"gain": float("inf")}), "'vendor'", "infinity inside an extra object"),
                              (dict(x, calibrate=object()), "'calibrate'", "an object in an extra field"),
                              ({"name": "c", "type": "categorical", "choices": ["a", float("nan")]}, "'choices'", "NaN among the choices"),
                              (dict(x, unit="deg\ud800"), "'unit'", "a unit that is not valid Unicode"),
                              (dict(x, **{"note\udc00": 1}), "'note", "a field name that is not valid Unicode"),
                              ({**x, 7: "seven"}, "named 7", "a field named by a number")):
        try:
            ld.validate_describe(dict(desc, inputs=[spec]))
            check(False, f"describe with {what} refused")
        except ValueError as e:
            check(f"input '{spec['name']}'" in str(e) and field in str(e), f"describe with {what} refused, naming input and field: {e}")
    for bad, what in ((dict(desc, driver="d\ud800"), "a driver name"), (dict(desc, outputs=["y\udfff"]), "an output")):
        try:
            ld.validate_describe(bad)
            check(False, f"describe with {what} that is not valid Unicode refused")
        except ValueError as e:
            check("cannot be sent as JSON" in str(e), f"describe with {what} that is not valid Unicode refused: {e}")
    many = dict(desc, inputs=[{"name": f"c{i}", "type": "discrete", "values": [j / 7 + i for j in range(1000)]} for i in range(64)])
    try:
        ld.validate_describe(many)
        check(False, "a welcome over 1 MiB refused")
    except ValueError as e:
        check(re.search(r"the welcome would be \d+ bytes; a message is at most 1048576 bytes", str(e)) is not None,
              f"a welcome over 1 MiB (64 inputs of 1000 levels) refused, saying its size and the limit: {str(e)[:160]}")
    check(ld.validate_describe(dict(desc, inputs=[dict(x, default=0.5, vendor={"gain": [1, None, True]})]))["inputs"][0]["default"] == 0.5,
          "extra fields of plain JSON are kept")

    class Nan(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return dict(desc, inputs=[dict(x, default=float("nan"))])

    cache = os.path.join(tmp, "nan.jsonl")
    try:
        ld.serve(Nan(), f"ipc://{tmp}/nan.ipc", cache_path=cache, install_signal_handlers=False)
        check(False, "serve() refuses to start on such a describe()")
    except ValueError as e:
        check("input 'x' field 'default'" in str(e) and "results_depend_on" not in str(e),
              f"serve() with a cache refuses to start, blaming describe(), not results_depend_on: {e}")
    info = {"driver": "d", "inputs": [dict(x, default=float("nan"))], "outputs": ["y"]}
    for args, blamed, innocent in (((info, None), "describe()", "results_depend_on"),
                                   ((dict(info, inputs=[x]), {"gain": float("nan")}), "results_depend_on", "describe()")):
        try:
            ld._cache_stamp(*args)
            check(False, f"a cache stamp of {blamed} holding NaN refused")
        except ValueError as e:
            check(str(e).startswith(blamed) and innocent not in str(e), f"a cache stamp of {blamed} holding NaN blames it alone: {e}")


def test_persistent_cache(tmp: str, ctx: zmq.Context) -> None:
    print("result cache on disk (--cache)")
    import labloop_driver as ld
    info = ld.validate_describe({"driver": "d", "version": "1", "outputs": ["y"],
                                 "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}]})
    stamp = ld._cache_stamp(info, None)
    check(ld._cache_stamp(dict(info, version="2", capacity=4), None) == stamp, "the cache stamp ignores version and capacity")
    narrower = dict(info, inputs=[{"name": "x", "type": "continuous", "low": 0, "high": 0.5}])
    check(ld._cache_stamp(narrower, None) != stamp, "... but not the limits")
    check(ld._cache_stamp(info, {"function": "michalewicz"}) != stamp, "... nor results_depend_on")
    cache = os.path.join(tmp, "cache.jsonl")
    p1, e1, l1 = start_driver(tmp, "c1", "--cache", cache)
    check(wait_banner(p1, l1, e1), "driver C started with --cache")
    c = Controller(ctx, e1)
    _, res = run_exp(c, "c-0001", 3.0, 4.0)
    check((res or {}).get("status") == "ok", "run c-0001 ok")
    p1.send_signal(signal.SIGTERM)
    check(p1.wait(5.0) == 0, "driver C stopped")
    c.sock.close()
    p2, e2, l2 = start_driver(tmp, "c2", "--cache", cache)
    check(wait_banner(p2, l2, e2), "driver C restarted on the same cache file")
    c = Controller(ctx, e2)
    again = c.ask({"v": 1, "type": "run", "experiment": "c-0001", "params": {"x1": 3.0, "x2": 4.0}})
    check(again == res, "after a driver restart a repeated run returns the cached result")
    r = c.ask({"v": 1, "type": "run", "experiment": "c-0001", "params": {"x1": 3.0, "x2": 4.5}})
    check(r.get("type") == "rejected" and str(r.get("reason", "")).startswith("conflict"),
          "after a restart the cache still knows the params: other params -> conflict")
    with open(cache, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    check(len(lines) == 2 and lines[1].get("params") == {"x1": 3.0, "x2": 4.0}
          and {k: v for k, v in lines[1].items() if k != "params"} == res,
          "the cache file holds one line for c-0001: its result plus the params of its run")
    stamp = lines[0].get("cache_of", {})
    check(stamp.get("driver") == "labloop-example-branin" and len(stamp.get("welcome_sha256", "")) == 64,
          f"... after a first line stamping what wrote it ({lines[0]})")
    p2.send_signal(signal.SIGTERM)
    check(p2.wait(5.0) == 0, "restarted driver C stopped")
    c.sock.close()

    # A crash mid-append leaves a torn last line; the next result must still persist on its own line.
    with open(cache, "a", encoding="utf-8") as f:
        f.write('{"v":1,"type":"result","experiment":"c-00')
    p3, e3, l3 = start_driver(tmp, "c3", "--cache", cache)
    check(wait_banner(p3, l3, e3), "driver C restarted on a cache file with a torn last line")
    c = Controller(ctx, e3)
    _, res2 = run_exp(c, "c-0002", 1.0, 2.0)
    check((res2 or {}).get("status") == "ok", "run c-0002 ok after the torn line")
    p3.send_signal(signal.SIGTERM)
    check(p3.wait(5.0) == 0, "driver C stopped again")
    c.sock.close()
    p4, e4, l4 = start_driver(tmp, "c4", "--cache", cache)
    check(wait_banner(p4, l4, e4), "driver C restarted once more")
    c = Controller(ctx, e4)
    check(c.ask({"v": 1, "type": "run", "experiment": "c-0001", "params": {"x1": 3.0, "x2": 4.0}}) == res,
          "the result before the torn line is still cached")
    check(c.ask({"v": 1, "type": "run", "experiment": "c-0002", "params": {"x1": 1.0, "x2": 2.0}}) == res2,
          "the result written after the torn line was not lost")
    p4.send_signal(signal.SIGTERM)
    check(p4.wait(5.0) == 0, "driver C stopped for the last time")
    c.sock.close()

    # A cache file written before params were kept: its lines load and are answered by id alone.
    old_cache = os.path.join(tmp, "old-cache.jsonl")
    old = {"v": 1, "type": "result", "experiment": "o-0001", "status": "ok", "values": {"y": 42.0}}
    # ... beside a line as the C++ SDK writes it (keys sorted, "params" among them).
    cpp = {"experiment": "n-0001", "meta": {"duration_s": 0.1}, "params": {"x1": 1.5, "x2": 2},
           "status": "ok", "type": "result", "v": 1, "values": {"y": 43.5}}
    with open(old_cache, "w", encoding="utf-8") as f:
        f.write(json.dumps(old) + "\n" + json.dumps(cpp, separators=(",", ":")) + "\n")
    p5, e5, l5 = start_driver(tmp, "c5", "--cache", old_cache)
    check(wait_banner(p5, l5, e5), "driver C started on a cache file without params")
    c = Controller(ctx, e5)
    check(c.ask({"v": 1, "type": "run", "experiment": "o-0001", "params": {"x1": 1.0, "x2": 1.0}}) == old,
          "an old cache line (no params) is answered by id alone")
    check(c.recv(0.2) is None, "nothing runs for it")
    check(c.ask({"v": 1, "type": "run", "experiment": "n-0001", "params": {"x2": 2.0, "x1": 1.5}})
          == {k: v for k, v in cpp.items() if k != "params"}, "a C++-written line is answered for its params (without them)")
    r = c.ask({"v": 1, "type": "run", "experiment": "n-0001", "params": {"x1": 1.5, "x2": 3}})
    check(r.get("type") == "rejected" and str(r.get("reason", "")).startswith("conflict"),
          "... and other params are a conflict")
    # An earlier version's cache cannot say what wrote it: a line is answered only to a run whose
    # params pass this instrument's limits (a cache of another function answered outside them).
    r = c.ask({"v": 1, "type": "run", "experiment": "o-0001", "params": {"x1": -40.0, "x2": 1.0}})
    check(r.get("type") == "rejected" and "outside limits" in str(r.get("reason")),
          f"an old cache line is not answered to params outside the limits ({r})")
    p5.send_signal(signal.SIGTERM)
    check(p5.wait(5.0) == 0, "driver C stopped after the old cache file")
    with open(l5, encoding="utf-8", errors="replace") as f:
        check("has no stamp of what wrote it" in f.read(), "the driver logs that the old cache has no stamp")
    with open(old_cache, encoding="utf-8") as f:
        check("cache_of" not in f.read(), "an old cache file is left without a stamp (nothing is put before its lines)")

    # A cache stamped by another driver, or by this one configured otherwise, is not this
    # instrument's: the driver refuses to start, naming the file.
    for name, stamp_line, who in (("c6", {"cache_of": {"driver": "labloop-sim", "welcome_sha256": "0" * 64}}, 'driver "labloop-sim"'),
                                  ("c7", {"cache_of": {"driver": "labloop-example-branin", "welcome_sha256": "0" * 64}},
                                   "labloop-example-branin with other inputs, outputs or options")):
        foreign = os.path.join(tmp, f"{name}-cache.jsonl")
        with open(foreign, "w", encoding="utf-8") as f:
            f.write(json.dumps(stamp_line) + "\n" + json.dumps(dict(cpp, params={"x1": -4, "x2": 2})) + "\n")
        p, _, lp = start_driver(tmp, name, "--cache", foreign)
        try:
            rc = p.wait(5.0)
        except subprocess.TimeoutExpired:
            rc = None
        with open(lp, encoding="utf-8", errors="replace") as f:
            text = f.read()
        check(rc == 1 and f"result cache {foreign} was written by another configuration ({who})" in text
              and "delete this one" in text, f"a cache stamped by {who} -> the driver refuses to start ({text.strip()!r})")


def test_exclusive(tmp: str, ctx: zmq.Context) -> None:
    """Exclusive control (docs/protocol.md section 12): the policy, then serve() with two controllers."""
    print("exclusive control")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    lease = ld.HolderLease(60.0)
    check(lease.take(("A", ""), 100.0) == "taken" and lease.take(("A", ""), 130.0) == "renewed", "taken, then renewed by its holder")
    check(lease.take(("B", ""), 150.0) == "refused" and "held by campaign …" in lease.busy_message(150.0), "another is refused")
    long_id = "5f3ac2e19b7d4e0a9c1d2b3e4f5a6b7c"
    named = ld.HolderLease(60.0)
    named.take((long_id, ""), 100.0)
    check("held by campaign 5f3ac2e19b7d… since" in named.busy_message(100.0) and long_id not in named.busy_message(100.0),
          "busy names the holder by the start of its campaign id, never the whole id (a plaintext hello's credential)")
    check(not lease.admit(None, 150.0) and lease.admit(("A", ""), 150.0), "runs: only the holder's")
    check(lease.take(("B", ""), 211.0) == "taken", "an expired lease is free (60 s after the holder's last message)")
    check(lease.release(("A", ""), 212.0) == "refused" and lease.release(("B", ""), 212.0) == "released", "only the holder releases")

    endpoint = f"ipc://{tmp}/exclusive.ipc"
    cache = os.path.join(tmp, "exclusive.cache.jsonl")
    stop = threading.Event()
    bound = threading.Event()

    Quick = quick_driver_class(ld)

    def serving() -> threading.Thread:
        stop.clear()
        bound.clear()
        t = threading.Thread(target=ld.serve, args=(Quick(), endpoint),
                             kwargs={"cache_path": cache, "ready": lambda _: bound.set(), "install_signal_handlers": False,
                                     "stop_event": stop, "exclusive": True}, daemon=True)
        t.start()
        check(bound.wait(5.0), "exclusive driver serving")
        return t

    t = serving()
    a, b, old = Controller(ctx, endpoint), Controller(ctx, endpoint), Controller(ctx, endpoint)
    r = b.ask(b'{"v":1,"type":"hello","campaign_id":"\\ud800"}')
    check(r.get("type") == "error" and r.get("code") == "bad_json", f"a hello whose campaign_id has a lone surrogate -> bad_json ({r})")
    check(not os.path.exists(cache + ".holder"), "... and it took nothing: no holder file was written")
    w = a.ask({"v": 1, "type": "hello", "campaign": "a", "campaign_id": "c-aaaa"})
    check(w.get("type") == "welcome" and w.get("holder", {}).get("campaign_id") == "c-aaaa", f"A holds it ({w.get('holder')})")
    r = b.ask({"v": 1, "type": "hello", "campaign": "b", "campaign_id": "c-bbbb"})
    check(r.get("type") == "error" and r.get("code") == "busy" and "campaign c-a…" in r.get("message", ""), f"B is busy, naming A ({r})")
    r = b.ask({"v": 1, "type": "run", "experiment": "b-1", "params": {"x": 0.5}})
    check(r.get("code") == "busy" and r.get("experiment") == "b-1", "B's run is refused with busy")
    check(old.ask({"v": 1, "type": "hello"}).get("code") == "busy", "a hello without campaign_id is refused while held")
    check(run_kind(a, "a-1") == "accepted", "A's run is accepted")
    stop.set()
    t.join(5.0)
    t = serving()  # a restarted driver keeps its holder (cache_path + ".holder")
    c = Controller(ctx, endpoint)
    check(c.ask({"v": 1, "type": "hello", "campaign_id": "c-cccc"}).get("code") == "busy", "after a restart, C is still refused")
    r = c.ask({"v": 1, "type": "release", "campaign_id": "c-aaaa"})
    check(r == {"v": 1, "type": "released", "campaign_id": "c-aaaa"}, f"release -> released ({r})")
    w = c.ask({"v": 1, "type": "hello", "campaign_id": "c-cccc"})
    check(w.get("holder", {}).get("campaign_id") == "c-cccc", "once released, C takes it")
    stop.set()
    t.join(5.0)
    t = serving()  # a restart compacts the holder file to its current line
    stop.set()
    t.join(5.0)
    with open(cache + ".holder", encoding="utf-8") as f:
        lines = f.read().splitlines()
    check(len(lines) == 1 and "c-cccc" in lines[0] and "released" not in lines[0], f"holder file compacted ({lines})")
    # A holder line no SDK can name in a busy message (written by a version that took such a
    # campaign_id, or by hand) is skipped with a log line: the driver starts, the good line holds.
    with open(cache + ".holder", "a", encoding="utf-8") as f:
        f.write('{"campaign_id": "\\ud800", "key": "", "since": 1, "until": 9e99}\n')
        f.write('{"campaign_id": "c-eeee", "key": "", "since": 1e300, "until": 1e300}\n')
    t = serving()
    c = Controller(ctx, endpoint)
    check(c.ask({"v": 1, "type": "hello", "campaign_id": "c-cccc"}).get("holder", {}).get("campaign_id") == "c-cccc",
          "unreadable holder lines are skipped: the last good holder resumes")
    check(c.ask({"v": 1, "type": "hello", "campaign_id": "c-dddd"}).get("code") == "busy", "... and others are still refused")
    stop.set()
    t.join(5.0)

    # A hello/release storm appends a line per change: the file is rewritten to its current line
    # once past HOLDER_COMPACT_BYTES (made small here to keep this fast), so it stays small and a
    # restart reads the right holder; it once grew past MAX_HOLDER_FILE_BYTES and the driver refused to start.
    os.remove(cache + ".holder")
    old_compact = ld.HOLDER_COMPACT_BYTES
    ld.HOLDER_COMPACT_BYTES = 2048
    try:
        t = serving()
        storm, largest = Controller(ctx, endpoint), 0
        storm_id = "s" * 128
        for i in range(100):
            answered = storm.ask({"v": 1, "type": "hello", "campaign_id": storm_id}).get("type") == "welcome"
            answered = answered and storm.ask({"v": 1, "type": "release", "campaign_id": storm_id}).get("type") == "released"
            if not answered:
                break
            largest = max(largest, os.path.getsize(cache + ".holder"))
        check(answered and largest <= 2048 + 300, f"100 hellos and releases: the holder file stays small (at most {largest} bytes)")
        check(storm.ask({"v": 1, "type": "hello", "campaign_id": storm_id}).get("type") == "welcome", "the storm's campaign holds it last")
        check(not os.path.exists(cache + ".holder.compacting"), "... and no temporary file is left")
        stop.set()
        t.join(5.0)
    finally:
        ld.HOLDER_COMPACT_BYTES = old_compact
    t = serving()
    c = Controller(ctx, endpoint)
    r = c.ask({"v": 1, "type": "hello", "campaign_id": "c-ffff"})
    check(r.get("code") == "busy" and "campaign sssssssssss" in r.get("message", ""), f"after a restart the storm's campaign holds it ({r})")
    check(c.ask({"v": 1, "type": "hello", "campaign_id": storm_id}).get("holder", {}).get("campaign_id") == storm_id,
          "... and takes it back")
    stop.set()
    t.join(5.0)

    # The serve loop survives a reply it cannot encode (logged, not sent).
    class FakeSocket:
        def send_multipart(self, frames: list[bytes], flags: int = 0) -> None:
            raise AssertionError("nothing unencodable may reach the socket")
    try:
        ld._Server._send(ld._Server.__new__(ld._Server), FakeSocket(), [b"peer"], {"v": 1, "type": "x\ud800"})
        check(True, "an unencodable reply is logged and dropped, not raised")
    except Exception as e:
        check(False, f"an unencodable reply is logged and dropped, not raised ({e!r})")


def curve_controller(ctx: zmq.Context, endpoint: str, server_public: bytes, keys: tuple[bytes, bytes],
                     routing_id: bytes) -> Controller:
    c = Controller.__new__(Controller)
    c.sock = ctx.socket(zmq.DEALER)
    c.sock.setsockopt(zmq.LINGER, 0)
    c.sock.curve_serverkey = server_public
    c.sock.curve_publickey, c.sock.curve_secretkey = keys
    c.sock.setsockopt(zmq.ROUTING_ID, routing_id)
    c.sock.connect(endpoint)
    return c


def test_curve_identity(tmp: str, ctx: zmq.Context) -> None:
    """Section 12: the key is the one the connection authenticated with. A routing identity is the
    client's choice, so another allowed controller reusing the holder's must get neither its hold,
    nor its results, nor its experiments to abort."""
    print("CURVE: claims and experiments belong to (routing identity, key)")
    import labloop_driver as ld
    keys_dir, allowed = os.path.join(tmp, "keys"), os.path.join(tmp, "allowed")
    os.makedirs(keys_dir)
    os.makedirs(allowed)
    pairs = {name: zmq.curve_keypair() for name in ("driver", "ctl-a", "ctl-b")}
    # The keys go in the curve section, as `labloop keys new` writes them: the one reading rule.
    with open(os.path.join(keys_dir, "driver.key"), "w", encoding="ascii") as f:
        f.write(f'curve\n    public-key = "{pairs["driver"][0].decode()}"\n    secret-key = "{pairs["driver"][1].decode()}"\n')
    os.chmod(os.path.join(keys_dir, "driver.key"), 0o600)
    for name in ("ctl-a", "ctl-b"):
        with open(os.path.join(allowed, f"{name}.pub"), "w", encoding="ascii") as f:
            f.write(f'curve\n    public-key = "{pairs[name][0].decode()}"\n')

    class Slow(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "slow", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 2}

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            stop.wait(1.0)
            return {"y": params["x"]}

    for exclusive in (True, False):
        endpoint = f"ipc://{tmp}/curve-{exclusive}.ipc"
        stop, bound = threading.Event(), threading.Event()
        t = threading.Thread(target=ld.serve, args=(Slow(), endpoint),
                             kwargs={"ready": lambda _: bound.set(), "install_signal_handlers": False, "stop_event": stop,
                                     "key_path": os.path.join(keys_dir, "driver"), "allowed_keys": allowed, "exclusive": exclusive},
                             daemon=True)
        t.start()
        check(bound.wait(5.0), f"CURVE driver serving (exclusive {exclusive})")
        a = curve_controller(ctx, endpoint, pairs["driver"][0], pairs["ctl-a"], b"ctl-fixed")
        if exclusive:
            w = a.ask({"v": 1, "type": "hello", "campaign_id": "camp-a"})
            check(w.get("holder", {}).get("campaign_id") == "camp-a", f"A holds the instrument ({w})")
        check(a.ask({"v": 1, "type": "run", "experiment": "a1", "params": {"x": 0.25}}).get("type") == "accepted", "A's run a1 accepted")
        a.sock.close()
        time.sleep(0.3)  # the driver sees A's connection go, so B may take its routing identity
        b = curve_controller(ctx, endpoint, pairs["driver"][0], pairs["ctl-b"], b"ctl-fixed")
        r = b.ask({"v": 1, "type": "run", "experiment": "b1", "params": {"x": 0.5}})
        if exclusive:
            check(r.get("type") == "error" and r.get("code") == "busy", f"B, another key on A's routing identity, is refused busy ({r})")
        else:
            check(r.get("type") == "accepted", f"B's own run is served ({r})")
        r = b.ask({"v": 1, "type": "abort", "experiment": "a1"})
        check(r.get("type") == "error" and r.get("code") in ("busy", "unknown_experiment"), f"B cannot abort A's a1 ({r})")
        got = [m for m in iter(lambda: b.recv(1.0 if exclusive else 2.0), None)]
        check(all(m.get("experiment") != "a1" for m in got), f"B never receives A's result ({got})")
        a = curve_controller(ctx, endpoint, pairs["driver"][0], pairs["ctl-a"], b"ctl-a-again")
        if exclusive:
            check(a.ask({"v": 1, "type": "hello", "campaign_id": "camp-a"}).get("holder", {}).get("campaign_id") == "camp-a",
                  "A, reconnected, takes its instrument back")
        r = a.ask({"v": 1, "type": "run", "experiment": "a1", "params": {"x": 0.25}})
        check(r.get("type") == "result" and r.get("status") == "ok" and r.get("values") == {"y": 0.25},
              f"A's matching run gets its kept result ({r})")
        a.sock.close()
        b.sock.close()
        stop.set()
        t.join(5.0)


def test_key_files(tmp: str, ctx: zmq.Context) -> None:
    """Key files after an audit (docs/security.md): the C++ reading rule exactly (a CURVE key
    belongs to the curve section), a secret key where a public one belongs, a damaged secret, a
    pipe as a key or allow-list entry; and one bad value in the allow-list refuses every
    controller with a logged reason while it is there, the access check recovering once it goes."""
    print("key files: one reading rule; bad values, secrets and pipes refused; the access check survives")
    import labloop_driver as ld
    base = os.path.join(tmp, "keyfiles")
    keys_dir, allowed = os.path.join(base, "keys"), os.path.join(base, "allowed")
    os.makedirs(keys_dir)
    os.makedirs(allowed)
    pairs = {name: zmq.curve_keypair() for name in ("driver", "ctl", "other")}

    def write(path: str, text: str, mode: int = 0o644) -> str:
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def refused(fn: Any, *args: Any) -> str:
        try:
            fn(*args)
        except ld.KeyFileError as e:
            return str(e)
        except Exception as e:  # noqa: BLE001 - anything else is the defect
            return f"<not a KeyFileError: {e!r}>"
        return "<accepted>"

    a, b = pairs["ctl"][0].decode(), pairs["other"][0].decode()
    two = write(os.path.join(base, "two.pub"), f'metadata\n    name = "x"\n    public-key = "{a}"\ncurve\n    public-key = "{b}"\n')
    why = refused(ld.read_public_key, two)
    check('line 3' in why and 'in section "metadata"' in why, f"a key under metadata is refused, as the C++ reader refuses it ({why})")
    top = write(os.path.join(base, "top.pub"), f'public-key = "{a}"\n')
    check("outside any section" in refused(ld.read_public_key, top), "a key outside any section is refused")
    twice = write(os.path.join(base, "twice.pub"), f'curve\n    public-key = "{a}"\n    public-key = "{b}"\n')
    check("given twice" in refused(ld.read_public_key, twice), "a key given twice is refused")
    bare = write(os.path.join(base, "bare.pub"), "=" + a[1:] + "\n")  # '=' is a Z85 character: still a bare key
    check(refused(ld.read_public_key, bare) == "<accepted>" and ld.read_public_key(bare) == ("=" + a[1:]).encode(),
          "a bare Z85 line reads, '=' in it included")
    for lease in (0, 31536001, float("nan"), 1e300):
        try:
            ld._Server(quick_driver_class(ld)(), "inproc://lease", None, 1.0, None, exclusive=True, lease_s=lease)
            check(False, f"lease_s={lease} is refused")
        except ValueError as e:
            check("1 to 31536000 seconds" in str(e), f"lease_s={lease} is refused ({e})")
    # A result cache or holder file that is no regular file is refused at start, as the C++ SDK
    # refuses it: a pipe held the driver's start for good, /dev/zero filled the memory.
    fifo_dir = os.path.join(base, "fifo")
    os.makedirs(fifo_dir, exist_ok=True)
    os.mkfifo(os.path.join(fifo_dir, "pipe.cache"))
    os.mkfifo(os.path.join(fifo_dir, "held.cache.holder"))
    os.symlink("/dev/zero", os.path.join(fifo_dir, "zero.cache.holder"))
    for cache, words in (("pipe.cache", "result cache"), ("held.cache", "holder file"), ("zero.cache", "symbolic link")):
        try:
            ld._Server(quick_driver_class(ld)(), "inproc://fifo-" + cache, os.path.join(fifo_dir, cache), 1.0, None, exclusive=True)
            check(False, f"a cache at {cache} is refused")
        except ValueError as e:
            check(words in str(e), f"{cache}: refused at once ({e})")
    percent = write(os.path.join(base, "percent.pub"), f'curve\n    public-key = "{"%" * 40}"\n')
    check("not a 40-character Z85 key" in refused(ld.read_public_key, percent), "40 '%' is refused as no key, not a struct.error")

    d_pub, d_sec = pairs["driver"]
    key_text = f'curve\n    public-key = "{d_pub.decode()}"\n    secret-key = "{d_sec.decode()}"\n'
    driver_key = write(os.path.join(keys_dir, "driver.key"), key_text, 0o600)
    check(ld.read_key_pair(driver_key) == (d_pub, d_sec), "a key pair reads")
    leaked = write(os.path.join(base, "leaked.pub"), key_text)
    check("holds a secret key" in refused(ld.read_public_key, leaked), "a .pub holding a secret key is refused")
    damaged_secret = d_sec[:7] + (b"a" if d_sec[7:8] != b"a" else b"b") + d_sec[8:]
    damaged = write(os.path.join(base, "damaged.key"), key_text.replace(d_sec.decode(), damaged_secret.decode()), 0o600)
    check("does not give its public-key" in refused(ld.read_key_pair, damaged), "a secret that does not give its public key is refused")
    fifo = os.path.join(base, "fifo.key")
    os.mkfifo(fifo, 0o600)
    check("is a pipe" in refused(ld.read_key_pair, fifo), "a pipe as --key is refused, not waited on")
    fifo_pub = os.path.join(base, "fifo.pub")
    os.mkfifo(fifo_pub, 0o600)
    check("is a pipe" in refused(ld.read_public_keys, fifo_pub), "a pipe as --allowed is refused, not waited on")
    os.mkfifo(os.path.join(allowed, "pipe.pub"), 0o600)  # a pipe among the entries is no key file: skipped, never opened

    # An allow-list others may change lets them add their own key; a secret another user owns is
    # theirs to read (red-team report: both were used without a word).
    shared = os.path.join(base, "shared")
    os.makedirs(shared)
    os.chmod(shared, 0o755)
    shared_pub = write(os.path.join(shared, "ctl.pub"), f'curve\n    public-key = "{a}"\n')
    check(ld.read_public_keys(shared) == [a.encode()], "an allow-list its owner alone may change is read")
    os.chmod(shared, 0o1777)
    why = refused(ld.read_public_keys, shared)
    check("mode 1777" in why and "chmod go-w" in why, f"... one others may write is refused ({why})")
    os.chmod(shared, 0o755)
    os.chmod(shared_pub, 0o666)
    check("mode 0666" in refused(ld.read_public_keys, shared) and "mode 0666" in refused(ld.read_public_keys, shared_pub),
          "... and a key in it others may write, read from the directory or alone")
    check(refused(ld.read_public_key, shared_pub) == "<accepted>", "... which is still a key when not read as an allow-list")
    os.chmod(shared_pub, 0o644)
    if os.geteuid() == 0:  # only root can give a file away
        given = write(os.path.join(base, "given.key"), key_text, 0o600)
        os.chown(given, 65534, 65534)
        check("belongs to" in refused(ld.read_key_pair, given), "a secret key another user owns is refused, whatever its mode")
        os.chown(shared_pub, 65534, 65534)
        check("belongs to" in refused(ld.read_public_keys, shared), "... and so is an allow-list entry")

    write(os.path.join(allowed, "ctl.pub"), f'curve\n    public-key = "{a}"\n')
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep()
    logging.getLogger("labloop_driver").addHandler(handler)
    endpoint = f"ipc://{base}/keys.ipc"
    stop, bound = threading.Event(), threading.Event()
    t = threading.Thread(target=ld.serve, args=(quick_driver_class(ld)(), endpoint),
                         kwargs={"ready": lambda _: bound.set(), "install_signal_handlers": False, "stop_event": stop,
                                 "key_path": os.path.join(keys_dir, "driver"), "allowed_keys": allowed},
                         daemon=True)
    try:
        t.start()
        check(bound.wait(5.0), "CURVE driver serving")
        # Put in the allow-list while the driver runs (at start it would be refused at once).
        bad = write(os.path.join(allowed, "bad.pub"), f'curve\n    public-key = "{"%" * 40}"\n')
        for attempt in range(2):
            c = curve_controller(ctx, endpoint, d_pub, pairs["ctl"], f"kf-{attempt}".encode())
            r = c.ask({"v": 1, "type": "hello"}, 1.5)
            c.sock.close()
            check(r.get("type") == "<timeout>", f"handshake {attempt + 1} refused while a bad key file is in the allow-list ({r})")
        check(any("allow-list cannot be read" in line and "bad.pub" in line for line in lines),
              f"the refusal is logged with the file and why ({lines[-2:]})")
        # A flood of refused handshakes is logged at most once a second, then counted.
        time.sleep(1.1)
        before = len(lines)
        flood = [curve_controller(ctx, endpoint, d_pub, pairs["ctl"], f"flood-{i}".encode()) for i in range(30)]
        wait_until(lambda: any("allow-list cannot be read" in line for line in lines[before:]), 5.0)
        time.sleep(0.5)
        for f in flood:
            f.sock.close()
        refused = [line for line in lines[before:] if "allow-list cannot be read" in line]
        time.sleep(1.1)
        late = curve_controller(ctx, endpoint, d_pub, pairs["ctl"], b"flood-late")
        said = wait_until(lambda: [line for line in lines[before:] if "more such left out" in line], 5.0)
        late.sock.close()
        left_out = int(re.search(r"and (\d+) more such", said[0]).group(1)) if said else 0
        check(len(refused) == 1 and left_out >= 20,
              f"30 refused handshakes in half a second: one line, the next saying how many were left out ({len(refused)}, {said})")
        os.remove(bad)
        c = curve_controller(ctx, endpoint, d_pub, pairs["ctl"], b"kf-fixed")
        r = c.ask({"v": 1, "type": "hello"}, 5.0)
        c.sock.close()
        check(r.get("type") == "welcome", f"the access check recovers once the file is removed ({r})")
    finally:
        stop.set()
        t.join(5.0)
        logging.getLogger("labloop_driver").removeHandler(handler)


def test_peer_table(tmp: str, ctx: zmq.Context) -> None:
    """Exclusive control remembers only accepted claims, and evicts the least recently heard
    non-holder when full: a flood of hellos cannot make the driver forget its holder."""
    print("exclusive control: the peer table")
    import labloop_driver as ld

    Quick = quick_driver_class(ld)

    endpoint = f"ipc://{tmp}/peers.ipc"
    stop, bound = threading.Event(), threading.Event()
    t = threading.Thread(target=ld.serve, args=(Quick(), endpoint),
                         kwargs={"ready": lambda _: bound.set(), "install_signal_handlers": False, "stop_event": stop,
                                 "exclusive": True}, daemon=True)
    t.start()
    check(bound.wait(5.0), "exclusive driver serving")
    a = Controller(ctx, endpoint)
    check(a.ask({"v": 1, "type": "hello", "campaign_id": "camp-a"}).get("holder", {}).get("campaign_id") == "camp-a", "A holds it")
    t0 = time.monotonic()
    refused = 0
    for i in range(ld.MAX_PEERS + 100):  # more connections than it remembers, each refused
        other = Controller(ctx, endpoint)
        hello = {"v": 1, "type": "hello", "campaign_id": "camp-b"} if i % 2 else {"v": 1, "type": "hello"}
        refused += other.ask(hello).get("code") == "busy"
        other.sock.close()
    check(refused == ld.MAX_PEERS + 100, f"{refused} hellos from other connections refused busy ({time.monotonic() - t0:.1f} s)")
    check(run_kind(a, "a-1") == "accepted", "the holder is still known after the flood: its run is accepted")

    # Full of accepted claims: the least recently heard one not holding the instrument goes first,
    # even when a holder's connection was heard less recently.
    old_max, ld.MAX_PEERS = ld.MAX_PEERS, 3
    try:
        def hello(c: Controller, campaign: str) -> str:
            return str(c.ask({"v": 1, "type": "hello", "campaign_id": campaign}).get("type"))

        def release(c: Controller, campaign: str) -> str:
            return str(c.ask({"v": 1, "type": "release", "campaign_id": campaign}).get("type"))

        a2, a3, p1 = Controller(ctx, endpoint), Controller(ctx, endpoint), Controller(ctx, endpoint)
        check(hello(a2, "camp-a") == "welcome" and release(a, "camp-a") == "released", "A's second connection, then A releases")
        check(hello(p1, "camp-p1") == "welcome" and release(p1, "camp-p1") == "released", "P1 takes it and releases it")
        check(hello(a, "camp-a") == "welcome", "A takes it again: the table is full (A's second, P1, A's first)")
        check(hello(a3, "camp-a") == "welcome", "A's third connection says hello")
        check(run_kind(a2, "a-2") == "accepted", "A's second connection, heard least recently, is still remembered: P1 was forgotten")
        check(run_kind(a, "a-3") == "accepted" and run_kind(a3, "a-4") == "accepted", "... and so are A's others")
    finally:
        ld.MAX_PEERS = old_max
    stop.set()
    t.join(5.0)


def test_undelivered(tmp: str, ctx: zmq.Context) -> None:
    """A reply to a controller that does not read, or a result for one that is gone, is said in
    the log (not dropped silently), and the driver keeps serving others."""
    print("undelivered replies")
    import logging
    import labloop_driver as ld

    class Slow(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "slow", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 1}

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            time.sleep(0.3)
            return {"y": params["x"]}

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    handler = Keep()
    logging.getLogger("labloop_driver").addHandler(handler)
    endpoint = f"ipc://{tmp}/undelivered.ipc"
    stop, bound = threading.Event(), threading.Event()
    t = threading.Thread(target=ld.serve, args=(Slow(), endpoint),
                         kwargs={"ready": lambda _: bound.set(), "install_signal_handlers": False, "stop_event": stop}, daemon=True)
    t.start()
    try:
        check(bound.wait(5.0), "driver serving")
        flooder = ctx.socket(zmq.DEALER)
        flooder.setsockopt(zmq.LINGER, 0)
        flooder.setsockopt(zmq.RCVHWM, 1)
        flooder.connect(endpoint)
        ping = json.dumps({"v": 1, "type": "ping"}).encode()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("queue is full" in line for line in said):
            try:
                flooder.send(ping, zmq.NOBLOCK)
            except zmq.Again:
                time.sleep(0.001)
        flooder.close()
        check(any("a reply was not delivered: its controller's queue is full (it is not reading)" in line for line in said),
              "a controller that does not read: its replies are said to be undelivered")
        leaving = Controller(ctx, endpoint)
        check(leaving.ask({"v": 1, "type": "run", "experiment": "gone-1", "params": {"x": 0.25}}).get("type") == "accepted",
              "a run accepted, then its controller goes")
        leaving.sock.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("the result of gone-1 was not delivered" in line for line in said):
            time.sleep(0.02)
        check(any("the result of gone-1 was not delivered: its controller is gone" in line for line in said),
              "its result is said to be undelivered")
        again = Controller(ctx, endpoint)
        result = again.ask({"v": 1, "type": "run", "experiment": "gone-1", "params": {"x": 0.25}})
        check(result.get("type") == "result" and result.get("values", {}).get("y") == 0.25,
              "another controller asking again gets the cached result")
    finally:
        logging.getLogger("labloop_driver").removeHandler(handler)
        stop.set()
        t.join(5.0)


@contextlib.contextmanager
def kept_log(messages: list, lines: Optional[list] = None) -> Iterator[None]:
    """The SDK's log lines at INFO and above, kept in `messages` (and formatted in `lines`) while
    in the block."""

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())
            if lines is not None:
                lines.append(logging.Formatter("%(message)s").format(record))

    handler = Keep()
    logger = logging.getLogger("labloop_driver")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextlib.contextmanager
def served(ld: Any, driver: Any, endpoint: str, ctx: zmq.Context,
           **options: Any) -> Iterator[tuple[threading.Thread, threading.Event, Controller]]:
    """serve() in a thread of this process, started and bound, and a controller connected to it,
    while in the block: set the event to stop it earlier. Both end with the block."""
    stop, bound = threading.Event(), threading.Event()
    t = threading.Thread(target=ld.serve, args=(driver, endpoint),
                         kwargs={"ready": lambda _: bound.set(), "install_signal_handlers": False, "stop_event": stop, **options},
                         daemon=True)
    t.start()
    check(bound.wait(5.0), f"driver {driver.describe()['driver']} serving in-process")
    c = Controller(ctx, endpoint)
    try:
        yield t, stop, c
    finally:
        c.sock.close()
        stop.set()
        t.join(5.0)


def test_worker_failures(tmp: str, ctx: zmq.Context) -> None:
    """Whatever run() raises, its experiment fails with a result, its capacity slot is freed and
    the driver goes on serving. SystemExit (sys.exit() in vendor code), KeyboardInterrupt or an
    exception whose text cannot be made once ended the worker without a result: the experiment
    stayed in every pong, every later run was rejected busy and its abort was never answered."""
    print("run() raising SystemExit, KeyboardInterrupt or an exception without text")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    from collections.abc import Mapping
    import labloop_driver as ld

    class Unsayable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text either")

    class UnsayableExit(SystemExit):
        def __repr__(self) -> str:
            raise RuntimeError("no text either")

    class Unlistable(Mapping):  # meta whose members cannot be listed
        def __getitem__(self, key: str) -> Any:
            raise KeyError(key)

        def __iter__(self) -> Any:
            raise SystemExit(4)

        def __len__(self) -> int:
            return 1

    modes = ["exit", "exit3", "interrupt", "unsayable", "unsayable-exit", "deep-meta", "meta-exit", "stop-exit", "ok"]

    class Exits(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "exits", "version": "1", "inputs": [{"name": "mode", "type": "categorical", "choices": modes}],
                    "outputs": ["y"], "capacity": 1}

        def run(self, params: dict[str, Any], stop: threading.Event) -> Any:
            mode = params["mode"]
            if mode == "exit":
                sys.exit("vendor library gave up")
            if mode == "exit3":
                sys.exit(3)
            if mode == "interrupt":
                raise KeyboardInterrupt
            if mode == "unsayable":
                raise Unsayable()
            if mode == "unsayable-exit":
                raise UnsayableExit(5)
            if mode == "deep-meta":
                deep: list[Any] = []
                for _ in range(100_000):
                    deep = [deep]
                return {"y": 1.0}, {"deep": deep}
            if mode == "meta-exit":
                return {"y": 1.0}, Unlistable()
            if mode == "stop-exit":
                stop.wait(5.0)
                sys.exit(1)
            return {"y": 2.0}

    with served(ld, Exits(), f"ipc://{tmp}/exits.ipc", ctx) as (t, stop, c):
        def outcome(exp: str, mode: str) -> dict[str, Any]:
            acc = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"mode": mode}})
            res = c.recv(3.0) if acc.get("type") == "accepted" else None
            return res if res is not None and res.get("type") == "result" and res.get("experiment") == exp else {"reply": acc}

        for i, (mode, error) in enumerate((("exit", "run() raised SystemExit('vendor library gave up')"),
                                           ("exit3", "run() raised SystemExit(3)"),
                                           ("interrupt", "run() raised KeyboardInterrupt()"),
                                           ("unsayable", "Unsayable"),
                                           ("unsayable-exit", "run() raised UnsayableExit"))):
            res = outcome(f"w-{i}", mode)
            check(res.get("status") == "failed" and res.get("error") == error, f"run() {mode} -> result failed {error!r} ({res})")
            check(c.ask({"v": 1, "type": "ping"}).get("running") == [], "... and it is no longer listed as running")
            check(outcome(f"w-{i}-next", "ok").get("status") == "ok", "... and its capacity slot is free: the next run runs")
        res = outcome("w-deep", "deep-meta")
        check(res.get("status") == "ok" and res.get("values") == {"y": 1.0} and "deep" not in res.get("meta", {}),
              f"meta nested past what json writes -> ok, meta dropped ({res})")
        res = outcome("w-meta", "meta-exit")
        check(res.get("status") == "failed" and str(res.get("error")).startswith("driver bug: no result could be made: SystemExit(4)"),
              f"meta that raises SystemExit when read -> result failed ({res})")
        check(outcome("w-meta-next", "ok").get("status") == "ok", "... and the next run runs")
        check(c.ask({"v": 1, "type": "run", "experiment": "w-stop", "params": {"mode": "stop-exit"}}).get("type") == "accepted",
              "a run that calls sys.exit() once stopped is accepted")
        c.send({"v": 1, "type": "abort", "experiment": "w-stop"})
        res = c.recv(3.0) or {}
        check(res.get("experiment") == "w-stop" and res.get("status") == "failed" and res.get("error") == "aborted",
              f"... its abort is answered: result failed 'aborted' ({res})")
        check(outcome("w-last", "ok").get("status") == "ok" and t.is_alive(), "the driver still serves after all of them")
    check(not t.is_alive(), "... and stops cleanly")


def test_experiment_goes_on(tmp: str, ctx: zmq.Context) -> None:
    """At shutdown an experiment whose run() raises ExperimentGoesOn (its instrument has taken it)
    gets no result and is not cached: "driver shutting down" had the controller run it again under
    another id while the instrument still measured it. The others still get "driver shutting
    down"; on an abort ExperimentGoesOn fails its experiment "aborted" like any exception."""
    print("ExperimentGoesOn")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    started = threading.Semaphore(0)

    class Reader(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "reader", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 2}

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            started.release()
            stop.wait(10.0)
            if params["x"] > 0.5:
                raise ld.ExperimentGoesOn("the plate is in the reader")
            raise RuntimeError("stopped")

    messages: list[str] = []
    endpoint, cache = f"ipc://{tmp}/goes-on.ipc", os.path.join(tmp, "goes-on.jsonl")
    with kept_log(messages), served(ld, Reader(), endpoint, ctx, cache_path=cache) as (t, stop, c):
        check(c.ask({"v": 1, "type": "run", "experiment": "g-abort", "params": {"x": 0.75}}).get("type") == "accepted"
              and started.acquire(timeout=3.0), "a run whose instrument goes on with it is accepted")
        res = c.ask({"v": 1, "type": "abort", "experiment": "g-abort"})
        check(res.get("experiment") == "g-abort" and res.get("status") == "failed" and res.get("error") == "aborted",
              f"... its abort -> result failed 'aborted', as for any exception ({res})")
        for exp, x in (("g-taken", 0.75), ("g-loose", 0.25)):
            check(c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"x": x}}).get("type") == "accepted"
                  and started.acquire(timeout=3.0), f"{exp} accepted and running")
        stop.set()
        t.join(5.0)
        after: list[dict[str, Any]] = []
        while (reply := c.recv(1.0)) is not None:
            after.append(reply)
        check(len(after) == 1 and after[0].get("experiment") == "g-loose" and after[0].get("error") == "driver shutting down",
              f"at shutdown only the other experiment is answered, 'driver shutting down' ({after})")
        check(any(m.startswith("g-taken is left to the instrument, which goes on with it (the plate is in the reader): not answered")
                  for m in messages), "... and the log says g-taken is left to the instrument")
        check(not any("g-taken" in m and "driver shutting down" in m for m in messages), "... not that it was shut down")
        with open(cache, encoding="utf-8") as f:
            kept = [json.loads(line).get("experiment") for line in f.read().splitlines()[1:]]
        check(kept == ["g-abort"], f"only the aborted experiment is cached, not g-taken ({kept})")
    check(not t.is_alive(), "... and serve() returned")

    # Back after the restart, the driver finds what its instrument measured for that id: run()
    # is not given the id, run_experiment() is (it could not be done before it existed).
    measured = {"g-taken": 0.875}
    asked: list[tuple[str, dict[str, Any]]] = []

    class Finder(Reader):
        def run_experiment(self, experiment: str, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            asked.append((experiment, params))
            if experiment in measured:
                return {"y": measured[experiment]}
            return super().run_experiment(experiment, params, stop)

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            return {"y": -params["x"]}

    with served(ld, Finder(), endpoint, ctx, cache_path=cache) as (t, stop, c):
        acc = c.ask({"v": 1, "type": "run", "experiment": "g-taken", "params": {"x": 0.75}})
        res = c.recv(3.0) or {}
        check(acc.get("type") == "accepted" and res.get("status") == "ok" and res.get("values") == {"y": 0.875}
              and asked == [("g-taken", {"x": 0.75})],
              f"the same run after a restart: run_experiment() gets its id and params and finds the instrument's result ({res}, {asked})")
        check(c.ask({"v": 1, "type": "run", "experiment": "g-new", "params": {"x": 0.5}}).get("type") == "accepted", "another run accepted")
        res = c.recv(3.0) or {}
        check(res.get("values") == {"y": -0.5} and asked[-1] == ("g-new", {"x": 0.5}),
              f"... and its default (super().run_experiment) calls run(params, stop) ({res})")


def test_estimate(tmp: str, ctx: zmq.Context) -> None:
    """estimate() is an optional hint: what is no dict of finite numbers >= 0 is left out of
    `accepted`, the run goes on, and each way it goes wrong is logged once. A tuple once made every
    run an `internal` error naming no experiment, and nothing ran. It runs on the socket thread, so
    a slow one delays every ping: logged, naming how long it took."""
    print("estimate() returning what is no estimate, or slowly")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    modes = {"tuple": (2.0, 10.0), "strings": {"expected_s": "2", "max_s": -1}, "huge": {"expected_s": 10**400, "max_s": 7},
             "keys": {"expected": 2.0}, "slow": {"expected_s": 1.0}, "ok": {"expected_s": 3, "max_s": 9.5}, "none": None, "raises": None}

    class Estimates(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "estimates", "version": "1",
                    "inputs": [{"name": "mode", "type": "categorical", "choices": list(modes)}], "outputs": ["y"], "capacity": 1}

        def estimate(self, params: dict[str, Any]) -> Any:
            if params["mode"] == "slow":
                time.sleep(0.7)
            if params["mode"] == "raises":
                raise ValueError(f"no estimate for run {len(messages)}")
            return modes[params["mode"]]

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            return {"y": 1.0}

    messages: list[str] = []
    lines: list[str] = []
    with kept_log(messages, lines), served(ld, Estimates(), f"ipc://{tmp}/estimates.ipc", ctx) as (t, stop, c):
        def accepted(exp: str, mode: str) -> dict[str, Any]:
            acc = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"mode": mode}})
            res = c.recv(3.0) if acc.get("type") == "accepted" else None
            return acc if (res or {}).get("status") == "ok" and res.get("experiment") == exp else {"reply": acc, "result": res}

        for mode, want in (("tuple", {}), ("strings", {}), ("huge", {"max_s": 7.0}), ("keys", {}), ("none", {}),
                           ("ok", {"expected_s": 3.0, "max_s": 9.5})):
            for i in range(2):
                acc = accepted(f"e-{mode}-{i}", mode)
                got = {k: acc[k] for k in ("expected_s", "max_s") if k in acc}
                check(acc.get("type") == "accepted" and got == want,
                      f"estimate() returning {modes[mode]!r:.40} -> accepted with {want}, and it ran ok ({acc})")
        said = [m for m in messages if m.startswith("estimate() ")]
        check(len([m for m in said if "returned tuple" not in m and "(2.0, 10.0), not a dict" in m]) == 1,
              f"... the tuple logged once for two runs, shown as returned ({said})")
        check(len([m for m in said if "expected_s='2'" in m]) == 1 and len([m for m in said if "max_s=-1" in m]) == 1
              and len([m for m in said if "expected_s=1000" in m]) == 1, f"... each unusable value once, named ({said})")
        check(len([m for m in said if "'expected'" in m and "neither expected_s nor max_s" in m]) == 1, f"... an unknown key once ({said})")
        check(not any("took" in m for m in said), "... no quick estimate is called slow")
        for i in range(2):
            check(accepted(f"e-raises-{i}", "raises").get("type") == "accepted", f"estimate() raising -> accepted, and it ran ok (run {i + 1})")
        raised = [m for m in lines if m.startswith("estimate() failed for e-raises-")]
        check(len(raised) == 2 and "Traceback" in raised[0] and raised[1].startswith("estimate() failed for e-raises-1: no estimate for run")
              and "Traceback" not in raised[1], f"... its traceback logged once, then one line a second at most ({raised})")
        check(accepted("e-slow", "slow").get("expected_s") == 1.0, "a slow estimate() still gives its estimate")
        slow = [m for m in messages if m.startswith("estimate() for e-slow took ")]
        check(len(slow) == 1 and re.match(r"estimate\(\) for e-slow took 0\.[6-9]\d s \(more than 0\.5 s\).*without talking to the instrument", slow[0])
              is not None, f"... and is logged with how long it took and what to do ({slow})")
    check(not t.is_alive(), "... and serve() returned")


def test_big_results(tmp: str, ctx: zmq.Context) -> None:
    """No result over the 1 MiB a message may be is sent or cached: the driver's meta goes first,
    then the values of outputs describe() does not declare, else the experiment fails saying why.
    60,000 undeclared values made a 2 MB result the controller discarded as too_large and sent the
    run again (the instrument measured the same setting three times); it was cached too."""
    print("results over 1 MiB")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    runs: list[str] = []
    many = [f"o{i:05d}" for i in range(40_000)]  # a welcome of ~400 kB, their values ~1.2 MB

    class Big(ld.Driver):
        def __init__(self, outputs: list[str]) -> None:
            self.outputs = outputs

        def describe(self) -> dict[str, Any]:
            return {"driver": "big", "version": "1", "outputs": self.outputs, "capacity": 1,
                    "inputs": [{"name": "mode", "type": "categorical", "choices": ["spectrum", "meta", "small", "declared"]}]}

        def run(self, params: dict[str, Any], stop: threading.Event) -> Any:
            runs.append(params["mode"])
            values = {o: 0.12345678901234567 for o in self.outputs}
            if params["mode"] == "spectrum":
                values.update({f"wavelength_{i:07d}": 0.123456789 * i for i in range(60_000)})
            if params["mode"] == "meta":
                return values, {"trace": "x" * (2 << 20)}
            return values

    messages: list[str] = []
    cache = os.path.join(tmp, "big.jsonl")
    with kept_log(messages), served(ld, Big(["y"]), f"ipc://{tmp}/big.ipc", ctx, cache_path=cache) as (t, stop, c):
        def outcome(exp: str, mode: str) -> tuple[dict[str, Any], int]:
            acc = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"mode": mode}})
            frames = c.recv_frames(5.0) if acc.get("type") == "accepted" else None
            if acc.get("type") == "result":
                frames = [json.dumps(acc).encode()]
            return (json.loads(frames[0]), len(frames[0])) if frames else ({"reply": acc}, 0)

        res, size = outcome("b-spectrum", "spectrum")
        check(res.get("status") == "ok" and res.get("values") == {"y": 0.12345678901234567} and 0 < size <= ld.MAX_MESSAGE_BYTES,
              f"run() returning 60,000 undeclared values -> ok with the declared output only, {size} bytes ({str(res)[:200]})")
        said = [m for m in messages if "b-spectrum" in m and "values of 60000 output(s) describe() does not declare dropped" in m]
        check(len(said) == 1 and "wavelength_0000000" in said[0] and "1048576 bytes (1 MiB)" in said[0],
              f"... the log says how many were dropped, which, and the limit ({said})")
        check(not any("b-spectrum: meta dropped" in m for m in messages), "... and does not blame the meta, which was the SDK's own")
        again, _ = outcome("b-spectrum", "spectrum")
        check(again == res and runs.count("spectrum") == 1, "... a repeated run is answered from the cache, not run again")
        res, size = outcome("b-meta", "meta")
        check(res.get("status") == "ok" and "trace" not in res.get("meta", {}) and 0 < size <= ld.MAX_MESSAGE_BYTES,
              f"meta of 2 MB -> ok, meta dropped ({size} bytes)")
        check(any("b-meta: meta dropped: the result is" in m and "at most 1048576 bytes" in m for m in messages), "... and said so")
    with open(cache, "rb") as f:
        longest = max(len(line) for line in f)
    check(longest < ld.MAX_MESSAGE_BYTES, f"no cached line is over 1 MiB ({longest} bytes)")

    messages.clear()
    with kept_log(messages), served(ld, Big(many), f"ipc://{tmp}/big2.ipc", ctx) as (t, stop, c):
        acc = c.ask({"v": 1, "type": "run", "experiment": "b-declared", "params": {"mode": "declared"}})
        frames = c.recv_frames(5.0) or [b"{}"]
        res = json.loads(frames[0])
        check(res.get("status") == "failed" and re.match(r"the result is \d+ bytes; a message is at most 1048576 bytes \(1 MiB",
                                                         str(res.get("error"))) is not None and len(frames[0]) < 10_000,
              f"40,000 declared outputs (1.2 MB of values) -> failed, saying the size and the limit ({str(res)[:240]})")

    # A cache an older SDK wrote holds a result over 1 MiB: skipped, so that run runs again.
    old = os.path.join(tmp, "big-old.jsonl")
    huge = {"v": 1, "type": "result", "experiment": "b-old", "status": "ok",
            "values": {"y": 1.0, **{f"w{i:07d}": 0.5 for i in range(100_000)}}, "params": {"mode": "small"}}
    with open(old, "w", encoding="utf-8") as f:
        f.write(json.dumps(huge) + "\n")
    runs.clear()
    messages.clear()
    with kept_log(messages), served(ld, Big(["y"]), f"ipc://{tmp}/big3.ipc", ctx, cache_path=old) as (t, stop, c):
        acc = c.ask({"v": 1, "type": "run", "experiment": "b-old", "params": {"mode": "small"}})
        res = c.recv(3.0) or {}
        check(acc.get("type") == "accepted" and res.get("values") == {"y": 0.12345678901234567} and runs == ["small"],
              f"a cached result over 1 MiB from an older SDK is not sent: the run runs ({acc.get('type')}, {runs})")
        check(any("skipped line 1, a result over the 1048576 bytes" in m for m in messages), "... and the log says the line was skipped")


def test_report_progress(tmp: str, ctx: zmq.Context) -> None:
    """report_progress() ignores what is no finite number, an integer no double holds as NaN: it
    once raised OverflowError for 10**400 inside run(), failing the experiment."""
    print("report_progress")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    reported, go, clamped, finish = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    class Progress(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "progress", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 1}

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            self.report_progress(0.25)
            for unusable in (10**400, -10**400, float("nan"), float("inf"), float("-inf"), "0.5", None):
                self.report_progress(unusable)  # type: ignore[arg-type]
            reported.set()
            go.wait(5.0)
            self.report_progress(7)
            self.report_progress(10**400)
            clamped.set()
            finish.wait(5.0)
            return {"y": params["x"]}

    endpoint = f"ipc://{tmp}/progress.ipc"
    with served(ld, Progress(), endpoint, ctx) as (t, stop, c):
        try:
            check(c.ask({"v": 1, "type": "run", "experiment": "p-1", "params": {"x": 0.5}}).get("type") == "accepted", "run accepted")
            check(reported.wait(3.0), "run() went on after reporting 10**400, -10**400, NaN, ±inf, a string and None")
            p = c.ask({"v": 1, "type": "ping"})
            check(p.get("running") == ["p-1"] and p.get("progress") == {"p-1": 0.25}, f"... all ignored: progress 0.25 ({p})")
            go.set()
            check(clamped.wait(3.0), "report_progress(7) then 10**400")
            p = c.ask({"v": 1, "type": "ping"})
            check(p.get("progress") == {"p-1": 1.0}, f"... 7 is clamped to 1, 10**400 ignored ({p})")
            finish.set()
            res = c.recv(3.0) or {}
            check(res.get("status") == "ok" and res.get("values") == {"y": 0.5}, f"the experiment ends ok ({res})")
        finally:
            go.set()
            finish.set()


# What a terminal acts on or reorders a line by, and a log line must not hold: C0 (line breaks
# apart), DEL, C1, bidirectional controls, line and paragraph separators.
UNSAFE_FOR_TERMINALS = "".join(map(chr, [*range(0, 10), *range(11, 32), *range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F, 0x2028, 0x2029,
                                         *range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def test_log_text(tmp: str, ctx: zmq.Context) -> None:
    """Log lines show control and bidirectional characters from peers and drivers as escapes (as
    labloop's printable()), so an experiment id or a failure text cannot retitle or clear the
    operator's terminal or reorder a line; the messages on the wire keep them."""
    print("log lines escape control and bidirectional characters")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    failure = "lamp \x1b]0;pwned\x07\x1b[2J\u202eevil"

    class Hostile(ld.Driver):
        def describe(self) -> dict[str, Any]:
            return {"driver": "hostile", "version": "1", "inputs": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
                    "outputs": ["y"], "capacity": 1}

        def estimate(self, params: dict[str, Any]) -> dict[str, float]:
            raise ValueError("estimate \x1b[2J\u2066gone")

        def run(self, params: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
            raise RuntimeError(failure)

    lines: list[str] = []
    messages: list[str] = []

    endpoint = f"ipc://{tmp}/hostile.ipc"
    exp = "a\x1b]0;owned\x07\x1b[2J\u202e\u2066\u2028\u061c\x85\tz"
    with kept_log(messages, lines), served(ld, Hostile(), endpoint, ctx) as (t, stop, c):
        stranger = Controller(ctx, endpoint)
        try:
            acc = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"x": 0.5}})
            res = c.recv(3.0) or {}
            check(acc.get("type") == "accepted" and res.get("experiment") == exp and res.get("error") == failure,
                  "on the wire the id and the failure text are as sent and said")
            r = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"x": 0.7}})
            check(r.get("type") == "rejected" and exp in str(r.get("reason")), "a conflict's reason names the id as sent")
            check(stranger.ask({"v": 1, "type": "abort", "experiment": exp}).get("code") == "unknown_experiment", "a stranger's abort is refused")
            c.ask({"v": 1, "type": "ping"})
            c.send({"v": 1, "type": "error", "code": "x\x1b[2J", "message": "\u202eboo\x07"})
            c.ask({"v": 1, "type": "ping"})  # the error is logged before this is answered
            shown = "a\\x1b]0;owned\\x07\\x1b[2J\\u202e\\u2066\\u2028\\u061c\\u0085 z"
            check(any(f"experiment {shown} failed: lamp \\x1b]0;pwned\\x07\\x1b[2J\\u202eevil" == m for m in messages),
                  "the failure is logged with the id and its text escaped")
            check(any(m.startswith(f"conflict: rejected a run of {shown} with params") for m in messages), "... and the conflict")
            check(any(m == f"ignored an abort of {shown} from a peer that did not run it" for m in messages), "... and the refused abort")
            check(any(m == "controller reported error x\\x1b[2J: \\u202eboo\\x07" for m in messages), "... and a controller's error")
            estimated = [line for line in lines if line.startswith(f"estimate() failed for {shown}")]
            check(len(estimated) == 1 and "ValueError: estimate \\x1b[2J\\u2066gone" in estimated[0] and "\nTraceback" in estimated[0],
                  f"... and an exception's traceback, its line breaks kept ({estimated})")
            unsafe = [line for line in lines if any(ch in UNSAFE_FOR_TERMINALS for ch in line)]
            check(len(lines) >= 5 and not unsafe, f"no log line holds a control or bidirectional character ({unsafe})")
            check(not any("\n" in m for m in messages), "no log message spans lines")
        finally:
            stranger.sock.close()
    check(ld._shown("\x1b]0;t\x07\x00\x7f\x85\x9f\u202a\u202e\u2066\u2069\u200e\u200f\u061c\u2028\u2029\r\n\t\ud800 é 日本 ok")
          == "\\x1b]0;t\\x07\\x00\\x7f\\u0085\\u009f\\u202a\\u202e\\u2066\\u2069\\u200e\\u200f\\u061c\\u2028\\u2029\\x0d\\n \\ud800 é 日本 ok",
          "_shown() escapes C0, DEL, C1, bidi controls, separators and lone surrogates; a tab is a space; other text is kept")
    check(ld._shown("a\x1b\nb\u202e", keep_line_breaks=True) == "a\\x1b\nb\\u202e", "... and keeps line breaks when asked")


def test_log_flood(tmp: str, ctx: zmq.Context) -> None:
    """What a peer sends is quoted in log lines cut to 200 characters, and a line a peer can make
    the driver write once per message is written at most once a second: 100 `error`s of 1 MB each
    once made 100 MB of log."""
    print("log lines a peer can flood")
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True
    import labloop_driver as ld

    messages: list[str] = []

    endpoint = f"ipc://{tmp}/flood.ipc"
    big = "x" * 500_000  # two of them fill a message
    with kept_log(messages), served(ld, quick_driver_class(ld)(), endpoint, ctx) as (t, stop, c):
        check(c.ask({"v": 1, "type": "hello", "controller": big, "campaign": {"name": big}}).get("type") == "welcome",
              "a hello naming a 500 kB controller and campaign is welcomed")
        t0 = time.monotonic()
        for _ in range(50):
            c.send({"v": 1, "type": "error", "code": big, "message": big})
        check(c.ask({"v": 1, "type": "ping"}, 10.0).get("type") == "pong", "50 errors of 1 MB each (code and message), then a ping answered")
        seconds = time.monotonic() - t0
        errors = [m for m in messages if m.startswith("controller reported error")]
        hellos = [m for m in messages if m.startswith("hello from")]
        check(1 <= len(errors) <= 1 + seconds and len(hellos) == 1,
              f"at most one line a second for the 50 errors ({len(errors)} in {seconds:.2f} s), one for the hello")
        check(max(map(len, messages)) <= 500, f"no log line quotes more than 200 characters of what a peer sent ({max(map(len, messages))})")
        time.sleep(1.05)
        c.send({"v": 1, "type": "error", "code": "bad_json", "message": "again"})
        c.ask({"v": 1, "type": "ping"})
        errors = [m for m in messages if m.startswith("controller reported error")]
        left_out = [int(m.split("(and ")[1].split(" ")[0]) for m in errors if " more such left out since the last line saying so: " in m]
        check(errors[-1].startswith("controller reported error bad_json: again (and ") and len(errors) + sum(left_out) == 51,
              f"a second later the next one says how many were left out ({errors[-1]})")


def run_kind(c: Controller, exp: str) -> str:
    r = c.ask({"v": 1, "type": "run", "experiment": exp, "params": {"x": 0.5}})
    if r.get("type") == "accepted":
        c.recv(3.0)  # its result
    return str(r.get("type"))


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="lltest-")
    ctx = zmq.Context()

    def watchdog() -> None:
        print(f"FAIL: watchdog fired after {WATCHDOG_S} s", flush=True)
        for p in procs:
            p.kill()
        os._exit(3)

    timer = threading.Timer(WATCHDOG_S, watchdog)
    timer.daemon = True
    timer.start()
    try:
        pa, ea, la = start_driver(tmp, "a")
        pb, eb, lb = start_driver(tmp, "b", "--delay", "2")
        check(wait_banner(pa, la, ea) and wait_banner(pb, lb, eb), "both drivers print 'example_driver: serving on ENDPOINT'")
        if failures:
            return 1
        ca, cb = Controller(ctx, ea), Controller(ctx, eb)
        test_fast_driver(ca)
        with open(la, encoding="utf-8", errors="replace") as f:
            log_a = f.read()
        check("conflict: rejected a run of a-0001" in log_a, "the driver logs each conflict")
        check("ignored an abort of a-0001" in log_a, "the driver logs each refused abort")
        test_slow_driver(cb)
        test_validate_params()
        test_discrete_inputs()
        test_describe_json(tmp)

        print("shutdown")
        pb.send_signal(signal.SIGTERM)
        res = cb.recv(3.0)
        check(res is not None and res.get("experiment") == "b-0004" and res.get("status") == "failed",
              f"SIGTERM while running -> result failed ({(res or {}).get('error')!r})")
        pa.send_signal(signal.SIGINT)
        for name, p in (("A", pa), ("B", pb)):
            try:
                rc = p.wait(5.0)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, f"driver {name} exits 0 after a signal (rc={rc})")
        test_persistent_cache(tmp, ctx)
        test_exclusive(tmp, ctx)
        test_curve_identity(tmp, ctx)
        test_key_files(tmp, ctx)
        test_peer_table(tmp, ctx)
        test_undelivered(tmp, ctx)
        test_worker_failures(tmp, ctx)
        test_experiment_goes_on(tmp, ctx)
        test_estimate(tmp, ctx)
        test_big_results(tmp, ctx)
        test_report_progress(tmp, ctx)
        test_log_text(tmp, ctx)
        test_log_flood(tmp, ctx)
    except Exception as e:  # an exception is a failed check, not a hang
        import traceback
        traceback.print_exc()
        failures.append(f"exception: {e}")
    finally:
        timer.cancel()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ctx.destroy(linger=0)
        if failures:
            for name in ("a", "b", "c1", "c2", "c3", "c4", "c5", "c6", "c7"):
                path = os.path.join(tmp, f"{name}.log")
                if os.path.exists(path):
                    print(f"--- driver {name} stderr ---\n" + open(path, errors="replace").read())
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{checks - len(failures)}/{checks} checks passed")
    return 1 if failures else 0


class SdkTest(unittest.TestCase):
    """For `python3 -m unittest test_labloop_driver`: the in-process checks of the worker, progress
    and log lines one case each, then the whole run as main() makes it (those again included)."""

    def setUp(self) -> None:
        global checks
        failures.clear()
        checks = 0
        self.tmp = tempfile.mkdtemp(prefix="lltest-")
        self.ctx = zmq.Context()

    def tearDown(self) -> None:
        self.ctx.destroy(linger=0)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def passes(self, test: Any) -> None:
        test(self.tmp, self.ctx)
        self.assertEqual(failures, [])

    def test_worker_failures(self) -> None:
        self.passes(test_worker_failures)

    def test_experiment_goes_on(self) -> None:
        self.passes(test_experiment_goes_on)

    def test_estimate(self) -> None:
        self.passes(test_estimate)

    def test_big_results(self) -> None:
        self.passes(test_big_results)

    def test_report_progress(self) -> None:
        self.passes(test_report_progress)

    def test_log_text(self) -> None:
        self.passes(test_log_text)

    def test_log_flood(self) -> None:
        self.passes(test_log_flood)

    def test_conformance(self) -> None:
        self.assertEqual(main(), 0, f"failed checks: {failures}")


if __name__ == "__main__":
    sys.exit(main())

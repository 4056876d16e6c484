#!/usr/bin/python3
"""A driver that misbehaves on purpose, to measure what labloop does with it (decision 0019).

usage: scripts/hostile-driver.py MODE --campaign FILE [--endpoint tcp://127.0.0.1:5611]

Writes a campaign file for MODE (random planner, Branin's box) to FILE, then serves the endpoint
until killed. Run labloop against it from another shell, e.g.:

    /usr/bin/python3 scripts/hostile-driver.py error-flood --campaign /tmp/h.json & sleep 1
    ./build/release/labloop run /tmp/h.json --output /tmp/h > /tmp/h.log 2>&1; kill %1
    wc -l /tmp/h.log /tmp/h/journal.jsonl

MODE:
  error-flood    answers a run with `accepted`, then sends `error` messages as fast as it can
                 (18 s time budget): count the console lines
  accepted-loop  the same with `accepted` for the running experiment: count the journal lines
  long-text      a 500,000-character driver name, 900,000-character rejection reasons and error
                 messages (4 experiments): the console's size
  wide-values    each result names 40,000 values never named before (10 experiments): the columns
                 of results.csv
  nan-welcome    a welcome holding NaN, as json.dumps writes it (2 s connect timeout)
  nan-result     results holding NaN (2 experiments)
Needs pyzmq (Debian's python3-zmq, for /usr/bin/python3).
"""
import argparse
import json

import zmq

INPUTS = [{"name": "x1", "type": "continuous", "low": -5, "high": 10},
          {"name": "x2", "type": "continuous", "low": 0, "high": 15}]
BUDGETS = {"error-flood": {"experiments": 3, "hours": 0.005}, "accepted-loop": {"experiments": 3, "hours": 0.005},
           "long-text": {"experiments": 4}, "wide-values": {"experiments": 10}, "nan-welcome": {"experiments": 2},
           "nan-result": {"experiments": 2}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=sorted(BUDGETS))
    ap.add_argument("--campaign", required=True)
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5611")
    a = ap.parse_args()
    instrument = {"name": "hostile", "endpoint": a.endpoint}
    if a.mode == "nan-welcome":
        instrument["connect_timeout_s"] = 2
    with open(a.campaign, "w") as f:
        json.dump({"name": "hostile", "seed": 1, "parameters": INPUTS, "objective": {"name": "y", "goal": "minimize"},
                   "planner": {"kind": "random"}, "instruments": [instrument], "budget": BUDGETS[a.mode]}, f)

    socket = zmq.Context().socket(zmq.ROUTER)
    socket.setsockopt(zmq.SNDHWM, 100000)
    socket.bind(a.endpoint)
    send = lambda envelope, m: socket.send_multipart(envelope + [json.dumps(m).encode()])  # NaN as json.dumps writes it
    peer, running, flooding, n = None, None, False, 0
    while True:
        if socket.poll(0 if flooding else 100):
            frames = socket.recv_multipart()
            envelope, m = frames[:-1], json.loads(frames[-1])
            peer, kind = envelope, m.get("type")
            if kind == "hello":
                welcome = {"v": 1, "type": "welcome", "driver": "hostile", "version": "1", "inputs": INPUTS, "outputs": ["y"], "capacity": 1}
                if a.mode == "long-text":
                    welcome["driver"] = "D" * 500000
                if a.mode == "nan-welcome":
                    welcome["noise"] = {"y": float("nan")}
                send(envelope, welcome)
            elif kind == "ping":
                send(envelope, {"v": 1, "type": "pong", "running": []})
            elif kind == "run":
                running, n = m["experiment"], n + 1
                if a.mode == "long-text":
                    send(envelope, {"v": 1, "type": "rejected", "experiment": running, "reason": "R" * 900000})
                    send(envelope, {"v": 1, "type": "error", "code": "c", "message": "M" * 900000})
                    continue
                send(envelope, {"v": 1, "type": "accepted", "experiment": running, "max_s": 3})
                values = {"y": m["params"]["x1"] + m["params"]["x2"]}
                if a.mode == "wide-values":
                    values.update({f"k{n}_{i}": i for i in range(40000)})
                if a.mode == "nan-result":
                    values["y"] = float("nan")
                if a.mode in ("wide-values", "nan-result"):
                    send(envelope, {"v": 1, "type": "result", "experiment": running, "status": "ok", "values": values})
                flooding = a.mode in ("error-flood", "accepted-loop")
        if flooding:
            m = ({"v": 1, "type": "error", "code": "x", "message": "flood"} if a.mode == "error-flood"
                 else {"v": 1, "type": "accepted", "experiment": running, "max_s": 3})
            for _ in range(100):
                try:
                    socket.send_multipart(peer + [json.dumps(m).encode()], zmq.NOBLOCK)
                except zmq.Again:
                    pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A simulated SCPI bench supply on TCP, to try labloop-driver-scpi without hardware.

    python3 fake_supply.py [PORT]          (default 5025; it listens on 127.0.0.1 only)

It drives a 4-ohm load: SOUR:VOLT <0..20>, OUTP ON|OFF, MEAS:VOLT?, MEAS:CURR?, *OPC?, SYST:ERR?,
*IDN?, *RST, *CLS, ABOR. Anything else, or a voltage past 20 V, goes to its error queue, as a
real instrument's would. One connection at a time, as many LXI instruments allow.
"""
import socket
import sys

LOAD_OHMS = 4.0


def serve(connection):
    volts, on, errors, pending = 0.0, False, [], b""
    while True:
        data = connection.recv(4096)
        if not data:
            return
        pending += data
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            line = raw.decode("ascii", "replace").strip()
            reply = None
            header = line.split(" ", 1)[0].upper()
            if header == "*IDN?":
                reply = "labloop,FakeSupply,0001,1.0"
            elif header in ("*RST", "ABOR"):
                volts, on = (0.0, False) if header == "*RST" else (volts, on)
            elif header == "*CLS":
                errors.clear()
            elif header == "*OPC?":
                reply = "1"
            elif header == "SOUR:VOLT":
                try:
                    value = float(line.split(" ", 1)[1])
                    if not 0 <= value <= 20:
                        raise ValueError
                    volts = value
                except (IndexError, ValueError):
                    errors.append('-222,"Data out of range"')
            elif header == "OUTP":
                on = line.split(" ", 1)[-1].upper() in ("ON", "1")
            elif header == "MEAS:VOLT?":
                reply = "%+.6E" % (volts if on else 0.0)
            elif header == "MEAS:CURR?":
                reply = "%+.6E" % (volts / LOAD_OHMS if on else 0.0)
            elif header == "SYST:ERR?":
                reply = errors.pop(0) if errors else '+0,"No error"'
            else:
                errors.append('-113,"Undefined header"')
            if reply is not None:
                connection.sendall((reply + "\n").encode("ascii"))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5025
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1)
    print(f"fake supply listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        connection, _ = listener.accept()
        with connection:
            try:
                serve(connection)
            except (ConnectionError, OSError):
                pass


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass

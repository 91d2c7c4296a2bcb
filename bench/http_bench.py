#!/usr/bin/env python3
"""The daemon's HTTP server under abuse, and its memory: `kamstrup run` with one built-in simulated
meter (sim:multical403, polled every 2 s), the store and `http:` on a free loopback port.

1. Waits until /metrics carries a register value, then scrapes it a few times (quiet).
2. Opens --idle TCP connections that send nothing and one slowloris client that sends a header
   byte every --trickle seconds, then scrapes /metrics --scrapes times, one every 0.5 s, each on a
   fresh connection, and reports the time to the whole answer (or the failure).
3. Closes them and scrapes again.
The daemon's Pss and USS (Private_Clean + Private_Dirty) from /proc/PID/smaps_rollup are read
after each phase (`kamstrup run` execs kamstrup-daemon in place, so the PID is the daemon's).

Python 3 stdlib only. Exits non-zero when the daemon dies or never serves a value.

Usage: bench/http_bench.py [--binary build/src/cli/kamstrup] [--idle 200] [--scrapes 10]
                           [--trickle 3]
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    v = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                v[parts[0].rstrip(":")] = int(parts[1])
    return v["Rss"], v["Pss"], v["Private_Clean"] + v["Private_Dirty"]


def scrape(port, limit=40.0):
    """Seconds to GET /metrics on a fresh connection and read the whole answer, or an error."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return None, f"{type(e).__name__}: {e}"
    took = time.monotonic() - t0
    if not data.startswith(b"HTTP/1.1 200") or b"kamstrup_register_value{" not in data:
        return None, f"unexpected answer after {took:.3f} s: {data[:60]!r}"
    return took, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/src/cli/kamstrup")
    ap.add_argument("--idle", type=int, default=200)
    ap.add_argument("--scrapes", type=int, default=10)
    ap.add_argument("--trickle", type=float, default=3.0)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="kamstrup-http-bench-")
    port = free_port()
    cfg = os.path.join(tmp, "k.yaml")
    with open(cfg, "w") as f:
        f.write(f"meters:\n  - name: heat\n    port: sim:multical403\n    interval: 2s\n"
                f"store:\n  path: {tmp}/k.db\nhttp:\n  listen: 127.0.0.1:{port}\n")
    daemon = subprocess.Popen([a.binary, "run", "--config", cfg],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "err"), "w"))
    try:
        deadline = time.monotonic() + 30
        while True:
            took, err = scrape(port, 2.0)
            if took is not None:
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                print("the daemon never served a value:", err, file=sys.stderr)
                return 1
            time.sleep(0.2)
        for _ in range(5):
            scrape(port)
        print(f"binary {a.binary}, port {port}, pid {daemon.pid}")
        rss, pss, uss = memory(daemon.pid)
        print(f"quiet:            Rss {rss} kB, Pss {pss} kB, USS {uss} kB")

        idle = []
        for _ in range(a.idle):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass  # completes in the kernel's backlog whether or not the server accepts
            idle.append(s)
        stop = threading.Event()
        trickled = [0]

        def slowloris():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                    while not stop.wait(a.trickle):
                        s.sendall(b"a")
                        trickled[0] += 1
            except OSError:
                pass

        t = threading.Thread(target=slowloris, daemon=True)
        t.start()
        time.sleep(0.5)
        times, errors = [], []
        for _ in range(a.scrapes):
            took, err = scrape(port)
            (times.append(took) if took is not None else errors.append(err))
            time.sleep(0.5)
        rss, pss, uss = memory(daemon.pid)
        stop.set()
        t.join()
        print(f"{a.idle} idle + slowloris ({trickled[0]} bytes trickled): "
              f"{len(times)} of {a.scrapes} scrapes answered")
        if times:
            print(f"  scrape time: min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
        for e in errors:
            print("  failed:", e)
        print(f"  under load:     Rss {rss} kB, Pss {pss} kB, USS {uss} kB")
        for s in idle:
            s.close()
        time.sleep(1)
        took, err = scrape(port)
        rss, pss, uss = memory(daemon.pid)
        print(f"after: scrape " + (err if took is None else f"{took * 1000:.1f} ms"))
        print(f"after:            Rss {rss} kB, Pss {pss} kB, USS {uss} kB")
        return 0 if daemon.poll() is None else 1
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

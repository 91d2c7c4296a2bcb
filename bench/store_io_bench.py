#!/usr/bin/env python3
"""Bytes the daemon writes to disk per poll (SD cards wear): `kamstrup run` polling one paced
`kamstrup simulate --tcp` meter (8 registers) with the store on a real disk, measured from the
daemon's /proc/PID/io write_bytes (bytes the process caused to be sent to the storage layer:
the page cache pages it dirtied, counted once per dirtying, so a 100-byte append to a page that
was already written back counts 4096).

Set-ups: `--outputs none` (store only) or `--outputs three` (MQTT to a real local mosquitto,
console to /dev/null, exec /bin/true: three delivery cursors, no output that itself writes
files). The counter is read once the first polls are in (start-up and schema creation are not
counted) and at the end; polls are counted from the store's seqs at those two moments. Run it long
enough for several WAL checkpoints (the default autocheckpoint is 1000 WAL pages): the script
reports how many it saw (the -wal file's write position going back to the start).

`--floor BYTES` measures no daemon at all: this script appends BYTES (a poll's WAL frames: 2 096
for one 8-register poll) to a file in DIR and fdatasyncs it once per interval, as a store that
keeps every poll on disk must at least do. What that costs in write_bytes is the floor for any
durable one-write-per-poll design on this machine's kernel and file system.

Python 3 stdlib only. Usage:
  bench/store_io_bench.py [--binary build/src/cli/kamstrup] [--outputs none|three]
                          [--interval S] [--seconds N] [--dir DIR] [--floor BYTES]
"""
import argparse
import os
import socket
import sqlite3
import urllib.request
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no write_bytes")


def polls_ok(http_port):
    # From the daemon's /metrics, not the store: a store opened with exclusive locking (the
    # default) cannot be read by another process while the daemon runs.
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return 0
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("kamstrup_polls_total{") and 'result="ok"' in line)


def last_seq(db):
    # Read-only and immutable=0: a reader that does not write (it still maps the -shm file).
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = con.execute("SELECT max(seq) FROM polls").fetchone()
        return row[0] or 0
    finally:
        con.close()


def start_simulator(binary, tmp):
    port = free_port()
    sim = subprocess.Popen([binary, "simulate", "--tcp", f"127.0.0.1:{port}", "--seed", "1"],
                           stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "sim.err"), "w"),
                           text=True)
    line = sim.stdout.readline()
    if "kamstrup simulate:" not in line:
        sim.kill()
        sys.exit(f"simulator did not start: {line!r}")
    return sim, line.split(" on ")[1].split()[0]


def start_mosquitto(tmp):
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "mosquitto.log"), "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    sys.exit("mosquitto did not start")


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def floor(args):
    """One durable append per interval, no SQLite: the cost of the write itself."""
    with tempfile.TemporaryDirectory(prefix="store-floor-", dir=args.dir) as tmp:
        fd = os.open(os.path.join(tmp, "append.bin"), os.O_RDWR | os.O_CREAT)
        me = os.getpid()
        polls, offset = 0, 0
        w0 = write_bytes(me)
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            os.pwrite(fd, b"\x5a" * args.floor, offset)
            offset += args.floor
            os.fdatasync(fd)
            polls += 1
            time.sleep(args.interval)
        w1 = write_bytes(me)
        os.close(fd)
    per = (w1 - w0) / polls
    print(f"store_io_bench --floor {args.floor}: interval {args.interval} s; window {args.seconds} s")
    print(f"  appends: {polls}; write_bytes: {w1 - w0}")
    print(f"  bytes written per append: {per:.0f} ({per / 1024:.1f} KiB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="build/src/cli/kamstrup")
    ap.add_argument("--outputs", choices=["none", "three"], default="none")
    ap.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds")
    ap.add_argument("--seconds", type=int, default=1800, help="measured window")
    ap.add_argument("--dir", default=None, help="where the store goes (a real disk, not tmpfs)")
    ap.add_argument("--floor", type=int, default=0,
                    help="no daemon: append this many bytes + fdatasync per interval")
    args = ap.parse_args()
    if args.floor:
        floor(args)
        return
    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory(prefix="store-io-", dir=args.dir) as tmp:
        procs = []
        try:
            sim, port = start_simulator(binary, tmp)
            procs.append(sim)
            db = os.path.join(tmp, "kamstrup.db")
            hport = free_port()
            cfg = f"""meters:
  - name: heat
    port: {port}
    registers: [heat_energy, volume, temp1, temp2, temp_diff, flow, power, hour_counter]
    interval: {int(args.interval * 1000)}ms
store:
  path: {db}
http:
  listen: 127.0.0.1:{hport}
"""
            if args.outputs == "three":
                mosq, mport = start_mosquitto(tmp)
                procs.append(mosq)
                cfg += f"""mqtt:
  url: mqtt://127.0.0.1:{mport}
console:
  format: json
exec:
  command: ["/bin/true"]
"""
            conf = os.path.join(tmp, "kamstrup.yaml")
            with open(conf, "w") as f:
                f.write(cfg)
            d = subprocess.Popen([binary, "run", "--config", conf], stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(tmp, "daemon.err"), "w"), cwd=tmp)
            procs.append(d)
            # Warm-up: schema created, meter identified, a few polls stored.
            deadline = time.monotonic() + 60 + 3 * args.interval
            seq0 = 0
            while time.monotonic() < deadline and d.poll() is None:
                time.sleep(1)
                seq0 = polls_ok(hport)
                if seq0 >= 2:
                    break
            if seq0 < 2:
                sys.exit("no polls stored: " + open(os.path.join(tmp, "daemon.err")).read())
            w0 = write_bytes(d.pid)
            seq0 = polls_ok(hport)
            wal = db + "-wal"

            def wal_salt():
                # The WAL header's checkpoint sequence number (bytes 12..15) moves each time a
                # checkpoint has emptied the WAL and the next commit starts it over.
                try:
                    with open(wal, "rb") as f:
                        hdr = f.read(16)
                    return int.from_bytes(hdr[12:16], "big") if len(hdr) == 16 else None
                except OSError:
                    return None

            checkpoints = 0
            last = wal_salt()
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.seconds:
                time.sleep(0.5)
                if d.poll() is not None:
                    sys.exit("daemon died: " + open(os.path.join(tmp, "daemon.err")).read())
                now = wal_salt()
                if now is not None and now != last:
                    checkpoints += 1
                    last = now
            w1 = write_bytes(d.pid)
            seq1 = polls_ok(hport)
            polls = seq1 - seq0
            stop(d)
            procs.remove(d)
            seq1 = last_seq(db)
            size = os.path.getsize(db)
            per_poll = (w1 - w0) / polls if polls else float("nan")
            print(f"store_io_bench: {binary}")
            print(f"  outputs: {args.outputs}; interval {args.interval} s; window {args.seconds} s")
            print(f"  polls stored in the window: {polls}")
            print(f"  WAL restarts (checkpoints) seen: {checkpoints}")
            print(f"  write_bytes in the window: {w1 - w0}")
            print(f"  bytes written per poll: {per_poll:.0f} ({per_poll / 1024:.1f} KiB)")
            print(f"  per day at one poll a minute: {per_poll * 1440 / 1e6:.1f} MB")
            print(f"  store file after {seq1} polls: {size} bytes ({size / max(seq1, 1):.0f} per poll)")
        finally:
            for p in procs:
                stop(p)


if __name__ == "__main__":
    main()

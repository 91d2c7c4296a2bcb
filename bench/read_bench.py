#!/usr/bin/env python3
"""Wire-efficiency benchmark: poll the default 8 registers from the paced simulator.

Starts `kamstrup simulate` on a pty (1200 baud 8N2, real byte pacing, 50 ms turnaround, no echo,
no faults), runs `kamstrup read` RUNS times, and reports per read: request frames, bytes each way
(from the simulator's request log), wall time of the whole `kamstrup read` process, the wire limit
((request + reply bytes) x 11 / 1200 s + turnaround per exchange) and the process's peak RSS.

Usage: bench/read_bench.py [--binary build/src/cli/kamstrup] [--runs 10]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BITS_PER_CHAR = 11  # 1 start + 8 data + 2 stop
BAUD = 1200
TURNAROUND_S = 0.050


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/src/cli/kamstrup")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        link = os.path.join(tmp, "meter")
        log = os.path.join(tmp, "sim.log")
        sim = subprocess.Popen(
            [args.binary, "simulate", "--pty", link, "--log", log, "--seed", "1",
             "--turnaround", str(int(TURNAROUND_S * 1000))],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = sim.stdout.readline()
            if "kamstrup simulate:" not in line:
                sys.exit(f"simulator did not start: {line!r}")
            rows = []
            for i in range(args.runs):
                before = sum(1 for _ in open(log))
                t0 = time.monotonic()
                proc = subprocess.Popen([args.binary, "read", "--port", link, "--json"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = proc.communicate()
                wall = time.monotonic() - t0
                if proc.returncode != 0:
                    sys.exit(f"read failed ({proc.returncode}): {err.decode()}")
                regs = json.loads(out)["registers"]
                entries = [json.loads(l) for l in open(log).readlines()[before:]]
                rx = [e for e in entries if e["dir"] == "rx"]
                tx = [e for e in entries if e["dir"] == "tx" and e.get("sent")]
                req_bytes = sum(e["bytes"] for e in rx)
                rep_bytes = sum(e["bytes"] for e in tx)
                limit = (req_bytes + rep_bytes) * BITS_PER_CHAR / BAUD + TURNAROUND_S * len(rx)
                rows.append(dict(frames=len(rx), req=req_bytes, rep=rep_bytes, wall=wall,
                                 limit=limit, regs=len(regs)))
            # Peak RSS of one more read: the kernel's high-water mark for that process's own
            # memory (VmHWM), sampled until it exits. (ru_maxrss from wait4 would also count the
            # copy of this Python process the child was before exec.)
            proc = subprocess.Popen([args.binary, "read", "--port", link],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            hwm_kb = 0
            while proc.poll() is None:
                try:
                    with open(f"/proc/{proc.pid}/status") as f:
                        status_text = f.read()
                    if "kamstrup" in status_text.split("\n", 1)[0]:
                        hwm_kb = max(hwm_kb, int(status_text.split("VmHWM:")[1].split()[0]))
                except (OSError, IndexError):
                    pass
                time.sleep(0.005)
            if proc.returncode != 0:
                sys.exit(f"read for the RSS measurement failed: status {proc.returncode}")
            rss_mb = hwm_kb / 1024.0
        finally:
            sim.terminate()
            sim.wait()

    wall = [r["wall"] for r in rows]
    limit = rows[0]["limit"]
    print(f"kamstrup read, default 8 registers, paced simulator 1200 8N2, {TURNAROUND_S*1000:.0f} ms turnaround, {args.runs} runs")
    print(f"  registers read         {rows[0]['regs']}")
    print(f"  request frames         {rows[0]['frames']} (every run: {sorted(set(r['frames'] for r in rows))})")
    print(f"  bytes to meter         {rows[0]['req']}")
    print(f"  bytes from meter       {rows[0]['rep']}")
    print(f"  wire limit             {limit*1000:.0f} ms")
    print(f"  wall (process) median  {statistics.median(wall)*1000:.0f} ms   min {min(wall)*1000:.0f}  max {max(wall)*1000:.0f}")
    print(f"  wall / wire limit      {statistics.median(wall)/limit:.3f} (median)   {max(wall)/limit:.3f} (max)")
    print(f"  peak RSS               {rss_mb:.1f} MB")


if __name__ == "__main__":
    main()

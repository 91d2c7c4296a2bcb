#!/usr/bin/env python3
"""Daemon benchmarks for `kamstrup run`: footprint with every output on, and a 200-meter fleet.

footprint: one paced `kamstrup simulate --tcp` meter polled every 10 s by a daemon with the store,
  the HTTP API, a jsonl file, exec (/bin/true), MQTT to a real local mosquitto, InfluxDB 1 to a real
  local influxd, and Domoticz/emoncms to a tiny local Python HTTP server. The daemon's VmRSS and
  VmHWM (/proc/PID/status), PSS and USS (/proc/PID/smaps_rollup: Pss, Private_Clean +
  Private_Dirty) and CPU time (utime+stime, /proc/PID/stat) are sampled every second.
  Reports RSS, PSS and USS at the end and their peaks, CPU seconds, average CPU % and CPU % in the
  idle windows (from 2 s after a poll's last reply byte to the next request, taken from the
  simulator's log). Targets: PSS <= 12 MB and USS <= 8 MB after 10 minutes; idle CPU ~ 0. RSS
  is reported but not judged: it counts shared library pages in full in every process that maps
  them; PSS divides them among those processes, and USS leaves them out.

fleet: `kamstrup simulate --tcp 127.0.0.1:P --count 200` (paced 1200 baud, 11 bits/byte, 50 ms
  turnaround) polled every 10 s, default 8 registers, store only. From the simulator's log: polls
  answered per meter (min/max vs seconds/10), the cycle time per 10-s tick (first request heard of
  any meter to the last reply byte of any meter) vs one meter's poll (rx -> end_mono of one
  exchange); the daemon's CPU % of one core and peak RSS.
  Targets: every poll completes, cycle <= 1.2 x one meter's poll, CPU <= 10 % of one core.

Python 3 stdlib only. Exits non-zero if the daemon fails (dies, exits non-zero on SIGTERM, or a
target meant to be checked cannot be measured).

Usage: bench/daemon_bench.py [--binary build/src/cli/kamstrup] --mode footprint|fleet
                             [--seconds N] [--meters N] [--interval S]
"""
import argparse
import getpass
import http.server
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

GET_REGISTER = 0x10  # CID of a poll's request; the others (GetType, GetSerial) identify the meter
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------- helpers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(n):
    """A base port P with P..P+n-1 all bindable on 127.0.0.1."""
    import random
    rng = random.Random(os.getpid())
    for _ in range(200):
        base = rng.randrange(20000, 60000 - n)
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    sys.exit("no free range of ports")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pss_uss(pid):
    """(Pss kB, USS kB) of pid from /proc/PID/smaps_rollup; USS = Private_Clean + Private_Dirty."""
    vals = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Pss:", "Private_Clean:", "Private_Dirty:"):
                vals[parts[0][:-1]] = int(parts[1])
    return vals["Pss"], vals["Private_Clean"] + vals["Private_Dirty"]


def proc_sample(pid):
    """(VmRSS kB, VmHWM kB, cpu seconds, Pss kB, USS kB) of pid, or None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        pss, uss = pss_uss(pid)
    except (OSError, KeyError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(status.split("VmRSS:")[1].split()[0])
    hwm = int(status.split("VmHWM:")[1].split()[0])
    return rss, hwm, cpu, pss, uss


def smaps_breakdown(pid):
    """Mappings by name, largest Rss first, from /proc/PID/smaps: (name, Rss kB, USS kB)."""
    totals = {}
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if "-" in parts[0] and not parts[0].endswith(":"):
                    name = parts[5] if len(parts) > 5 else "[anon]"
                elif parts[0] in ("Rss:", "Private_Clean:", "Private_Dirty:"):
                    rss, uss = totals.get(name, (0, 0))
                    if parts[0] == "Rss:":
                        rss += int(parts[1])
                    else:
                        uss += int(parts[1])
                    totals[name] = (rss, uss)
    except OSError:
        return []
    rows = sorted(totals.items(), key=lambda kv: -kv[1][0])
    return [(n, rss, uss) for n, (rss, uss) in rows]


def memory_detail(pid):
    """RssAnon/RssFile/RssShmem from status and Pss from smaps_rollup (kB), as a dict."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Pss:", "Private_Clean:", "Private_Dirty:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def start_simulator(binary, tmp, count, log):
    base = free_port_range(count)
    sim = subprocess.Popen(
        [binary, "simulate", "--tcp", f"127.0.0.1:{base}", "--count", str(count), "--log", log,
         "--seed", "1"],
        stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "sim.stderr"), "w"), text=True)
    ports = []
    for _ in range(count):
        line = sim.stdout.readline()
        if "kamstrup simulate:" not in line:
            sim.kill()
            sys.exit(f"simulator did not start: {line!r}; stderr: "
                     + open(os.path.join(tmp, "sim.stderr")).read())
        ports.append(line.split(" on ")[1].split()[0])
    return sim, ports


def read_sim_log(path):
    entries = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line being written at the moment we stopped
    return entries


def exchanges(entries):
    """Pair each meter's rx line with the tx line that follows it: (meter, rx_mono, tx entry)."""
    pending = {}
    out = []
    for e in entries:
        m = e["meter"]
        if e["dir"] == "rx":
            pending.setdefault(m, []).append(e)
        elif e["dir"] == "tx" and pending.get(m):
            rx = pending[m].pop(0)
            out.append((m, rx, e))
    return out


def run_daemon(binary, config, tmp, seconds, on_sample=None):
    """Runs `kamstrup run` for `seconds`, sampling once a second. Returns (samples, rc, stderr)."""
    err_path = os.path.join(tmp, "daemon.stderr")
    d = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.DEVNULL,
                         stderr=open(err_path, "w"), cwd=tmp)
    samples = []  # (mono, rss kB, hwm kB, cpu s, pss kB, uss kB)
    t0 = time.monotonic()
    next_t = t0
    died = False
    while True:
        s = proc_sample(d.pid)
        now = time.monotonic()
        if s is None or d.poll() is not None:
            died = True
            break
        samples.append((now,) + s)
        if on_sample:
            on_sample(d.pid, now - t0)
        if now - t0 >= seconds:
            break
        next_t += 1.0
        time.sleep(max(0.0, next_t - time.monotonic()))
    smaps = (smaps_breakdown(d.pid), memory_detail(d.pid)) if not died else ([], {})
    if not died:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
    rc = d.returncode
    stderr = open(err_path).read()
    if died:
        rc = rc if rc is not None else -1
        print(f"daemon died after {time.monotonic() - t0:.1f} s with status {rc}", file=sys.stderr)
        print(stderr[-4000:], file=sys.stderr)
        return samples, rc if rc != 0 else 1, stderr, smaps
    return samples, rc, stderr, smaps


def cpu_stats(samples):
    wall = samples[-1][0] - samples[0][0]
    cpu = samples[-1][3] - samples[0][3]
    return wall, cpu


def table(rows):
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip())
        if j == 0:
            print("  " + "  ".join("-" * w[i] for i in range(len(r))))


def print_memory(smaps):
    top, detail = smaps
    print("  memory at the end (kB): " + ", ".join(f"{k} {v}" for k, v in detail.items()))
    print("  largest RSS mappings at the end (kB, RSS/USS): " + ", ".join(
        f"{os.path.basename(n) or n} {rss}/{uss}" for n, rss, uss in top[:24]))
    print(f"  shared libraries mapped: {sum(1 for n, _, _ in top if '.so' in os.path.basename(n))}")


def mb(kb):
    return kb / 1024.0


# ---------------------------------------------------------------- local servers (footprint)

class OkHandler(http.server.BaseHTTPRequestHandler):
    counts = {}
    lock = threading.Lock()

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        with OkHandler.lock:
            OkHandler.counts[path] = OkHandler.counts.get(path, 0) + 1
        if path.endswith("/json.htm"):
            body, ctype = b'{"status": "OK"}', "application/json"
        else:
            body, ctype = b"ok", "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *a):
        pass


def start_mosquitto(tmp):
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                f"user {getpass.getuser()}\nlog_dest stderr\nlog_type error\n")
    p = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "mosquitto.log"), "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.05)
    sys.exit("mosquitto did not start: " + open(os.path.join(tmp, "mosquitto.log")).read())


def start_influxd(tmp):
    http_port, rpc_port = free_port(), free_port()
    d = os.path.join(tmp, "influx")
    os.makedirs(d)
    conf = os.path.join(d, "influxdb.conf")
    with open(conf, "w") as f:
        f.write(f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc_port}"\n'
                f'[meta]\n  dir = "{d}/meta"\n'
                f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
                f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{http_port}"\n'
                f'  log-enabled = false\n'
                f'[monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n'
                f'[subscriber]\n  enabled = false\n[logging]\n  level = "warn"\n')
    log = os.path.join(d, "influxd.log")
    p = subprocess.Popen(["/usr/bin/influxd", "-config", conf], stdout=open(log, "w"),
                         stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/ping", timeout=1)
            break
        except OSError:
            if p.poll() is not None:
                sys.exit("influxd exited: " + open(log).read())
            time.sleep(0.1)
    else:
        sys.exit("influxd did not answer /ping: " + open(log).read())
    req = urllib.request.Request(url + "/query?q=CREATE%20DATABASE%20kamstrup", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    return p, url


def influx_count(url):
    # Fields are named with their unit (heat_energy_mwh, ...; docs/config.md field_names), so
    # count every field and take the largest: the number of polls written.
    q = urllib.parse.quote("SELECT count(*) FROM kamstrup")
    try:
        body = json.loads(urllib.request.urlopen(f"{url}/query?db=kamstrup&q={q}", timeout=10).read())
        return max(v for v in body["results"][0]["series"][0]["values"][0][1:] if v is not None)
    except Exception:  # noqa: BLE001 - report, do not fail the benchmark on the check itself
        return 0


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------------- footprint

def footprint(args):
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="daemon-bench-") as tmp:
        procs = []
        try:
            sim_log = os.path.join(tmp, "sim.log")
            sim, ports = start_simulator(args.binary, tmp, 1, sim_log)
            procs.append(sim)
            mosq, mqtt_port = start_mosquitto(tmp)
            procs.append(mosq)
            influxd, influx_url = start_influxd(tmp)
            procs.append(influxd)
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            ok_url = f"http://127.0.0.1:{httpd.server_address[1]}"
            api_port = free_port()
            jsonl = os.path.join(tmp, "readings.jsonl")
            config = os.path.join(tmp, "kamstrup.yaml")
            with open(config, "w") as f:
                f.write(f"""meters:
  - name: heat
    port: {ports[0]}
    interval: {args.interval}s
store:
  path: {tmp}/kamstrup.db
http:
  listen: 127.0.0.1:{api_port}
files:
  - path: {jsonl}
    format: jsonl
exec:
  command: ["/bin/true"]
mqtt:
  url: mqtt://127.0.0.1:{mqtt_port}
influxdb:
  url: {influx_url}
  database: kamstrup
domoticz:
  url: {ok_url}
  devices:
    heat:
      heat_energy: 1
      volume: 2
emoncms:
  url: {ok_url}
  apikey: 0123456789abcdef
""")
            outputs_json = {}

            def grab_outputs(pid, elapsed):
                # Once, a little before the end, so the daemon is still up to answer.
                if not outputs_json and elapsed >= args.seconds - 3:
                    try:
                        outputs_json["v"] = json.loads(urllib.request.urlopen(
                            f"http://127.0.0.1:{api_port}/api/outputs", timeout=2).read())
                    except Exception as e:  # noqa: BLE001
                        outputs_json["v"] = f"error: {e}"

            samples, rc, stderr, smaps = run_daemon(args.binary, config, tmp, args.seconds,
                                                    grab_outputs)
            time.sleep(0.5)
            entries = read_sim_log(sim_log)
            n_influx = influx_count(influx_url)
            n_jsonl = sum(1 for _ in open(jsonl)) if os.path.exists(jsonl) else 0
            httpd.shutdown()
        finally:
            for p in reversed(procs):
                stop(p)
    load_after = loadavg()

    if len(samples) < 2:
        sys.exit("daemon produced no samples")
    ex = exchanges(entries)
    polls = [x for x in ex if x[1].get("cid") == GET_REGISTER]
    answered = [x for x in polls if x[2].get("sent")]
    wall, cpu = cpu_stats(samples)
    end_rss, peak_hwm = samples[-1][1], max(s[2] for s in samples)
    end_pss, peak_pss = samples[-1][4], max(s[4] for s in samples)
    end_uss, peak_uss = samples[-1][5], max(s[5] for s in samples)
    # Idle windows: sample intervals lying wholly between (a reply's end + 2 s) and the next
    # request heard (minus the request's own transmit time, 23 bytes ~ 0.21 s; use 0.5 s margin).
    busy = []
    for _, rx, tx in ex:
        start = rx["mono"] - 0.5
        end = (tx.get("end_mono") or tx["mono"]) + 2.0
        busy.append((start, end))
    idle_cpu = idle_wall = 0.0
    for a, b in zip(samples, samples[1:]):
        t0, t1 = a[0], b[0]
        if any(t0 < e and t1 > s for s, e in busy):
            continue
        # also skip the start-up window (before the first poll ended)
        if not busy or t0 < busy[0][1]:
            continue
        idle_cpu += b[3] - a[3]
        idle_wall += t1 - t0
    idle_pct = 100.0 * idle_cpu / idle_wall if idle_wall else float("nan")
    mem_ok = mb(end_pss) <= 12.0 and mb(end_uss) <= 8.0
    idle_ok = idle_wall > 0 and idle_pct < 0.5

    print(f"kamstrup run footprint: 1 paced TCP meter every {args.interval} s; store, http, file jsonl,"
          f" exec /bin/true, mqtt (mosquitto), influxdb v1 (influxd), domoticz + emoncms (local OK server)")
    print(f"  run length {wall:.0f} s (requested {args.seconds} s); load average before {load_before},"
          f" after {load_after}; {os.cpu_count()} CPUs")
    print(f"  polls (GetRegister) answered {len(answered)} of {len(polls)}; all exchanges {len(ex)};"
          f" daemon exit status on SIGTERM {rc}")
    print(f"  delivered: jsonl lines {n_jsonl}, influx points {n_influx}, "
          f"domoticz requests {OkHandler.counts.get('/json.htm', 0)}, "
          f"emoncms requests {OkHandler.counts.get('/input/post', 0)}")
    if isinstance(outputs_json.get("v"), list):
        print("  /api/outputs: " + ", ".join(
            f"{o['id']} delivered {o['delivered']} backlog {o['backlog']} failures {o['failures']}"
            for o in outputs_json["v"]))
    else:
        print(f"  /api/outputs: {outputs_json.get('v')}")
    print()
    table([
        ("quantity", "measured", "target"),
        ("PSS at end (smaps_rollup Pss)", f"{mb(end_pss):.1f} MB", "<= 12 MB after 10 min"),
        ("USS at end (Private_Clean + Private_Dirty)", f"{mb(end_uss):.1f} MB",
         "<= 8 MB after 10 min"),
        ("RSS at end (VmRSS)", f"{mb(end_rss):.1f} MB", "reported"),
        ("peak PSS / USS (sampled every second)", f"{mb(peak_pss):.1f} / {mb(peak_uss):.1f} MB", ""),
        ("peak RSS (VmHWM)", f"{mb(peak_hwm):.1f} MB", ""),
        ("CPU time total (utime+stime)", f"{cpu:.2f} s", ""),
        ("CPU average over the run", f"{100 * cpu / wall:.3f} % of one core", ""),
        ("CPU in idle windows", f"{idle_pct:.3f} % ({idle_cpu:.2f} s in {idle_wall:.0f} s)", "~ 0"),
        ("memory target met (PSS, USS)", "yes" if mem_ok else "NO", ""),
        ("idle CPU target met (< 0.5 %)", "yes" if idle_ok else "NO", ""),
    ])
    print("  RSS / PSS / USS over the run (MB, every 60 s): " + " ".join(
        f"{mb(s[1]):.1f}/{mb(s[4]):.1f}/{mb(s[5]):.1f}" for s in samples[1::60]))
    print_memory(smaps)
    errors = [l for l in stderr.splitlines() if "error" in l.lower() or "warn" in l.lower()]
    if errors:
        print(f"  daemon warnings/errors ({len(errors)}): " + " | ".join(errors[:5]))
    if rc != 0:
        print(f"FAIL: daemon exited with status {rc}", file=sys.stderr)
        return 1
    if len(answered) == 0:
        print("FAIL: no poll answered", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- fleet

def fleet(args):
    n = args.meters
    load_before = loadavg()
    load_samples = []
    with tempfile.TemporaryDirectory(prefix="daemon-bench-") as tmp:
        sim = None
        try:
            sim_log = os.path.join(tmp, "sim.log")
            sim, ports = start_simulator(args.binary, tmp, n, sim_log)
            config = os.path.join(tmp, "kamstrup.yaml")
            with open(config, "w") as f:
                f.write("meters:\n")
                for i, p in enumerate(ports):
                    f.write(f"  - name: m{i:03d}\n    port: {p}\n    interval: {args.interval}s\n")
                f.write(f"store:\n  path: {tmp}/kamstrup.db\n")

            def note_load(pid, elapsed):
                if int(elapsed) % 30 == 0:
                    load_samples.append(loadavg().split()[0])

            samples, rc, stderr, smaps = run_daemon(args.binary, config, tmp, args.seconds, note_load)
            time.sleep(0.5)
            entries = read_sim_log(sim_log)
            sim_cpu = proc_sample(sim.pid)
        finally:
            stop(sim)
    load_after = loadavg()
    if len(samples) < 2:
        sys.exit("daemon produced no samples")

    all_ex = exchanges(entries)
    ex = [x for x in all_ex if x[1].get("cid") == GET_REGISTER]  # polls; not the identification
    answered = [x for x in ex if x[2].get("sent")]
    unanswered = len(ex) - len(answered)
    per_meter = [0] * n
    for m, _, _ in answered:
        per_meter[m] += 1
    # Group exchanges into ticks: a new tick starts after a gap of more than interval/2 in
    # request times (all meters start together and run on the same interval).
    ex_sorted = sorted(ex, key=lambda x: x[1]["mono"])
    ticks, cur, last = [], [], None
    for x in ex_sorted:
        if last is not None and x[1]["mono"] - last > args.interval / 2:
            ticks.append(cur)
            cur = []
        cur.append(x)
        last = x[1]["mono"]
    if cur:
        ticks.append(cur)
    single = [tx["end_mono"] - rx["mono"] for _, rx, tx in answered if tx.get("end_mono")]
    # What a request itself takes on the line before the simulator counts it heard.
    req_s = statistics.median(rx["bytes"] for _, rx, _ in ex) * 11 / 1200 if ex else 0
    one = statistics.median(single) if single else float("nan")
    full_ticks = [t for t in ticks if len({m for m, _, _ in t}) == n]
    cycles = [max(tx.get("end_mono", tx["mono"]) for _, _, tx in t) - min(rx["mono"] for _, rx, _ in t)
              for t in full_ticks]
    spans = [max(rx["mono"] for _, rx, _ in t) - min(rx["mono"] for _, rx, _ in t) for t in full_ticks]
    wall, cpu = cpu_stats(samples)
    peak_hwm = max(s[2] for s in samples)
    expected = round(wall / args.interval)
    cyc_med = statistics.median(cycles) if cycles else float("nan")
    cyc_max = max(cycles) if cycles else float("nan")
    cpu_pct = 100 * cpu / wall
    polls_ok = unanswered == 0 and min(per_meter) >= expected - 1 and len(full_ticks) == len(ticks)
    cycle_ok = bool(cycles) and cyc_max <= 1.2 * one
    cpu_ok = cpu_pct <= 10.0

    print(f"kamstrup run fleet: {n} paced TCP meters (1200 baud, 11 bits/byte, 50 ms turnaround),"
          f" interval {args.interval} s, default 8 registers, store only")
    print(f"  run length {wall:.0f} s (requested {args.seconds} s); load average before {load_before},"
          f" during {' '.join(load_samples)}, after {load_after}; {os.cpu_count()} CPUs")
    print(f"  daemon exit status on SIGTERM {rc}; simulator CPU {sim_cpu[2] if sim_cpu else float('nan'):.1f} s")
    print(f"  exchanges logged {len(all_ex)} ({len(all_ex) - len(ex)} identification at start-up,"
          f" {len(ex)} polls)")
    print(f"  ticks seen {len(ticks)}, with all {n} meters {len(full_ticks)}; exchanges per tick "
          f"{sorted(set(len(t) for t in ticks))}")
    print()
    table([
        ("quantity", "measured", "target"),
        ("polls answered (all meters)", f"{len(answered)} of {len(ex)} requests", "every poll"),
        ("polls per meter min / max", f"{min(per_meter)} / {max(per_meter)}", f"~ {expected} (run / interval)"),
        ("one meter's poll (rx -> last reply byte), median", f"{one * 1000:.0f} ms",
         f"(+ {req_s * 1000:.0f} ms request on the line)"),
        ("cycle per tick (first rx -> last end), median", f"{cyc_med * 1000:.0f} ms", ""),
        ("cycle per tick, max", f"{cyc_max * 1000:.0f} ms", f"<= 1.2 x one poll = {1.2 * one * 1000:.0f} ms"),
        ("cycle / one poll (max)", f"{cyc_max / one:.3f}", "<= 1.2"),
        ("spread of request times in a tick, max", f"{max(spans) * 1000 if spans else float('nan'):.0f} ms", ""),
        ("daemon CPU", f"{cpu:.2f} s in {wall:.0f} s = {cpu_pct:.2f} % of one core", "<= 10 %"),
        ("daemon peak RSS (VmHWM)", f"{mb(peak_hwm):.1f} MB", "reported"),
        ("daemon RSS at end (VmRSS)", f"{mb(samples[-1][1]):.1f} MB", ""),
        ("targets met", f"polls {'yes' if polls_ok else 'NO'}, cycle {'yes' if cycle_ok else 'NO'},"
         f" cpu {'yes' if cpu_ok else 'NO'}", ""),
    ])
    print("  RSS over the run (MB, every 60 s): " + " ".join(
        f"{mb(s[1]):.1f}" for s in samples[1::60]))
    print_memory(smaps)
    errors = [l for l in stderr.splitlines() if "error" in l.lower() or "warn" in l.lower()]
    if errors:
        print(f"  daemon warnings/errors ({len(errors)}): " + " | ".join(errors[:5]))
    if rc != 0:
        print(f"FAIL: daemon exited with status {rc}", file=sys.stderr)
        return 1
    if not answered:
        print("FAIL: no poll answered", file=sys.stderr)
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="build/src/cli/kamstrup")
    ap.add_argument("--mode", choices=["footprint", "fleet"], required=True)
    ap.add_argument("--seconds", type=int, default=None,
                    help="run length (default 600 for footprint, 300 for fleet)")
    ap.add_argument("--meters", type=int, default=200, help="fleet size (fleet mode)")
    ap.add_argument("--interval", type=int, default=10, help="poll interval in seconds")
    args = ap.parse_args()
    if args.seconds is None:
        args.seconds = 600 if args.mode == "footprint" else 300
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"no executable {args.binary}")
    args.binary = os.path.abspath(args.binary)  # the daemon runs in its own temporary directory
    return footprint(args) if args.mode == "footprint" else fleet(args)


if __name__ == "__main__":
    sys.exit(main())

"""A daemon polling simulated meters, for the dashboard's browser test and its benchmark.

Two meters, each polled every second:
  heat   `sim:multical403`, the simulator built into the daemon (values move with time);
  fixed  a `kamstrup simulate --tcp --no-pacing` process on loopback whose profile pins the
         temperatures and the power at digits that a JavaScript number would lose (70.00, 40.10,
         8.0, ...), so the page must show the meter's exact text; its flow and counters move as
         usual (so its hourly buckets have a min, mean and max that differ).
`backfill` (e.g. "30d") makes the daemon first read the second meter's data logger (unpaced, so
30 days of hourly records take seconds), which gives the charts days of history to draw.
`pinned=False` leaves the second meter's gauges moving too, and names it `building` (for the
benchmark and its screenshot).
"""
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

# The fixed meter's pinned values exactly as its profile gives them: what its card must show.
FIXED_VALUES = {
    "temp1": ("70.00", "°C"),
    "temp2": ("40.10", "°C"),
    "temp_diff": ("29.90", "K"),
    "power": ("8.0", "kW"),
}


def profile(pinned):
    text = "base: multical403\nserial: 12345678\n"
    if pinned:
        text += "registers:\n" + "".join(f'  {name}: {{value: "{value}", fixed: true}}\n'
                                         for name, (value, _) in FIXED_VALUES.items())
    return text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exact_json(text):
    """JSON with every number kept as its text (55.000 stays "55.000")."""
    return json.loads(text, parse_float=str, parse_int=str)


class Daemon:
    def __init__(self, binary, backfill=None, interval="1s", pinned=True):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="kamstrup-browser-")
        self.sim = None
        self.daemon = None
        self.snapshots = {}  # (meter, poll time) -> that poll, from /api/meters
        self._stop = threading.Event()
        self._watcher = None
        try:
            self._start(backfill, interval, pinned)
        except BaseException:
            self.stop()
            raise

    def _start(self, backfill, interval, pinned):
        self.second = "fixed" if pinned else "building"
        profile_file = os.path.join(self.dir, "fixed.yaml")
        with open(profile_file, "w") as f:
            f.write(profile(pinned))
        sim_port = free_port()
        self.sim = subprocess.Popen(
            [self.binary, "simulate", "--profile-file", profile_file, "--no-pacing",
             "--tcp", f"127.0.0.1:{sim_port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.sim.stdout], [], [], 20)
        line = self.sim.stdout.readline() if ready else ""
        if "kamstrup simulate:" not in line:
            raise RuntimeError(f"the simulator did not start: {line!r} {self.sim.stderr.read()}")
        self.port = free_port()
        config = os.path.join(self.dir, "kamstrup.yaml")
        backfill_line = f"\n    backfill: {backfill}" if backfill else ""
        with open(config, "w") as f:
            f.write(f"""meters:
  - name: heat
    port: sim:multical403
    interval: {interval}
  - name: {self.second}
    port: socket://127.0.0.1:{sim_port}
    interval: {interval}{backfill_line}
store:
  path: {self.dir}/kamstrup.db
files:
  - path: {self.dir}/polls.jsonl
    format: jsonl
http:
  listen: 127.0.0.1:{self.port}
""")
        self.log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.daemon = subprocess.Popen([self.binary, "run", "--config", config],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    def get(self, path, timeout=10):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
            return r.read().decode()

    def meters(self):
        return exact_json(self.get("/api/meters"))

    def _watch(self):
        # Every poll /api/meters shows, kept by its time, so that whatever poll a card shows
        # can be compared with what the daemon said about that very poll.
        while not self._stop.is_set():
            try:
                for m in self.meters():
                    if m.get("last"):
                        self.snapshots[(m["name"], m["last"]["time"])] = m["last"]
            except OSError:
                pass
            self._stop.wait(0.15)

    def wait_for_polls(self, count=3, timeout=300):
        """Until each meter has `count` polls in the snapshots (and is answering)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with {self.daemon.returncode}: "
                                   f"{open(self.log.name).read()}")
            names = [m for (m, _) in list(self.snapshots)]
            if all(names.count(n) >= count for n in ("heat", self.second)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"no {count} polls of each meter within {timeout} s: "
                           f"{open(self.log.name).read()[-3000:]}")

    def stop_simulator(self):
        """Ends the second meter's simulator: that meter stops answering."""
        self.sim.terminate()
        self.sim.wait(15)

    def stop(self):
        self._stop.set()
        if self._watcher:
            self._watcher.join(2)
        for p in (self.daemon, self.sim):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.sim:
            self.sim.stdout.close()
            self.sim.stderr.close()
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

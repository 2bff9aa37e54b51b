"""The TUI under load: a task with 1,000 steps, one of which writes ~1 MB/s of log
(the selected step, so the TUI tails it), while a chain of short steps produces a
steady stream of events.

The real `agent-agency-cli task watch ID` runs in a pseudo-terminal (default 120x40);
its output is read as a terminal would get it. Measured:

- event -> screen: from an event's commit time (its `ts`) to the moment its line
  ("mk007 started") is written to the terminal; median and p95 over >= 30 events
  (target: < 250 ms);
- key -> screen: from writing `l` to the terminal to the moment the log pane's
  "held · l follows" / "following · l holds" is drawn; 20 presses (target: < 100 ms);
- CPU: the TUI process's CPU time over the busy window, as % of one core (target: < 25%).

Baseline, in the same run: `agent-agency-cli task watch ID --plain` (the orchestrator's
own follow() loop printing one line per event) on the same events: its latency and CPU.

    .venv/bin/python bench/tui_latency.py [--size 120x40] [--chain 40] [--presses 40] [--busy 2]

`--busy N` runs N busy loops (`python -c 'while 1: pass'`) beside it for the whole run
(issue 13's "loaded machine": two of them), ended when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import psutil
from _common import machine, met, temp_home

BIN = Path(sys.executable).parent
CLI = shutil.which("agent-agency-cli", path=str(BIN)) or "agent-agency-cli"
STEPS = 1000
LOG_RATE = 1_000_000  # bytes/s of log file growth
LINE = 70  # characters per line the step prints (+31 bytes of timestamp/stream prefix)

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>][0-9A-Za-z]?|\x1b[78]")

LOGGER = r"""
import sys, time
line = "x" * {line} + "\n"
per_tick = {per_tick}
t = time.time()
end = t + {seconds}
while time.time() < end:
    sys.stdout.write(line * per_tick)
    sys.stdout.flush()
    t += 0.1
    time.sleep(max(0.0, t - time.time()))
"""


def plan(chain: int, seconds: float) -> dict:
    per_tick = int(LOG_RATE / (LINE + 31) / 10)
    logger = LOGGER.format(line=LINE, per_tick=per_tick, seconds=seconds)
    steps = [{"name": "logger", "run": [sys.executable, "-c", logger], "estimate": seconds}]
    for i in range(chain):
        steps.append({"name": f"mk{i:03d}", "run": "sleep 0.25", "estimate": 0.3,
                      **({"needs": [f"mk{i - 1:03d}"]} if i else {})})
    for i in range(STEPS - len(steps)):
        steps.append({"name": f"rest-{i:04d}", "run": "true", "needs": [f"mk{chain - 1:03d}"],
                      "estimate": 0.1})
    return {"plan": {"steps": steps}, "description": "TUI benchmark: 1,000 steps, 1 MB/s log",
            "concurrency": 4}


class Terminal:
    """A process in a pseudo-terminal; remembers when each watched text first showed up."""

    def __init__(self, argv: list[str], cols: int, rows: int, env: dict[str, str]):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, close_fds=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.fd = master
        self.seen: dict[str, float] = {}
        self.watch: set[str] = set()
        self.lock = threading.Lock()
        self.bytes = 0
        self._tail = ""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not data:
                return
            now = time.time()
            self.bytes += len(data)
            text = ANSI.sub(b"", data).decode("utf-8", "replace")
            hay = self._tail + text
            with self.lock:
                for w in list(self.watch):
                    if w in hay:
                        self.seen[w] = now
                        self.watch.discard(w)
            self._tail = hay[-200:]

    def expect(self, *texts: str) -> None:
        with self.lock:
            for t in texts:
                self.seen.pop(t, None)
                self.watch.add(t)

    def wait_for(self, text: str, timeout: float = 10.0) -> float | None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if text in self.seen:
                    return self.seen[text]
            time.sleep(0.002)
        return None

    def send(self, data: str) -> float:
        t = time.time()
        os.write(self.fd, data.encode())
        return t

    def close(self) -> None:
        if self.proc.poll() is None:
            with_timeout_kill(self.proc, 0.5)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def with_timeout_kill(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class LineReader:
    """The --plain baseline: one line per event on a pipe, each stamped when it arrives."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        self.lines: list[tuple[float, str]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append((time.time(), raw.decode("utf-8", "replace")))

    def first(self, text: str) -> float | None:
        return next((t for t, ln in self.lines if text in ln), None)


def cpu_seconds(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


def _measure(orch, tid, tui, plain, chain, log_path, presses):  # type: ignore[no-untyped-def]
    """Drive the run; the figures, or None if the TUI never showed the task."""
    from agent_agency_cli.tui.format import parse_iso

    names = [f"mk{i:03d}" for i in range(chain)]
    tui.expect(*(f"{n} started" for n in names), tid)
    if tui.wait_for(tid, 20) is None:
        print("the TUI did not draw the task within 20 s", file=sys.stderr)
        return None
    time.sleep(1.0)  # let both settle before anything happens
    orch.ensure_daemon()

    # busy window: from the first chain step to the last one
    if tui.wait_for(f"{names[0]} started", 30) is None:
        print("the first event never reached the screen", file=sys.stderr)
    cpu0, plain_cpu0, t0 = cpu_seconds(tui.proc.pid), cpu_seconds(plain.proc.pid), time.time()
    size0 = log_path.stat().st_size if log_path.exists() else 0
    tui.wait_for(f"{names[-1]} started", chain * 2 + 30)
    time.sleep(0.5)
    cpu1, plain_cpu1, t1 = cpu_seconds(tui.proc.pid), cpu_seconds(plain.proc.pid), time.time()
    size1 = log_path.stat().st_size if log_path.exists() else 0
    rss = psutil.Process(tui.proc.pid).memory_info().rss

    # key -> screen while the log is still growing
    key_ms: list[float] = []
    for i in range(presses):
        marker = "held · l follows" if i % 2 == 0 else "following · l holds"
        tui.expect(marker)
        sent = tui.send("l")
        seen = tui.wait_for(marker, 5)
        if seen is not None:
            key_ms.append((seen - sent) * 1000)
        time.sleep(0.15)
    log_still = (log_path.stat().st_size - size1) if log_path.exists() else 0

    events = orch.events(tid, 0, 100_000)
    started = {e["step"]: parse_iso(e["ts"]) for e in events
               if e["kind"] == "step_started" and e["step"] in names}
    lat = [(tui.seen[f"{n} started"] - started[n]) * 1000 for n in names
           if n in started and f"{n} started" in tui.seen]
    base = []
    for n in names:
        seen = plain.first(f"{n}  started")
        if seen is not None and n in started:
            base.append((seen - started[n]) * 1000)

    tui.send("q")
    with_timeout_kill(tui.proc, 10)
    quit_ok = tui.proc.returncode == 0
    still = orch.get_status(tid)["status"]
    return (t0, t1, cpu0, cpu1, plain_cpu0, plain_cpu1, size0, size1, rss, key_ms, log_still,
            lat, base, quit_ok, still)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="120x40", help="terminal size COLSxROWS (default 120x40)")
    ap.add_argument("--chain", type=int, default=40, help="short steps producing events (>= 30)")
    ap.add_argument("--presses", type=int, default=20, help="key presses to time")
    ap.add_argument("--busy", type=int, default=0, help="busy loops to run beside it (a loaded machine)")
    args = ap.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    try:
        return _run(args)
    finally:
        for p in busy:
            p.kill()
            p.wait()


def _run(args: argparse.Namespace) -> int:
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    chain = max(30, args.chain)
    seconds = chain * 0.45 + 15  # the log keeps growing through the chain and the key presses

    from agent_agency_cli.orchestrator import TaskOrchestrator

    with temp_home() as home:
        env = {**os.environ, "AGENT_AGENCY_HOME": str(home), "TERM": "xterm-256color",
               "COLORTERM": "truecolor", "COLUMNS": str(cols), "LINES": str(rows)}
        env.pop("NO_COLOR", None)
        orch = TaskOrchestrator(home=home)
        tid = orch.submit_task(plan(chain, seconds), start_daemon=False)
        log_path = orch.paths.step_log(tid, "logger")

        tui = Terminal([CLI, "task", "watch", tid], cols, rows, env)
        plain = LineReader([CLI, "task", "watch", tid, "--plain"], env)
        try:
            got = _measure(orch, tid, tui, plain, chain, log_path, args.presses)
        finally:  # whatever happened: no TUI, follower, task or daemon is left behind
            tui.close()
            with_timeout_kill(plain.proc, 0.5)
            with contextlib.suppress(Exception):
                if not orch.get_status(tid)["finished"]:
                    orch.cancel(tid, "benchmark over")
            with contextlib.suppress(Exception):
                orch.stop_daemon(timeout=60)
            orch.close()
        if got is None:
            return 1
        t0, t1, cpu0, cpu1, plain_cpu0, plain_cpu1, size0, size1, rss, key_ms, log_still, \
            lat, base, quit_ok, still = got

    window = t1 - t0
    tui_cpu = 100 * (cpu1 - cpu0) / window if window > 0 else float("nan")
    plain_cpu = 100 * (plain_cpu1 - plain_cpu0) / window if window > 0 else float("nan")
    rate = (size1 - size0) / window / 1e6 if window > 0 else float("nan")
    med, p95 = statistics.median(lat) if lat else float("nan"), pct(lat, 0.95)
    bmed, bp95 = statistics.median(base) if base else float("nan"), pct(base, 0.95)
    kmed, kp95 = statistics.median(key_ms) if key_ms else float("nan"), pct(key_ms, 0.95)

    print(f"TUI under load: {STEPS} steps, log growing {rate:.2f} MB/s, terminal {cols}x{rows}")
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}"
          + (f"; {args.busy} busy loop(s) beside it" if args.busy else ""))
    print(f"event -> screen  median {med:6.1f} ms  p95 {p95:6.1f} ms  (n={len(lat)})  "
          f"target p95 < 250 ms: {met(p95 < 250)}")
    print(f"  baseline: task watch --plain (follow() loop) median {bmed:6.1f} ms  p95 {bp95:6.1f} ms"
          f"  (n={len(base)});  TUI/baseline median {med / bmed:.2f}x")
    print(f"key -> screen    median {kmed:6.1f} ms  p95 {kp95:6.1f} ms  (n={len(key_ms)})  "
          f"target p95 < 100 ms: {met(kp95 < 100)}")
    print(f"  key samples (ms): {' '.join(str(round(k)) for k in key_ms)}")
    print(f"CPU of the TUI   {tui_cpu:5.1f}% of one core over {window:.1f} s  "
          f"target < 25%: {met(tui_cpu < 25)}")
    print(f"  baseline: task watch --plain {plain_cpu:5.1f}% of one core;  "
          f"TUI RSS {rss / 2**20:.0f} MiB")
    print(f"log kept growing during the key presses: {log_still / 1e6:.1f} MB; "
          f"quit left the task {still} (exit {0 if quit_ok else 'non-zero'})")
    ok = p95 < 250 and kp95 < 100 and tui_cpu < 25 and len(lat) >= 30
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared by the benchmarks: run a command, return its wall time and its own peak RSS."""

import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
BIN = os.path.join(ROOT, "target", "release", "rmbg-ultra")


def photos():
    d = os.path.join(ROOT, "testdata", "photos")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))


def measure(cmd, env=None):
    """(seconds, peak RSS in MiB, stdout) of one child process; wait4 gives that child's own RSS."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{err.decode()}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


def model_path(model_id="isnet-general"):
    return subprocess.check_output([BIN, "models", "path", model_id], text=True).strip()


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))

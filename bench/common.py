"""Shared by the benchmarks: run a command, return its wall time and its own peak RSS; read this
process's memory from /proc (what the benchmarks' child processes report about themselves)."""

import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv-ref", "bin", "python")
BIN = os.path.join(ROOT, "target", "release", "rmbg-ultra")


def photos():
    d = os.path.join(ROOT, "testdata", "photos")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))


def measure(cmd, env=None):
    """(seconds, peak RSS in MiB, stdout) of one child process; wait4 gives that child's own RSS.
    Its output goes to files, not pipes, so that a chatty child cannot block on a full pipe."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err.read().decode()[-4000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def status_kb(field="VmRSS:"):
    """A field of this process's /proc/self/status in kB: VmRSS (resident now) or VmHWM (peak); 0 if absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def reset_peak():
    """Lowers the peak (VmHWM) to the current RSS (Linux >= 4.0), so the next reading is the peak of what runs between."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def model_path(model_id="isnet-general"):
    return subprocess.check_output([BIN, "models", "path", model_id], text=True).strip()


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))

"""Benchmark: `rmbg-ultra serve` under load: requests per second and p50/p95 latency at several
concurrency levels, the server's peak RSS, and where the time goes (from its /metrics).

Run with the reference venv's Python (it only needs the standard library and psutil) after a
release build:

    cargo build --release -p rmbg-ultra-cli
    .venv-ref/bin/python bench/bench_serve.py [--photo testdata/photos/people.jpg] \
        [--method GuidedFilter] [--levels 1,2,8] [--requests 6,8,16] [--workers N] [--fast] [--json]

    # issue 11's load test: 200 requests at concurrency 8 on the int8 model
    .venv-ref/bin/python bench/bench_serve.py --fast --levels 8 --requests 200

The script starts `target/release/rmbg-ultra serve --port 0 --device cpu` itself (queue large enough
that no request of the run is refused), sends one warm-up request, then for each concurrency level
C sends that level's number of requests from C client threads, each thread one request at a time
on its own connection (the photo as the raw body, `?method=...`, the RGBA PNG cutout back). Every
answer must be 200. Latency is from sending the request to the last byte of the answer; requests
per second is the level's requests over its wall time. RSS is sampled every 50 ms: its peak, and
its level over the first and last tenth of each level's requests, whose ratio says whether memory
stays flat under load. `--fast` starts the server with `--fast` (quality profile on the int8 model,
made at start when missing). It ends the server with SIGTERM.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def start_server(binary, extra):
    cmd = [str(binary), "serve", "--port", "0", "--device", "cpu", *extra]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = []
    addr = None
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        m = re.search(r"listening on http://(\S+)", line)
        if m:
            addr = m.group(1)
            break
    if addr is None:
        proc.kill()
        sys.exit("the server did not start:\n" + "".join(log))

    def drain():
        for line in proc.stderr:
            log.append(line)

    threading.Thread(target=drain, daemon=True).start()
    host, port = addr.rsplit(":", 1)
    return proc, (host, int(port)), log


def request(addr, method, path, body=None, content_type=None):
    t = time.perf_counter()
    conn = http.client.HTTPConnection(addr[0], addr[1], timeout=600)
    headers = {"Content-Type": content_type} if content_type else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data, time.perf_counter() - t


def stage_sums(addr):
    """{stage: (sum_seconds, count)} from /metrics."""
    _, text, _ = request(addr, "GET", "/metrics")
    out = {}
    for line in text.decode().splitlines():
        m = re.match(r'rmbg_ultra_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)', line)
        if m:
            kind, stage, v = m.groups()
            s, c = out.get(stage, (0.0, 0))
            out[stage] = (float(v), c) if kind == "sum" else (s, int(float(v)))
    return out


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def run_level(addr, pid, concurrency, total, body, path, content_type):
    latencies, failures = [], []
    lock = threading.Lock()
    next_index = [0]
    peak = [psutil.Process(pid).memory_info().rss]
    stop = threading.Event()
    # (requests done, rss) samples, to compare the start of the level with its end
    samples = []

    def sample():
        p = psutil.Process(pid)
        while not stop.is_set():
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                return
            peak[0] = max(peak[0], rss)
            with lock:
                samples.append((len(latencies) + len(failures), rss))
            time.sleep(0.05)

    def client():
        while True:
            with lock:
                if next_index[0] >= total:
                    return
                next_index[0] += 1
            status, data, seconds = request(addr, "POST", path, body, content_type)
            with lock:
                if status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n":
                    latencies.append(seconds)
                else:
                    failures.append((status, data[:200]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = stage_sums(addr)
    t = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    stop.set()
    sampler.join()
    after = stage_sums(addr)
    stages = {}
    for stage, (s, c) in after.items():
        s0, c0 = before.get(stage, (0.0, 0))
        if c > c0:
            stages[stage] = (s - s0) / (c - c0)
    lat = sorted(latencies)
    tenth = max(1, total // 10)
    first = [r for done, r in samples if done < tenth]
    last = [r for done, r in samples if done >= total - tenth]
    rss_first = sum(first) / len(first) if first else None
    rss_last = sum(last) / len(last) if last else None
    return {
        "rss_first_mb": rss_first / 1e6 if rss_first else None,
        "rss_last_mb": rss_last / 1e6 if rss_last else None,
        "concurrency": concurrency,
        "requests": total,
        "ok": len(latencies),
        "failures": failures,
        "wall_s": wall,
        "rps": len(latencies) / wall if wall > 0 else 0.0,
        "p50_s": percentile(lat, 50) if lat else None,
        "p95_s": percentile(lat, 95) if lat else None,
        "peak_rss_mb": peak[0] / 1e6,
        "mean_stage_s": stages,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target/release/rmbg-ultra"))
    ap.add_argument("--photo", default=str(ROOT / "testdata/photos/people.jpg"))
    ap.add_argument("--method", default="GuidedFilter")
    ap.add_argument("--levels", default="1,2,8", help="concurrency levels")
    ap.add_argument("--requests", default="6,8,16", help="requests per level (one number for all, or one per level)")
    ap.add_argument("--workers", type=int, default=None, help="server workers (default: its own, the number of cores)")
    ap.add_argument("--fast", action="store_true", help="serve --fast: the quality profile on the int8 model")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args()

    levels = [int(x) for x in args.levels.split(",")]
    counts = [int(x) for x in args.requests.split(",")]
    if len(counts) == 1:
        counts *= len(levels)
    if len(counts) != len(levels):
        sys.exit("--requests needs one number or one per level")
    body = Path(args.photo).read_bytes()
    ctype = "image/png" if args.photo.lower().endswith(".png") else "image/jpeg"
    extra = ["--queue", str(max(levels) + 8), "--method", args.method]
    if args.workers:
        extra += ["--workers", str(args.workers)]
    if args.fast:
        extra += ["--fast"]
    proc, addr, log = start_server(args.bin, extra)
    try:
        _, health, _ = request(addr, "GET", "/healthz")
        health = json.loads(health)
        path = "/v1/remove"
        status, data, warm = request(addr, "POST", path, body, ctype)
        if status != 200:
            sys.exit(f"warm-up request failed: {status} {data[:300]!r}")
        results = [run_level(addr, proc.pid, c, n, body, path, ctype) for c, n in zip(levels, counts)]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()

    model = health["fast_model"] if args.fast else health["seg_model"]
    print(f"# rmbg-ultra serve{' --fast' if args.fast else ''}: {Path(args.photo).name} ({len(body)} bytes), method {args.method}, "
          f"model {model}, {health['workers']} workers, device {health['device']}, {os.cpu_count()} cores; warm-up {warm:.2f} s")
    print()
    print("| concurrency | requests | ok | img/s | p50 s | p95 s | peak RSS MB | RSS first/last tenth MB | mean queue s | mean segment s | mean refine s | mean encode s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        st = r["mean_stage_s"]
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"
        flat = "-"
        if r["rss_first_mb"] and r["rss_last_mb"]:
            flat = f"{r['rss_first_mb']:.0f} / {r['rss_last_mb']:.0f} ({100 * (r['rss_last_mb'] / r['rss_first_mb'] - 1):+.1f} %)"
        print(f"| {r['concurrency']} | {r['requests']} | {r['ok']} | {r['rps']:.2f} | {fmt(r['p50_s'])} | {fmt(r['p95_s'])} | "
              f"{r['peak_rss_mb']:.0f} | {flat} | {fmt(st.get('queue'))} | {fmt(st.get('segment'))} | {fmt(st.get('refine'))} | {fmt(st.get('encode'))} |")
    bad = [r for r in results if r["failures"]]
    for r in bad:
        print(f"concurrency {r['concurrency']}: {len(r['failures'])} failed: {r['failures'][:3]}", file=sys.stderr)
    if args.json:
        print(json.dumps({"photo": args.photo, "method": args.method, "health": health, "results": results}, default=str))
    if proc.returncode not in (0, None):
        print("server exit code", proc.returncode, "".join(log[-20:]), file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

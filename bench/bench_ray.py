"""Benchmark: the Ray Data recipe (examples/ray, `rmbg_ultra.ray_data.remove_folder`) with 1 and 2
actors against the CLI's batch (`rmbg-ultra remove FOLDER`, one process) and the `rmbg_ultra`
package in one Python process without Ray, on the shared photos repeated to N images.

Run with the Ray venv's Python after scripts/test-ray.sh (which creates .venv-ray, builds the CLI
and pip-installs the wheel there):

    scripts/test-ray.sh
    .venv-ray/bin/python bench/bench_ray.py [--images 96] [--actors 1,2] [--method GuidedFilter] [--batch-size 4]

Each run is its own child process, started cold (models loaded in it; for Ray, a local cluster of
`--cluster-cpus` CPUs started in it, actors holding `--num-cpus` each), writing every cutout as
PNG into a fresh folder; outputs are checked byte for byte against the CLI's. Wall time is the
child's whole life; for Ray also without the cluster's start and stop ("pipeline"). Peak RSS: the
CLI's and the Python run's own (wait4); for Ray the peak of the summed RSS of the driver and every
process under it (raylet, workers, actors), and of the actors alone, sampled every 0.2 s (sums
count shared pages more than once: an upper bound).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import measure, photos, table  # noqa: E402

BIN = ROOT / "target" / "release" / "rmbg-ultra"


def make_inputs(folder, n):
    srcs = photos()
    for i in range(n):
        src = srcs[i % len(srcs)]
        shutil.copy(src, folder / f"{i:03d}-{Path(src).name}")


def child_python(args):
    """The package alone: decode, remove_batch of --batch-size, encode, write; no Ray."""
    import rmbg_ultra

    remover = rmbg_ultra.Remover(method=args.method, device="cpu", offline=True)
    files = sorted(Path(args.input).iterdir())
    out = Path(args.output)
    for k in range(0, len(files), args.batch_size):
        chunk = files[k:k + args.batch_size]
        images = [rmbg_ultra.decode(p.read_bytes(), name=p) for p in chunk]
        for p, (rgba, _mask) in zip(chunk, remover.remove_batch(images)):
            (out / f"{p.stem}.png").write_bytes(rmbg_ultra.encode(rgba))


def child_ray(args):
    import ray

    from rmbg_ultra.ray_data import remove_folder

    t0 = time.perf_counter()
    ray.init(num_cpus=args.cluster_cpus, include_dashboard=False, log_to_driver=False)
    t1 = time.perf_counter()
    rows = remove_folder(args.input, args.output, concurrency=args.actors, num_cpus=args.num_cpus,
                         batch_size=args.batch_size, method=args.method, device="cpu", offline=True)
    t2 = time.perf_counter()
    ray.shutdown()
    failed = [r for r in rows if r["error"]]
    if failed:
        raise SystemExit(f"{len(failed)} failed: {failed[0]['error']}")
    print(json.dumps({"start": t1 - t0, "pipeline": t2 - t1, "stop": time.perf_counter() - t2}))


class RssSampler:
    """Peak of the summed RSS of a process and everything under it, and of its Ray actors."""

    def __init__(self, pid):
        self.root = psutil.Process(pid)
        self.peak_total = self.peak_actors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            total = actors = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline()[:1])
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                total += rss
                if "MapWorker" in name:
                    actors += rss
            self.peak_total = max(self.peak_total, total)
            self.peak_actors = max(self.peak_actors, actors)
            self.stop.wait(0.2)

    def finish(self):
        self.stop.set()
        self.thread.join()


def run(cmd):
    """(seconds, RssSampler, stdout) of a child process and everything it starts."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    sampler = RssSampler(p.pid)
    out, err = p.communicate()
    seconds = time.perf_counter() - t
    sampler.finish()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err[-3000:]}")
    return seconds, sampler, out


def same_files(a, b):
    fa = sorted(p.name for p in Path(a).iterdir())
    fb = sorted(p.name for p in Path(b).iterdir())
    return fa == fb and all((Path(a) / n).read_bytes() == (Path(b) / n).read_bytes() for n in fa)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=96)
    ap.add_argument("--actors", default="1,2")
    ap.add_argument("--method", default="GuidedFilter")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--num-cpus", type=float, default=0.5, help="Ray CPUs per actor")
    ap.add_argument("--cluster-cpus", type=int, default=os.cpu_count())
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", choices=["python", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    ap.add_argument("--child-actors", dest="actors_n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "python":
        return child_python(args)
    if args.child == "ray":
        args.actors = args.actors_n
        return child_ray(args)

    if not BIN.is_file():
        raise SystemExit(f"{BIN} is missing: cargo build --release -p rmbg-ultra-cli (or scripts/test-ray.sh)")
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        inputs = work / "in"
        inputs.mkdir()
        make_inputs(inputs, args.images)
        n = args.images
        common = ["--batch-size", str(args.batch_size), "--method", args.method, "--input", str(inputs)]
        rows, results = [], {}

        cli_out = work / "cli"
        s, rss, _ = measure([str(BIN), "remove", str(inputs), "-o", str(cli_out), "--method", args.method, "--device", "cpu",
                          "--offline", "--quiet"])
        results["cli"] = {"seconds": s, "peak_mib": rss}
        rows.append(["CLI `remove FOLDER` (1 process)", n, f"{s:.1f}", f"{n / s:.3f}", f"{s / n:.2f}", "1.00x", f"{rss:.0f}", "-"])

        py_out = work / "python"
        py_out.mkdir()
        s, rss, _ = measure([sys.executable, __file__, "--child", "python", *common, "--output", str(py_out)])
        assert same_files(cli_out, py_out), "the package's outputs differ from the CLI's"
        results["python"] = {"seconds": s, "peak_mib": rss}
        cli_s = results["cli"]["seconds"]
        rows.append(["rmbg_ultra in Python, no Ray (1 process)", n, f"{s:.1f}", f"{n / s:.3f}", f"{s / n:.2f}",
                     f"{cli_s / s:.2f}x", f"{rss:.0f}", "-"])

        for a in [int(x) for x in args.actors.split(",")]:
            out = work / f"ray{a}"
            s, sampler, stdout = run([sys.executable, __file__, "--child", "ray", *common, "--output", str(out),
                                      "--child-actors", str(a), "--num-cpus", str(args.num_cpus),
                                      "--cluster-cpus", str(args.cluster_cpus)])
            assert same_files(cli_out, out), f"Ray ({a} actors): outputs differ from the CLI's"
            phases = json.loads(stdout.strip().splitlines()[-1])
            results[f"ray{a}"] = {"seconds": s, **phases, "peak_tree_mib": sampler.peak_total / 2**20,
                                  "peak_actors_mib": sampler.peak_actors / 2**20}
            p = phases["pipeline"]
            rows.append([f"Ray Data, {a} actor(s): whole run", n, f"{s:.1f}", f"{n / s:.3f}", f"{s / n:.2f}",
                         f"{cli_s / s:.2f}x", f"{sampler.peak_total / 2**20:.0f}", f"{sampler.peak_actors / 2**20:.0f}"])
            rows.append([f"Ray Data, {a} actor(s): pipeline (no cluster start/stop)", n, f"{p:.1f}", f"{n / p:.3f}",
                         f"{p / n:.2f}", f"{cli_s / p:.2f}x", "", ""])

        header = ["run", "images", "wall s", "images/s", "s/image", "speed vs CLI", "peak RSS MiB", "actors' peak RSS MiB"]
        print(f"{n} images ({len(photos())} shared photos repeated), {args.method}, isnet-general on the CPU, "
              f"batch size {args.batch_size}, {os.cpu_count()} cores; Ray: {args.cluster_cpus} CPUs, {args.num_cpus} per actor")
        table(rows, header)
        if "ray1" in results:
            over = (results["ray1"]["pipeline"] - results["python"]["seconds"]) / n
            start = results["ray1"]["start"] + results["ray1"]["stop"]
            print(f"\nRay's overhead with 1 actor: {over * 1000:+.0f} ms per image over the package alone "
                  f"(pipeline against the Python run), plus {start:.1f} s to start and stop the local cluster")
        print("every output of every run: byte-identical to the CLI's")
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

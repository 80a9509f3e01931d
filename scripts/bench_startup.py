"""How long the everyday commands take to start and answer, and how much memory the service holds (issues 27, 38).

For each checkout given (this one, and optionally an older one for comparison, e.g. a ``git worktree add
/tmp/base <commit>``), with the same Python and the checkout first on ``PYTHONPATH``, it runs:

* ``python -c "import facerec"``, ``facerec --help``, ``facerec list``, ``facerec verify A B`` and
  ``facerec identify C`` (``list`` and ``identify`` on a gallery of two people made beforehand), each
  ``--runs`` times on a warm ONNX cache: the median wall time, the median CPU time (user + system: what the
  command itself spent, less swayed than wall time by other work on a busy machine), and the number of modules
  imported (``-X importtime`` lines) and whether torch was among them; the checkouts take turns run by run,
  so that other work on a shared machine weighs on each alike;
* ``facerec verify A B`` once on a fresh, empty cache (cold: exports and quantizes first);
* ``facerec serve``: peak RSS (VmHWM) once it answers ``/v1/health`` (idle) and after one ``/v1/verify``.

    python scripts/bench_startup.py --base /tmp/base --runs 5 --threads 1

Photos come from ``../shared/data/lfw_dev``. Run it on a quiet machine for numbers to compare with others.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEREC_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "data" / "lfw_dev" / "images"
A, B, C = (LFW / "Aaron_Patterson" / "Aaron_Patterson_0001.jpg", LFW / "Aaron_Sorkin" / "Aaron_Sorkin_0001.jpg",
           LFW / "Aaron_Sorkin" / "Aaron_Sorkin_0002.jpg")
HEAVY = ("torch", "torchvision", "facenet_pytorch")
#: The commands timed warm, by row name (``list`` and ``identify`` on the gallery of two people made first).
COMMANDS = {"import facerec": ["-c", "import facerec"], "facerec --help": ["-m", "facerec", "--help"],
            "facerec list": ["-m", "facerec", "list"], "facerec verify": ["-m", "facerec", "verify", str(A), str(B)],
            "facerec identify": ["-m", "facerec", "identify", str(C)]}


def env_for(checkout: Path, cache: Path, work: Path, threads: int) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout), "FACEREC_CACHE_DIR": str(cache),
            "FACEREC_WEIGHTS_DIR": os.environ.get("FACEREC_WEIGHTS_DIR", str(SHARED / "weights")),
            "FACEREC_DB": str(work / "gallery.db"), "FACEREC_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
            "FACEREC_OFFLINE": "1"}


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {run.stderr[-1500:]}")
    return elapsed, run


def children_cpu() -> float:
    """CPU seconds (user + system) spent so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def modules(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bool]:
    """How many modules ``args`` imports, and whether torch, torchvision or facenet_pytorch is among them."""
    _, run = timed(["-X", "importtime", *args], env, cwd)
    names = [line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    return len(names), any(name.split(".")[0] in HEAVY for name in names)


def peak_rss_serve(env: dict[str, str], cwd: Path, work: Path) -> tuple[float, float]:
    """Peak RSS in MB of ``facerec serve``: once it answers /v1/health, and after one /v1/verify."""
    import httpx

    db = work / "gallery.db"
    _, made = timed(["-m", "facerec", "keys", "create", "--role", "read", "--db", str(db), "--json"], env, cwd)
    key = json.loads(made.stdout)["key"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "facerec", "serve", "--db", str(db), "--port", str(port),
                               "--log-level", "warning"], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("facerec serve did not start")
            time.sleep(0.2)
        idle = _hwm(server.pid)
        with A.open("rb") as a, B.open("rb") as b:
            answer = httpx.post(f"{url}/v1/verify", headers={"X-API-Key": key}, timeout=120,
                                files={"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")})
        if answer.status_code != 200:
            raise RuntimeError(f"/v1/verify answered {answer.status_code}: {answer.text[:300]}")
        return idle, _hwm(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(checkouts: dict[str, Path], runs: int, threads: int) -> dict[str, dict[str, Any]]:
    """The numbers of each checkout (by its column name). The warm runs take turns, one checkout after the
    other, so that a load that comes and goes on a shared machine weighs on every column alike."""
    setups: dict[str, tuple[dict[str, str], Path]] = {}
    columns: dict[str, dict[str, Any]] = {label: {} for label in checkouts}
    try:
        for label, checkout in checkouts.items():
            work = Path(tempfile.mkdtemp(prefix="facerec-bench-"))
            env = env_for(checkout, work / "cache", work, threads)
            setups[label] = env, work
            cold, _ = timed(["-m", "facerec", "verify", str(A), str(B)], env, work)  # fresh cache: exports first
            columns[label]["verify (cold cache)"] = {"median_s": cold, "modules": None, "torch": None}
            timed(["-m", "facerec", "enroll", "Aaron Sorkin", str(B)], env, work)
            timed(["-m", "facerec", "enroll", "Aaron Patterson", str(A)], env, work)
        for name, args in COMMANDS.items():
            times: dict[str, list[float]] = {label: [] for label in setups}
            cpu: dict[str, list[float]] = {label: [] for label in setups}
            for _ in range(runs):
                for label, (env, work) in setups.items():
                    before = children_cpu()
                    times[label].append(timed(args, env, work)[0])
                    cpu[label].append(children_cpu() - before)
            for label, (env, work) in setups.items():
                count, heavy = modules(args, env, work)
                columns[label][name] = {"median_s": statistics.median(times[label]),
                                        "cpu_s": statistics.median(cpu[label]), "modules": count, "torch": heavy}
        for label, (env, work) in setups.items():
            try:
                idle, busy = peak_rss_serve(env, work, work)
                columns[label]["serve peak RSS (MB)"] = {"idle": idle, "after one verify": busy}
            except (RuntimeError, ImportError) as exc:
                columns[label]["serve peak RSS (MB)"] = {"error": str(exc)[:200]}
    finally:
        for _, work in setups.values():
            shutil.rmtree(work, ignore_errors=True)
    return columns


def table(columns: dict[str, dict[str, Any]]) -> str:
    names = list(columns)
    rows = [f"| measure | {' | '.join(names)} |", "|---" * (len(names) + 1) + "|"]
    keys = list(next(iter(columns.values())))
    for key in keys:
        cells = []
        for name in names:
            value: dict[str, Any] = columns[name].get(key, {})
            if "median_s" in value:
                cell = f"{value['median_s']:.2f} s"
                if value.get("cpu_s") is not None:
                    cell += f" (CPU {value['cpu_s']:.2f} s)"
                if value.get("modules") is not None:
                    cell += f", {value['modules']} modules{', torch' if value['torch'] else ''}"
            elif "error" in value:
                cell = f"error: {value['error']}"
            else:
                cell = ", ".join(f"{k} {v:.0f}" for k, v in value.items())
            cells.append(cell)
        rows.append(f"| {key} | {' | '.join(cells)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=None, help="An older checkout to compare with (git worktree).")
    parser.add_argument("--runs", type=int, default=5, help="Runs per command (the median is shown).")
    parser.add_argument("--threads", type=int, default=1, help="FACEREC_THREADS and OMP_NUM_THREADS.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    args = parser.parse_args()
    checkouts = {f"before ({args.base.name})": args.base.resolve()} if args.base is not None else {}
    columns = measure({**checkouts, "now": ROOT}, args.runs, args.threads)
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, "
          f"{args.threads} thread(s), median of {args.runs} runs (wall, and CPU in brackets), warm cache unless said")
    print(table(columns))
    if args.json:
        args.json.write_text(json.dumps(columns, indent=2))


if __name__ == "__main__":
    main()

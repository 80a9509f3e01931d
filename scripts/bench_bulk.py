"""Bulk enrollment throughput: plain ``enroll --from-dir`` beside ``--ray`` with 1 and 2 workers, same photos.

Each run enrolls the same folder (AT&T s1..sN, 10 photos each, from ../shared) into a fresh SQLite
gallery, as a separate ``python -m facerec`` process, and is timed from start to exit: Ray's start-up
(a local cluster and one model per actor) is part of what a user waits for, and is also given apart
(the time to the first committed face).

    FACEREC_THREADS=1 python scripts/bench_bulk.py --people 20
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ATT = Path(os.environ.get("FACEREC_SHARED", ROOT.parent / "shared")) / "data" / "att_faces"


def faces(db: Path) -> int:
    try:
        with sqlite3.connect(db) as connection:
            return int(connection.execute("select count(*) from faces").fetchone()[0])
    except sqlite3.Error:
        return 0


def timed(args: list[str], db: Path) -> tuple[float, float]:
    """Wall time of one enrollment, and the time until its first face was committed."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "facerec", "enroll", *args, "--db", str(db), "--json"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    while process.poll() is None:
        if first is None and faces(db) > 0:
            first = time.perf_counter() - start
        time.sleep(0.1)
    if process.returncode:
        raise SystemExit(process.stderr.read().decode()[-2000:])
    return time.perf_counter() - start, first or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "people"
        for number in range(1, args.people + 1):
            (root / f"s{number}").mkdir(parents=True)
            for photo in (ATT / f"s{number}").iterdir():
                (root / f"s{number}" / photo.name).symlink_to(photo)
        photos = sum(1 for _ in root.glob("*/*"))
        runs = [("enroll --from-dir (one process)", ["--from-dir", str(root)])]
        runs += [(f"--ray, {n} worker{'s' if n != '1' else ''}",
                  ["--from-dir", str(root), "--ray", "--workers", n]) for n in args.workers.split(",")]
        print(f"{photos} photos, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print("| run | photos | wall s | photos/s | first face committed after s | enrolled faces |")
        print("|---|---|---|---|---|---|")
        for number, (name, run) in enumerate(runs):
            db = Path(tmp) / f"g{number}.db"
            wall, first = timed(run, db)
            print(f"| {name} | {photos} | {wall:.1f} | {photos / wall:.2f} | {first:.1f} | {faces(db)} |", flush=True)


if __name__ == "__main__":
    main()

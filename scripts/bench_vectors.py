"""Vector backends at gallery scale: FAISS exact, FAISS PQ + exact re-rank (the recommended kind) and Milvus Lite.

Synthetic 128-d unit faces, generated in chunks of 100k from per-chunk seeds (bounded memory: the
same vectors in every run, never all of them in Python lists). Genuine probes are gallery faces plus
noise (cosine 0.7 to their source, like a new photo of an enrolled person). Each method runs in its
own process, so that its peak memory (max RSS) is its own. For each: build / insert time, peak memory,
p50/p99 single-query latency, recall@1 (the probe's source found first) and agreement with exact search.

    python scripts/bench_vectors.py --size 1000000 --methods faiss-flat,faiss-pq,milvus-flat,milvus-hnsw
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's index/, not an installed one

CHUNK = 100_000
DIM = 128


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def chunks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ids, vectors)`` of the synthetic gallery, ``CHUNK`` at a time, the same on every call."""
    for number, start in enumerate(range(0, size, CHUNK)):
        rows = min(CHUNK, size - start)
        yield (np.arange(start, start + rows, dtype=np.int64),
               unit(np.random.default_rng(1000 + number).standard_normal((rows, DIM), dtype=np.float32)))


def probes(size: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Genuine probes and the id of the face each was made from."""
    picks = np.sort(np.random.default_rng(0).choice(size, count, replace=False))
    sources = np.zeros((count, DIM), np.float32)
    for ids, vectors in chunks(size):
        inside = (picks >= ids[0]) & (picks <= ids[-1])
        sources[inside] = vectors[picks[inside] - ids[0]]
    noise = unit(np.random.default_rng(1).standard_normal((count, DIM), dtype=np.float32))
    return unit(0.7 * sources + 0.714 * noise), picks


def open_store(method: str, folder: Path):  # noqa: ANN201 - a VectorStore
    from index import open_vector_store

    backend, kind = method.split("-")
    uri = str(folder / "g.faiss") if backend == "faiss" else f"milvus://{folder / 'vectors.db'}"
    return open_vector_store(uri, model="bench", dim=DIM, kind=kind)  # type: ignore[arg-type]


def run_one(method: str, size: int, queries: int, folder: Path, threads: int = 1) -> dict:
    """Build one method's store and time its queries (in this process: its own memory)."""
    import faiss

    faiss.omp_set_num_threads(threads)  # single queries: threads only add synchronisation on a shared machine
    query, sources = probes(size, queries)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    store = open_store(method, folder)
    start = time.perf_counter()
    for ids, vectors in chunks(size):
        store.add(ids, vectors)
    store.commit(0)  # as the gallery does after every change (FAISS: writes the file; Milvus: flushes)
    build = time.perf_counter() - start
    found, times = [], []
    for row in query:
        begin = time.perf_counter()
        found.append(int(store.search(row[None], k=1).ids[0, 0]))
        times.append((time.perf_counter() - begin) * 1000)
    store.close()
    return {"method": method, "size": size, "queries": queries, "build_s": build,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "python_gb": base,
            "p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "recall_at_1": float(np.mean(np.array(found) == sources)), "found": found,
            "load_avg": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--methods", default="faiss-flat,faiss-pq,milvus-flat,milvus-hnsw")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads per query.")
    parser.add_argument("--out", default=None, help="Append each result as a JSON line to this file.")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one method here
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as folder:
            print(json.dumps(run_one(args.one, args.size, args.queries, Path(folder), args.threads)))
        return
    rows = []
    for method in args.methods.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", method, "--size", str(args.size), "--queries",
                              str(args.queries), "--threads", str(args.threads)], capture_output=True, text=True)
        if out.returncode:
            print(f"{method}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{args.size:>10} {method:<12} build {row['build_s']:7.1f}s peak {row['peak_gb']:5.2f} GB "
              f"p50 {row['p50_ms']:.3f} ms p99 {row['p99_ms']:.3f} ms recall@1 {row['recall_at_1']:.4f}", flush=True)
        if args.out:
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
    exact = next((r["found"] for r in rows if r["method"] == "faiss-flat"), None)
    print("\n| faces | method | build / insert s | peak memory GB | p50 ms | p99 ms | recall@1 | = exact |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        agree = f"{np.mean(np.array(r['found']) == np.array(exact)):.4f}" if exact else "-"
        print(f"| {r['size']:,} | {r['method']} | {r['build_s']:.1f} | {r['peak_gb']:.2f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['recall_at_1']:.4f} | {agree} |")


if __name__ == "__main__":
    main()

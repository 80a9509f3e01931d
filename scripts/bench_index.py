"""Gallery-scale search benchmark: FAISS exact / HNSW / IVF beside brute-force numpy.

Random unit vectors of the default model's dimension (128) at 10k, 100k and 1M gallery
faces. Queries are gallery vectors plus noise (cosine about 0.7 to their source, like a
genuine probe against its enrolled face). For each method: build time, memory, p50/p99
single-query latency and recall@1 against exact search. numpy brute force is what
face_recognition does (`face_distance` over every known encoding).

    python scripts/bench_index.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import os
import time

import faiss
import numpy as np

from index import VectorIndex


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def latencies(search, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(search(q[None, :]))
        times.append((time.perf_counter() - start) * 1000)
    return np.array(found), np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--nprobe", type=int, default=32)
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} cores, dim {args.dim}")
    rng = np.random.default_rng(0)
    rows = []
    for size in map(int, args.sizes.split(",")):
        data = unit(rng.standard_normal((size, args.dim), dtype=np.float32))
        ids = np.arange(size, dtype=np.int64)
        picks = rng.integers(0, size, args.queries)
        noise = unit(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
        queries = unit(data[picks] * 0.7 + noise * 0.714)
        truth = None
        methods = [("numpy brute force", None), ("faiss exact (flat)", "flat"),
                   ("faiss HNSW32", "hnsw"), (f"faiss IVF (nprobe {args.nprobe})", "ivf")]
        for name, kind in methods:
            before = rss_mb()
            start = time.perf_counter()
            if kind is None:
                matrix = data.copy()
                search = lambda q: int(np.argmax(matrix @ q[0]))  # noqa: E731
            else:
                nlist = max(16, int(4 * np.sqrt(size)))
                index = VectorIndex(args.dim, model="bench", kind=kind, ef_search=args.ef_search,
                                    nlist=nlist, nprobe=args.nprobe)
                if kind == "ivf":
                    index.train(data[rng.choice(size, min(size, 50 * nlist), replace=False)])
                index.add(ids, data)
                search = lambda q, index=index: int(index.search(q, 1).ids[0, 0])  # noqa: E731
            build = time.perf_counter() - start
            memory = rss_mb() - before
            found, times = latencies(search, queries)
            if kind == "flat":
                truth = found
            rows.append((size, name, build, memory, np.percentile(times, 50), np.percentile(times, 99), found))
            print(f"{size:>8} {name:<24} build {build:7.1f}s  mem {memory:7.0f} MB  "
                  f"p50 {rows[-1][4]:.3f} ms  p99 {rows[-1][5]:.3f} ms", flush=True)
            if kind is not None:
                del index
        rows[-4:] = [(*r[:6], float(np.mean(r[6] == truth))) for r in rows[-4:]]
        del data
    print()
    print("| gallery faces | method | build s | memory MB | p50 ms | p99 ms | recall@1 vs exact |")
    print("|---|---|---|---|---|---|---|")
    for size, name, build, memory, p50, p99, recall in rows:
        print(f"| {size:,} | {name} | {build:.1f} | {memory:.0f} | {p50:.3f} | {p99:.3f} | {recall:.4f} |")


if __name__ == "__main__":
    main()

"""Gallery-scale search benchmark: FAISS exact / PQ+re-rank / HNSW / IVF beside brute-force numpy.

Random unit vectors of the default model's dimension (128) at 10k, 100k and 1M gallery
faces. Two kinds of query:

- *probe*: a gallery vector plus noise, cosine 0.7 to its source, like a genuine photo of an
  enrolled person (LFW genuine pairs score 0.4 to 0.8 with MobileFaceNet);
- *random*: a fresh random unit vector, like a stranger. Its nearest face is barely nearer than
  the next thousand, the hardest case for any approximate index, and the answer is "not
  recognized" anyway; reported so that nothing is hidden.

For each method: build time, index size, p50/p99 single-query latency (probes) and recall@1
against exact search for both kinds. numpy brute force is what face_recognition does
(`face_distance` over every known encoding).

    python scripts/bench_index.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import faiss
import numpy as np

from index import VectorIndex


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def run_queries(search: Callable[[np.ndarray], int], queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Answers and per-query latencies in ms, one query at a time."""
    found, times = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(search(query[None, :]))
        times.append((time.perf_counter() - start) * 1000)
    return np.array(found), np.array(times)


def index_mb(index: VectorIndex) -> float:
    return faiss.serialize_index(index._index).nbytes / 2**20


def methods(args: argparse.Namespace) -> list[tuple[str, str | None, dict]]:
    out: list[tuple[str, str | None, dict]] = [("numpy brute force", None, {}), ("faiss exact (flat)", "flat", {})]
    out.append((f"faiss PQ{args.dim // 4}x4fs + exact re-rank ({args.refine}k)", "pq", {"refine": args.refine}))
    out += [(f"faiss HNSW32 efSearch {ef}", "hnsw", {"ef_search": ef}) for ef in args.ef_search]
    out.append((f"faiss IVF-Flat (nprobe {args.nprobe})", "ivf", {"nprobe": args.nprobe}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ef-search", default="128,512", type=lambda s: [int(x) for x in s.split(",")],
                        help="HNSW efSearch values, measured on one built graph.")
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--nprobe", type=int, default=64)
    parser.add_argument("--refine", type=int, default=64, help="PQ shortlist size, as a multiple of k.")
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} cores, dim {args.dim}")
    rng = np.random.default_rng(0)
    rows = []
    for size in map(int, args.sizes.split(",")):
        data = unit(rng.standard_normal((size, args.dim), dtype=np.float32))
        ids = np.arange(size, dtype=np.int64)
        picks = rng.integers(0, size, args.queries)
        probes = unit(data[picks] * 0.7 + unit(rng.standard_normal((args.queries, args.dim), dtype=np.float32)) * 0.714)
        strangers = unit(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(data)
        truth = [exact.search(queries, 1)[1][:, 0] for queries in (probes, strangers)]
        del exact
        hnsw: VectorIndex | None = None
        for name, kind, options in methods(args):
            start = time.perf_counter()
            if kind is None:
                matrix = data.copy()
                search = lambda q, m=matrix: int(np.argmax(m @ q[0]))  # noqa: E731
                size_mb = matrix.nbytes / 2**20
            else:
                if kind == "hnsw" and hnsw is not None:  # same graph, another efSearch
                    index = hnsw
                    faiss.downcast_index(index._index.index).hnsw.efSearch = options["ef_search"]
                else:
                    index = VectorIndex(args.dim, model="bench", kind=kind, nlist=max(16, int(4 * np.sqrt(size))),
                                        ef_construction=args.ef_construction, **options)
                    index.add(ids, data)
                    hnsw = index if kind == "hnsw" else hnsw
                search = lambda q, index=index: int(index.search(q, 1).ids[0, 0])  # noqa: E731
                size_mb = index_mb(index)
            build = time.perf_counter() - start
            found, times = run_queries(search, probes)
            strangers_found, _ = run_queries(search, strangers)
            row = (size, name, build, size_mb, np.percentile(times, 50), np.percentile(times, 99),
                   float(np.mean(found == truth[0])), float(np.mean(strangers_found == truth[1])))
            rows.append(row)
            print(f"{size:>8} {name:<44} build {build:7.1f}s  {size_mb:7.0f} MB  p50 {row[4]:.3f} ms  "
                  f"p99 {row[5]:.3f} ms  recall probe {row[6]:.4f} random {row[7]:.4f}", flush=True)
        del data, hnsw
    print()
    print("| gallery faces | method | build s | index MB | p50 ms | p99 ms | recall@1 probes | recall@1 random |")
    print("|---|---|---|---|---|---|---|---|")
    for size, name, build, size_mb, p50, p99, recall, recall_random in rows:
        print(f"| {size:,} | {name} | {build:.1f} | {size_mb:.0f} | {p50:.3f} | {p99:.3f} | {recall:.4f} | "
              f"{recall_random:.4f} |")


if __name__ == "__main__":
    main()

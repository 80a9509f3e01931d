"""Load benchmark of `facerec serve` on loopback: identify throughput and latency under 1, 4 and 16
concurrent clients while enrollers write, against the library's own photos/s on the same machine.

1. A gallery of --people LFW people (the first photo of each, real faces) is enrolled with the library.
2. The library's photos/s: ``Gallery.identify`` on the probe photos (second photos of enrolled people,
   as bytes) from --concurrency threads for --seconds (before and after the HTTP runs; their mean).
3. ``facerec serve`` is started in its own process on 127.0.0.1 (free port, --concurrency, --rate 0) and,
   for each client count, that many threads post the probes to /v1/identify for --seconds (at most
   --max-requests each) while --enrollers threads enroll further LFW people through /v1/people.
4. Afterwards every acknowledged enrollment must be in the gallery (GET /v1/people) and the index in step.

    FACEREC_THREADS=1 python scripts/bench_serve.py --people 1000 --clients 1,4,16 --seconds 20

With ``--large N`` it measures instead the server's memory (resident set of its process, sampled every
20 ms) while N clients at once post /v1/verify with 7000x7000 PNGs (49 megapixels, under a MB each: LFW
faces scaled up on a grey canvas, and a blank canvas, the detectors' worst case), --rounds times each;
once with the server's default --max-pixels and once with --large-max-pixels (high enough to decode them):

    FACEREC_THREADS=1 python scripts/bench_serve.py --large 4 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("FACEREC_SHARED", ROOT.parent / "shared")) / "data" / "lfw_dev" / "images"


def people_photos() -> list[list[Path]]:
    return [sorted(folder.glob("*.jpg")) for folder in sorted(LFW.iterdir()) if folder.is_dir()]


def build_gallery(db: Path, people: list[list[Path]], count: int) -> float:
    """Enroll the first photo of ``count`` people with the library; returns the seconds it took."""
    from facerec.gallery import Gallery

    folder = db.parent / "enroll"
    for photos in people[:count]:
        (folder / photos[0].parent.name).mkdir(parents=True)
        (folder / photos[0].parent.name / photos[0].name).symlink_to(photos[0])
    start = time.perf_counter()
    gallery = Gallery(db=db)
    report = gallery.enroll_dir(folder, progress=False, allow_duplicate=True)
    gallery.close()
    print(f"gallery: {len(report.added)} people enrolled ({len(report.failed)} photos without a usable face) "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    return time.perf_counter() - start


def library_rate(db: Path, probes: list[bytes], threads: int, seconds: float) -> float:
    """Photos/s of ``Gallery.identify`` from ``threads`` threads (the library, no HTTP)."""
    from facerec.errors import NoFaceError
    from facerec.gallery import Gallery

    gallery = Gallery(db=db)
    gallery.identify(probes[0])  # warm-up
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(n: int) -> None:
        i = n
        while time.perf_counter() < stop:
            try:
                gallery.identify(probes[i % len(probes)], top_k=5)
            except NoFaceError:
                pass
            done[n] += 1
            i += threads

    start, cpu = time.perf_counter(), time.process_time()
    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    gallery.close()
    LIBRARY_CPU_MS.append(1000 * (time.process_time() - cpu) / max(1, sum(done)))
    return sum(done) / (time.perf_counter() - start)


LIBRARY_CPU_MS: list[float] = []  # CPU ms per photo of each library run


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db: Path, port: int, args: argparse.Namespace, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "facerec", "serve", "--db", str(db), "--port", str(port), "--host", "127.0.0.1",
               "--concurrency", str(args.concurrency), "--queue", str(args.queue), "--rate", "0",
               "--log-level", "warning", *extra]
    server = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("the server did not start")


def run_level(server_pid: int, url: str, key: str, probes: list[bytes], clients: int, enrollers: int,
              newcomers: list[list[Path]], seconds: float, max_requests: int, enroll_interval: float) -> dict:
    """``clients`` identify loops and ``enrollers`` enroll loops for ``seconds``; their statuses and latencies."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acknowledged: list[str] = []
    enroll_statuses: dict[int, int] = {}
    enrolled_photos: list[int] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def identify(n: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
            for i in range(max_requests):
                if time.perf_counter() >= stop:
                    break
                start = time.perf_counter()
                answer = client.post("/v1/identify", files={"image": ("probe.jpg", probes[(n + i * clients) %
                                                                                          len(probes)])})
                with lock:
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code == 200:
                        latencies.append(time.perf_counter() - start)

    def enroll(n: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
            for photos in newcomers[n::enrollers]:
                if time.perf_counter() >= stop:
                    break
                name = photos[0].parent.name
                answer = client.post("/v1/people", data={"name": name, "allow_duplicate": "true"},
                                     files=[("images", (p.name, p.read_bytes())) for p in photos[:2]])
                with lock:
                    enroll_statuses[answer.status_code] = enroll_statuses.get(answer.status_code, 0) + 1
                    if answer.status_code in (200, 201):
                        acknowledged.append(name)
                        enrolled_photos.append(len(photos[:2]))
                time.sleep(enroll_interval)

    threads = [threading.Thread(target=identify, args=(n,)) for n in range(clients)]
    threads += [threading.Thread(target=enroll, args=(n,)) for n in range(enrollers)]
    start, client_cpu, server_cpu = time.perf_counter(), time.process_time(), cpu_seconds(server_pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    client_cpu, server_cpu = time.process_time() - client_cpu, cpu_seconds(server_pid) - server_cpu
    ms = np.array(latencies) * 1000
    return {"clients": clients, "seconds": elapsed, "ok": len(latencies), "rps": len(latencies) / elapsed,
            "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
            "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
            "statuses": statuses, "enroll_statuses": enroll_statuses, "acknowledged": acknowledged,
            "photos_rps": (len(latencies) + sum(enrolled_photos)) / elapsed,
            "server_cpu_ms": 1000 * server_cpu / max(1, len(latencies) + sum(enrolled_photos)),
            "client_cpu_share": client_cpu / elapsed, "server_cpu_share": server_cpu / elapsed}


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def large_canvas(name: str | None, number: int = 1, side: int = 7000) -> bytes:
    """A ``side x side`` PNG: grey, with the LFW photo ``name_number`` scaled to 2500x2500 on it (None: blank)."""
    import io

    from PIL import Image

    image = Image.new("RGB", (side, side), (120, 120, 120))
    if name is not None:
        photo = LFW / name / f"{name}_{number:04d}.jpg"
        image.paste(Image.open(photo).convert("RGB").resize((2500, 2500), Image.Resampling.BICUBIC), (3000, 1500))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def large_run(args: argparse.Namespace, db: Path, key: str, photos: dict[str, bytes], max_pixels: int | None) -> dict:
    """Start a server (``--max-pixels max_pixels``, None: its default), let ``args.large`` clients post
    ``args.rounds`` verifies each, alternately face/face and blank/face; the server's memory throughout."""
    port = free_port()
    extra = ["--timeout", str(args.timeout)] + (["--max-pixels", str(max_pixels)] if max_pixels else [])
    server = start_server(db, port, args, *extra)
    url = f"http://127.0.0.1:{port}"
    samples: list[int] = []
    done = threading.Event()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_bytes(server.pid))
            done.wait(0.02)

    def client(n: int) -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            for i in range(args.rounds):
                first = "blank" if (n + i) % 2 else "abel_1"
                start = time.perf_counter()
                answer = http.post("/v1/verify", files={"image_a": (f"{first}.png", photos[first], "image/png"),
                                                        "image_b": ("abel_2.png", photos["abel_2"], "image/png")})
                with lock:
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    latencies.append(time.perf_counter() - start)

    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as http:  # warm-up: a small pair
            pair = sorted((LFW / "Abel_Pacheco").glob("*.jpg"))[:2]
            http.post("/v1/verify", files={"image_a": pair[0].read_bytes(), "image_b": pair[1].read_bytes()})
        time.sleep(1.0)
        idle = rss_bytes(server.pid)
        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=client, args=(n,)) for n in range(args.large)]
        start = time.perf_counter()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        elapsed = time.perf_counter() - start
        time.sleep(2.0)
        done.set()
        sampler.join()
        after = rss_bytes(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return {"max_pixels": max_pixels or "default", "idle_mb": idle / 1e6, "peak_mb": max(samples) / 1e6,
            "after_mb": after / 1e6, "seconds": elapsed, "statuses": statuses,
            "max_latency_s": max(latencies) if latencies else float("nan")}


def large_main(args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} cores, FACEREC_THREADS={os.environ['FACEREC_THREADS']}; {args.large} clients at once, "
          f"{args.rounds} verifies each of two 7000x7000 PNGs; server concurrency {args.concurrency}, "
          f"timeout {args.timeout:g} s", flush=True)
    photos = {"abel_1": large_canvas("Abel_Pacheco", 1), "abel_2": large_canvas("Abel_Pacheco", 2),
              "blank": large_canvas(None)}
    print("PNG sizes: " + ", ".join(f"{k} {len(v) / 1e3:.0f} kB" for k, v in photos.items()), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gallery.db"
        from enrollment import AccessStore

        access = AccessStore(f"sqlite:///{db}")
        key = access.create_key("read", label="bench")[1]
        access.close()
        for max_pixels in (None, args.large_max_pixels):
            row = large_run(args, db, key, photos, max_pixels)
            rows.append(row)
            print(f"--max-pixels {row['max_pixels']}: idle {row['idle_mb']:.0f} MB, peak {row['peak_mb']:.0f} MB, "
                  f"after {row['after_mb']:.0f} MB; {row['seconds']:.1f} s, statuses {row['statuses']}", flush=True)
    print("\n| --max-pixels | server RSS idle MB | peak MB | 2 s after MB | seconds | slowest answer s | statuses |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row['max_pixels']} | {row['idle_mb']:.0f} | {row['peak_mb']:.0f} | {row['after_mb']:.0f} | "
              f"{row['seconds']:.1f} | {row['max_latency_s']:.1f} | {row['statuses']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1000, help="People in the gallery.")
    parser.add_argument("--clients", default="1,4,16", help="Concurrent identify clients, per run.")
    parser.add_argument("--enrollers", type=int, default=1, help="Concurrent enrollers during each run.")
    parser.add_argument("--enroll-interval", type=float, default=0.5,
                        help="Seconds each enroller waits between enrollments (of 2 photos each).")
    parser.add_argument("--seconds", type=float, default=20, help="Length of each run.")
    parser.add_argument("--max-requests", type=int, default=2000, help="At most this many requests per client.")
    parser.add_argument("--concurrency", type=int, default=2, help="Server and library: photos at once.")
    parser.add_argument("--queue", type=int, default=32, help="Server: requests admitted per worker.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    parser.add_argument("--large", type=int, default=0,
                        help="Instead: the server's memory under this many concurrent 7000x7000 verifies.")
    parser.add_argument("--rounds", type=int, default=2, help="--large: verifies per client.")
    parser.add_argument("--large-max-pixels", type=int, default=50_000_000,
                        help="--large: the server's --max-pixels for the second run (the first uses its default).")
    parser.add_argument("--timeout", type=float, default=30.0, help="--large: the server's --timeout.")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_THREADS", "1")
    if args.large:
        large_main(args)
        return
    people = people_photos()
    if args.people >= len(people):
        raise SystemExit(f"only {len(people)} LFW people: ask for fewer")
    probes = [photos[1].read_bytes() for photos in people[: args.people] if len(photos) > 1]
    newcomers = people[args.people :]
    print(f"{os.cpu_count()} cores, FACEREC_THREADS={os.environ['FACEREC_THREADS']}, {len(probes)} probe photos, "
          f"concurrency {args.concurrency}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gallery.db"
        build_gallery(db, people, args.people)
        library = [library_rate(db, probes, args.concurrency, args.seconds)]
        print(f"library: {library[0]:.1f} photos/s", flush=True)
        from enrollment import AccessStore

        access = AccessStore(f"sqlite:///{db}")
        key = access.create_key("enroll", label="bench")[1]
        access.close()
        port = free_port()
        server = start_server(db, port, args)
        url = f"http://127.0.0.1:{port}"
        rows, acknowledged = [], []
        try:
            offset = 0
            for clients in map(int, args.clients.split(",")):
                row = run_level(server.pid, url, key, probes, clients, args.enrollers, newcomers[offset:], args.seconds,
                                args.max_requests, args.enroll_interval)
                offset += sum(row["enroll_statuses"].values())  # attempted, acknowledged or not
                acknowledged += row["acknowledged"]
                rows.append(row)
                print(f"{clients:>3} clients: {row['rps']:.1f} req/s, p50 {row['p50']:.0f} ms, p99 {row['p99']:.0f} ms,"
                      f" statuses {row['statuses']}, enroll {row['enroll_statuses']}", flush=True)
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
                names = {p["name"] for p in client.get("/v1/people").json()["people"]}
                stats = client.get("/v1/stats").json()
        finally:
            server.terminate()
            server.wait(timeout=60)
        library.append(library_rate(db, probes, args.concurrency, args.seconds))
        print(f"library (after): {library[1]:.1f} photos/s", flush=True)
    lost = sorted(set(acknowledged) - names)
    lib = float(np.mean(library))
    print(f"\nacknowledged enrollments: {len(acknowledged)}, missing afterwards: {len(lost)}; index in step: "
          f"{stats['in_step']}; gallery {stats['identities']} people, {stats['faces']} faces")
    print(f"library identify: {lib:.1f} photos/s (runs: {', '.join(f'{r:.1f}' for r in library)}), "
          f"CPU {np.mean(LIBRARY_CPU_MS):.0f} ms per photo\n")
    print(f"gallery: {args.people} people; {args.enrollers} enroller(s) every {args.enroll_interval:g} s; "
          f"{args.seconds:g} s per run; server concurrency {args.concurrency}, queue {args.queue}")
    print("| clients | identify req/s | % of library | photos/s with enrolls | % of library | p50 ms | p99 ms | 200 | "
          "503 | other 5xx | other errors | enrollments acknowledged | server CPU ms/photo | cores used: server, "
          "clients |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        codes = row["statuses"]
        other_5xx = sum(v for k, v in codes.items() if k >= 500 and k != 503)
        other = sum(v for k, v in codes.items() if k < 500 and k != 200)
        print(f"| {row['clients']} | {row['rps']:.1f} | {100 * row['rps'] / lib:.0f}% | {row['photos_rps']:.1f} | "
              f"{100 * row['photos_rps'] / lib:.0f}% | {row['p50']:.0f} | "
              f"{row['p99']:.0f} | {codes.get(200, 0)} | {codes.get(503, 0)} | {other_5xx} | {other} | "
              f"{len(row['acknowledged'])} | {row['server_cpu_ms']:.0f} | {row['server_cpu_share']:.2f}, "
              f"{row['client_cpu_share']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"library": library, "rows": rows, "lost": lost, "stats": stats},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()

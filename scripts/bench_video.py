"""Video benchmark (issue 30): frames/s and identity accuracy of tracked identification (`facerec watch`)
against identifying every frame, and beside the loop a facenet-pytorch user would write, in one run.

The clips are made here from LFW photos (scripts/video_clips.py) at 1280x720, 10 fps: "people" (people
entering and leaving, a stranger, the lights out for 1.5 s; 80 frames), "pan" and "zoom" (40 frames each).
A gallery of the clips' people (not the stranger) is enrolled from two other photos each. Pipelines:

  * tracked: ``facerec.video.Watcher`` (YuNet on a 640-pixel copy, ByteTrack, each track identified once
    from the mean embedding of its 3 best-quality frames);
  * per-frame: ``Gallery.identify(frame, all_faces=True)`` on every frame, the default photo pipeline (YuNet,
    then RetinaFace on frames where YuNet finds nobody, MTCNN landmarks);
  * per-frame, tracker's detector: every face of every frame identified, with the tracked pipeline's
    detector (YuNet alone) and the same landmarks and embedder: what tracking itself saves;
  * facenet-pytorch: ``MTCNN(keep_all=True).detect`` + ``extract`` + ``InceptionResnetV1`` on every frame,
    nearest enrolled embedding. Its pretrained weights are not available offline, so InceptionResnetV1 has
    random weights: its speed is real, its answers are not (accuracy not reported).

Accuracy: per frame, each person on screen counts as right when a face whose centre is in their box is given
their name ("not recognized" for the stranger); per track, a track is right when its name is right and its
first and last frame are within 2 of the truth. ID switches: changes of the track id that follows one person
through one stretch on screen. Decoding is timed in every pipeline; each is warmed up first (by the accuracy
run), then the pipelines take turns on the people clip and each one's best pass counts (the machine is shared).

    OMP_NUM_THREADS=2 python scripts/bench_video.py --threads 2

With ``--video PATH`` (a real clip, no truth: speed only), ``facerec watch``'s Watcher (a face aligned and
embedded when its track needs it, those of a frame in one batch; shot cuts, the identity check;
``--check-seconds 0`` embeds every face) and the facenet-pytorch loop each run over its first ``--frames``
frames, the whole loop timed, decoding included, taking turns ``--passes`` times:

    OMP_NUM_THREADS=1 python scripts/bench_video.py --threads 1 --video ../shared/data/video/facenet-pytorch-crowd.mp4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facerec.errors import NoFaceError  # noqa: E402
from facerec.gallery import Gallery  # noqa: E402
from facerec.video import Watcher, open_video  # noqa: E402
from scripts.video_clips import ENROLLED, PAN, PEOPLE, ZOOM, Clip, make_clip, photo_path  # noqa: E402

Named = list[tuple[tuple[float, float, float, float], str | None]]  # one frame's faces and names


def centre_in(box: tuple[float, ...], truth: tuple[float, ...]) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return truth[0] <= x <= truth[2] and truth[1] <= y <= truth[3]


def frame_accuracy(clip: Clip, named: list[Named]) -> tuple[int, int]:
    """(right, total) over every person on screen in every frame."""
    right = total = 0
    for truth, faces in zip(clip.truth, named):
        for name, box in truth:
            expected = name if name in ENROLLED else None
            total += 1
            right += any(centre_in(face, box) and given == expected for face, given in faces)
    return right, total


def run_tracked(gallery: Gallery, clip: Clip) -> tuple[float, list[Named], dict[str, int]]:
    start = time.perf_counter()
    per_frame: list[list[tuple[int, Any]]] = []
    results = []
    with open_video(clip.path) as video:
        watcher = Watcher(gallery, fps=video.fps)
        for frame in video:
            results += watcher.feed(frame)
            for track_id, index in watcher.born.items():  # a track's first face, named with the next frame
                per_frame[-1][index] = (track_id, per_frame[-1][index][1])
            per_frame.append(list(watcher.last_faces))
        results += watcher.finish()
    seconds = time.perf_counter() - start
    names = {r.track_id: r.name for r in results}
    named = [[(face.box, names.get(i)) for i, face in faces if i >= 0] for faces in per_frame]
    return seconds, named, _track_scores(clip, results, per_frame)


def _track_scores(clip: Clip, results: list[Any], per_frame: list[list[tuple[int, Any]]]) -> dict[str, int]:
    """Tracks right (name and span), ID switches, and the number of tracks and truth stretches."""
    segments = clip.segments()
    switches, right = 0, 0
    for name, first, last in segments:
        ids = []
        for t in range(first, last + 1):
            box = dict(clip.truth[t])[name]
            ids += [i for i, face in per_frame[t] if i >= 0 and centre_in(face.box, box)][:1]
        switches += sum(a != b for a, b in zip(ids, ids[1:]))
        if ids:
            track = next((r for r in results if r.track_id == ids[0]), None)
            expected = name if name in ENROLLED else None
            right += track is not None and track.name == expected and abs(track.first_frame - first) <= 2 \
                and abs(track.last_frame - last) <= 2
    return {"right": right, "segments": len(segments), "tracks": len(results), "switches": switches}


def run_per_frame(identify: Callable[[np.ndarray], Named], clip: Clip) -> tuple[float, list[Named]]:
    start = time.perf_counter()
    named = []
    with open_video(clip.path) as video:
        for frame in video:
            named.append(identify(frame.rgb()))
    return time.perf_counter() - start, named


def default_identify(gallery: Gallery) -> Callable[[np.ndarray], Named]:
    def identify(pixels: np.ndarray) -> Named:
        try:
            return [(r.face.box, r.name) for r in gallery.identify(pixels, all_faces=True)]
        except NoFaceError:
            return []
    return identify


def tracker_detector_identify(gallery: Gallery) -> Callable[[np.ndarray], Named]:
    from facerec.alignment import align_faces
    from facerec.quality import assess_faces
    from facerec.video.watch import DETECT_SIDE, video_detector

    detector, refiner = video_detector(gallery.recognizer)
    recognizer = gallery.recognizer

    def identify(pixels: np.ndarray) -> Named:
        from facerec.models.detectors.base import shrink

        small, scale = shrink(pixels, DETECT_SIDE)
        faces = [f.scaled(1 / scale) for f in detector.detect([small])[0]]
        if not faces:
            return []
        if refiner is not None:
            faces = refiner.refine([pixels], [faces])[0]
        crops = align_faces(pixels, faces, recognizer.weights.alignment)
        results = gallery.identify_embeddings(faces, recognizer.embed_crops(crops),
                                              qualities=assess_faces(faces, crops))
        return [(r.face.box, r.name) for r in results]
    return identify


def facenet_identify(threads: int) -> Callable[[np.ndarray], Named]:
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1
    from PIL import Image

    torch.set_num_threads(threads)
    mtcnn = MTCNN(keep_all=True, device="cpu")
    resnet = InceptionResnetV1(pretrained=None).eval()  # random weights: the pretrained ones are not offline
    with torch.inference_mode():
        enrolled = []
        for name in ENROLLED:
            image = Image.open(photo_path(name, 1)).convert("RGB")
            boxes, _ = mtcnn.detect(image)
            enrolled.append(resnet(mtcnn.extract(image, boxes[:1], None))[0])
        gallery = torch.nn.functional.normalize(torch.stack(enrolled), dim=1)

    def identify(pixels: np.ndarray) -> Named:
        image = Image.fromarray(pixels)
        with torch.inference_mode():
            boxes, _ = mtcnn.detect(image)
            if boxes is None:
                return []
            vectors = torch.nn.functional.normalize(resnet(mtcnn.extract(image, boxes, None)), dim=1)
            best = (vectors @ gallery.T).argmax(1)
        return [(tuple(box), ENROLLED[int(i)]) for box, i in zip(boxes.tolist(), best)]
    return identify


def run_real(gallery: Gallery, path: Path, frames: int, **options: Any) -> tuple[float, int, dict[str, int]]:
    """Seconds, frames looked at, and what the Watcher saw, over the first ``frames`` frames of ``path``."""
    start = time.perf_counter()
    with open_video(path) as video:
        watcher = Watcher(gallery, fps=video.fps, **options)
        tracks = faces = 0
        for frame in video:
            if watcher.frames >= frames:
                break
            tracks += len(watcher.feed(frame))
            faces += len(watcher.last_faces)
        tracks += len(watcher.finish())
    cuts = len(watcher.cuts.cuts) if watcher.cuts is not None else 0
    return time.perf_counter() - start, watcher.frames, {"faces": faces, "tracks": tracks, "splits": watcher.splits,
                                                         "cuts": cuts, "embedded": watcher.embedded}


def bench_real(args: argparse.Namespace, gallery: Gallery) -> None:
    path = Path(args.video)
    loop = None if args.no_facenet else facenet_identify(args.threads)
    best = [float("inf"), float("inf")]
    options = {} if args.check_seconds is None else {"check_seconds": args.check_seconds}
    for _ in range(args.passes):
        seconds, looked, seen = run_real(gallery, path, args.frames, **options)
        best[0] = min(best[0], seconds)
        if loop is not None:
            start = time.perf_counter()
            with open_video(path) as video:
                for n, frame in enumerate(video):
                    if n >= looked:
                        break
                    loop(frame.rgb())
            best[1] = min(best[1], time.perf_counter() - start)
    print(f"\n{path.name}: first {looked} frames, {args.threads} thread(s), best of {args.passes} passes; "
          f"watch saw {seen['faces']} face-frames in {seen['tracks']} tracks ({seen['splits']} identity splits, "
          f"{seen['cuts']} shot cuts) and embedded {seen['embedded']} of them\n")
    print("| pipeline | frames/s |\n|---|---:|")
    print(f"| facerec watch (Watcher) | {looked / best[0]:.2f} |")
    if loop is not None:
        print(f"| facenet-pytorch loop (MTCNN keep_all + InceptionResnetV1) | {looked / best[1]:.2f} |")
        print(f"\nspeed-up: {best[1] / best[0]:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=4.0, help="Clip size in 320x180 units (4: 1280x720).")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime and torch threads.")
    parser.add_argument("--no-facenet", action="store_true", help="Skip the facenet-pytorch loop.")
    parser.add_argument("--passes", type=int, default=3, help="Timed passes per pipeline (the best counts).")
    parser.add_argument("--video", default=None, help="A real clip to time (speed only: no truth).")
    parser.add_argument("--frames", type=int, default=105, help="With --video: how many of its first frames.")
    parser.add_argument("--check-seconds", type=float, default=None,
                        help="With --video: the Watcher's check_seconds (0: embed every face; default: its own).")
    args = parser.parse_args()
    os.environ["FACEREC_THREADS"] = str(args.threads)
    folder = Path(tempfile.mkdtemp(prefix="bench-video-"))
    if args.video:
        gallery = Gallery(db=folder / "gallery.db")
        for name in ENROLLED[:2]:
            gallery.enroll(name, [photo_path(name, 1), photo_path(name, 2)])
        bench_real(args, gallery)
        return
    clips = {scene.name: make_clip(scene, folder, scale=args.scale) for scene in (PEOPLE, PAN, ZOOM)}
    gallery = Gallery(db=folder / "gallery.db")
    for name in ENROLLED:
        gallery.enroll(name, [photo_path(name, 1), photo_path(name, 2)])
    people = clips["people"]
    print(f"clips: {', '.join(f'{c.path.name} ({len(c.truth)} frames)' for c in clips.values())}; "
          f"{people.width}x{people.height}, {people.fps} fps; threads {args.threads}", file=sys.stderr)

    pipelines: list[tuple[str, Callable[[np.ndarray], Named]]] = [
        ("per-frame identification (photo pipeline)", default_identify(gallery)),
        ("per-frame identification (tracker's detector)", tracker_detector_identify(gallery))]
    if not args.no_facenet:
        pipelines.append(("facenet-pytorch loop (MTCNN + InceptionResnetV1, random weights)",
                          facenet_identify(args.threads)))
    # accuracy (and a warm-up of every pipeline): all three clips, once each
    tracked = {name: run_tracked(gallery, clip) for name, clip in clips.items()}
    right, total = map(sum, zip(*(frame_accuracy(clips[n], t[1]) for n, t in tracked.items())))
    scores = {k: sum(t[2][k] for t in tracked.values()) for k in ("right", "segments", "tracks", "switches")}
    accuracy = [f"{right / total:.1%}"]
    for label, identify in pipelines:
        if label.startswith("facenet"):  # its answers mean nothing: a warm-up only
            run_per_frame(identify, clips["zoom"])
            accuracy.append("n/a (random weights)")
            continue
        found = sum(frame_accuracy(c, run_per_frame(identify, c)[1])[0] for c in clips.values())
        accuracy.append(f"{found / total:.1%}")
    # speed: the people clip, the pipelines taking turns, each one's best pass (the machine is shared)
    best = [float("inf")] * (1 + len(pipelines))
    for _ in range(args.passes):
        best[0] = min(best[0], run_tracked(gallery, people)[0])
        for n, (_, identify) in enumerate(pipelines, start=1):
            best[n] = min(best[n], run_per_frame(identify, people)[0])
    fps = [len(people.truth) / seconds for seconds in best]
    rows = [("tracked identification (facerec watch)", fps[0], accuracy[0],
             f"{scores['right']}/{scores['segments']} ({scores['tracks']} tracks)", str(scores["switches"]))]
    rows += [(label, rate, acc, "-", "-") for (label, _), rate, acc in zip(pipelines, fps[1:], accuracy[1:])]
    fps_tracked = fps[0]
    print(f"\n{people.width}x{people.height} clip 'people' ({len(people.truth)} frames), {args.threads} threads, "
          f"best of {args.passes} passes; accuracy over all three clips ({total} person-frames)\n")
    print("| pipeline | frames/s | tracked speed-up | identity accuracy per frame | tracks right | ID switches |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, fps, accuracy, tracks, switches in rows:
        print(f"| {label} | {fps:.1f} | {fps_tracked / fps:.1f}x | {accuracy} | {tracks} | {switches} |")


if __name__ == "__main__":
    main()

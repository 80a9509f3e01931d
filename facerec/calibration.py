"""Calibrate a model's decisions on photos of people: ``facerec models calibrate --photos DIR``.

``DIR`` is a folder of folders, one per person, several photos each (``--photos`` may be given once per
condition, e.g. one folder of office photos and one of badge photos: each is a *condition group* whose strangers
are measured among themselves). Each folder's people, in a fixed order, take one of three roles:

- **cohort** (one in four): their faces make the score-normalisation cohort (:mod:`facerec.cohort`), kept only as
  *entries* that each average alike faces of :data:`MIX` different people (:func:`cohort_entries`: an entry stands
  for a kind of face under a kind of light) and so hold no one's face template;
- **calibration** (one in four): their faces, normalised against the cohort, give each group's FPIR tables, from
  which every threshold is read: an open-set gallery's at its size, and ``verify``'s (a one-person gallery);
- **held out** (the other half): never used to choose anything; the report's FNIR, FPIR, FAR and TAR are measured
  on them, through the same decision the product makes (:class:`facerec.Gallery`,
  :func:`facerec.open_set.pair_decision`), each with a 95% Wilson interval and the number of people behind it.

The result is written to the user's model folder (:func:`calibration_files`), the cohort's sha256 and the
embedding-space key (:mod:`facerec.embedding_space`) in its record; the product then uses it in place of the one
that ships with the model. A set too small to calibrate on is refused, saying how many more people it needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facerec.errors import FaceRecError
from facerec.open_set import FAR, FPIR

if TYPE_CHECKING:
    from facerec.cohort import Cohort
    from facerec.recognizer import FaceRecognizer

__all__ = ["K", "MIN_PEOPLE", "MIN_GROUP_PEOPLE", "MIX", "CalibrationError", "Calibration", "PhotoFolder",
           "build_calibration", "cohort_entries", "condition_tables", "det_plot", "far_curves", "people_folders",
           "roles", "wilson", "write_calibration"]

MIN_PEOPLE = 40  # people with >= MIN_PHOTOS photos, over all folders: a quarter calibrates, a half is held out
MIN_GROUP_PEOPLE = 12  # per folder (condition group): 3 calibration people, 6 held out
MIN_PHOTOS = 2
MIX = 5  # a cohort entry averages one face each of this many people
MAX_COHORT_FACES = 6000
K = 200  # cohort scores averaged per side (at most half the entries)
ENTRY_DECIMALS = 4  # the record keeps the cohort entries to this many decimals (a float16 keeps about 3.3 digits)
T_GRID = np.round(np.arange(-2.0, 14.0001, 0.05), 2)
N_GRID = np.array([1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 5000, 10_000, 100_000, 1_000_000])
REPORT_GALLERY = 100  # the largest gallery the report enrolls (half the held-out people of a group, at most)


class CalibrationError(FaceRecError, ValueError):
    """Photos that cannot calibrate a model: too few people or photos (says how many more), no faces."""


@dataclass(frozen=True)
class PhotoFolder:
    """A folder of people's folders and the condition group it stands for (its name, by default)."""

    path: Path
    group: str

    @classmethod
    def of(cls, text: str | Path, group: str | None = None) -> PhotoFolder:
        """``DIR`` (named by its folder) or ``NAME=DIR``.

        >>> PhotoFolder.of("office=/data/office photos").group
        'office'
        """
        name, sep, folder = str(text).partition("=")
        if sep and name and not Path(text).exists():
            return cls(Path(folder), group or name)
        path = Path(text)
        return cls(path, group or path.resolve().name or "photos")


def people_folders(folder: Path) -> list[tuple[str, list[Path]]]:
    """Each person's name and photos (image files directly in their folder), people in a fixed order (name length,
    then name: unrelated to who they are)."""
    from facerec.io import IMAGE_SUFFIXES

    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a folder (expected a folder of folders, one per person)")
    found = []
    for person in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        photos = sorted(p for p in person.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            found.append((person.name, photos))
    return found


def roles(count: int) -> list[str]:
    """The role of each of ``count`` people, by rank: ``cohort``, ``calibration`` or ``held out``.

    >>> roles(6)
    ['calibration', 'held out', 'cohort', 'held out', 'calibration', 'held out']
    """
    return [{0: "calibration", 2: "cohort"}.get(rank % 4, "held out") for rank in range(count)]


def check_enough(folders: Sequence[tuple[PhotoFolder, list[tuple[str, list[Path]]]]]) -> None:
    """Refuse a set too small to calibrate on, saying how many more people it needs."""
    counts = {folder.group: sum(len(photos) >= MIN_PHOTOS for _, photos in people) for folder, people in folders}
    total = sum(counts.values())
    if total < MIN_PEOPLE:
        raise CalibrationError(
            f"too few people to calibrate on: {total} with {MIN_PHOTOS} or more photos each, {MIN_PEOPLE} needed "
            f"(add {MIN_PEOPLE - total} more; a quarter make the cohort, a quarter calibrate, half are held out "
            "to measure the result)")
    small = {group: n for group, n in counts.items() if n < MIN_GROUP_PEOPLE}
    if small:
        group, n = next(iter(small.items()))
        raise CalibrationError(f"too few people in {group}: {n} with {MIN_PHOTOS} or more photos, "
                               f"{MIN_GROUP_PEOPLE} needed per folder (add {MIN_GROUP_PEOPLE - n} more, or merge it "
                               "into another folder)")


@dataclass
class Embedded:
    """Every usable photo: its group (index), person (``group/name``), role, embedding and low-quality flag."""

    group: np.ndarray
    person: np.ndarray
    role: np.ndarray
    embedding: np.ndarray
    low: np.ndarray

    def rows(self, role: str, group: int | None = None) -> np.ndarray:
        mask = self.role == role
        return mask if group is None else mask & (self.group == group)


def embed_folders(recognizer: FaceRecognizer, folders: Sequence[tuple[PhotoFolder, list[tuple[str, list[Path]]]]],
                  *, progress: bool = False) -> Embedded:
    """The largest face of every photo (photos without a face, or unreadable, are left out), embedded as
    ``recognizer`` embeds, with its quality flag (:mod:`facerec.quality`)."""
    from facerec.progress import tqdm
    from facerec.quality import assess_faces

    rows: list[tuple[int, str, str, Path]] = []
    for g, (folder, people) in enumerate(folders):
        for (name, photos), role in zip(people, roles(len(people))):
            rows += [(g, f"{folder.group}/{name}", role, photo) for photo in photos]
    paths = [row[3] for row in rows]
    vectors = np.zeros((len(paths), recognizer.weights.embedding_size), np.float32)
    ok, low = np.zeros(len(paths), bool), np.zeros(len(paths), bool)
    with tqdm(total=len(paths), unit="img", desc="embedding", disable=not progress) as bar:
        for start, aligned in recognizer.iter_aligned(paths, select="largest", fallback=None, batch_size=32,
                                                      collect_errors=True):
            count = len(aligned.crops)
            vectors[start : start + count] = recognizer.embed_crops(aligned.crops)
            ok[start : start + count] = [error is None for error in aligned.errors]
            low[start : start + count] = [q.low for q in assess_faces(aligned.faces, aligned.crops)]
            bar.update(count)
    if not ok.any():
        raise CalibrationError("no face was found in any of the photos")
    return Embedded(np.array([r[0] for r in rows])[ok], np.array([r[1] for r in rows])[ok],
                    np.array([r[2] for r in rows])[ok], vectors[ok], low[ok])


def cohort_entries(vectors: np.ndarray, owners: np.ndarray, *, mix: int = MIX, seed: int = 0) -> np.ndarray:
    """The cohort as entries that hold no one's face: taken in a seeded order, each face not yet used is joined by
    the most similar unused faces of ``mix - 1`` other people (one face each), and the ``mix`` faces are kept only
    as their mean (unit length). Every face is in at most one entry; alike faces (a kind of face under a kind of
    light) share one, which is what the cohort measures. At most :data:`MAX_COHORT_FACES` faces (a seeded sample).
    Measured on the shipped calibration against the faces themselves: docs/results/open_set.md."""
    rng = np.random.default_rng(seed)
    vectors, owners = np.asarray(vectors, np.float32), np.asarray(owners)
    if len(vectors) > MAX_COHORT_FACES:
        keep = np.sort(rng.choice(len(vectors), MAX_COHORT_FACES, replace=False))
        vectors, owners = vectors[keep], owners[keep]
    similar = vectors @ vectors.T
    free = np.ones(len(vectors), bool)
    entries = []
    for seed_face in rng.permutation(len(vectors)):
        if not free[seed_face]:
            continue
        candidates = np.nonzero(free)[0]
        chosen, people = [int(seed_face)], {owners[seed_face]}
        for face in candidates[np.argsort(-similar[seed_face, candidates], kind="stable")]:
            if len(chosen) == mix:
                break
            if owners[face] not in people:
                chosen.append(int(face))
                people.add(owners[face])
        if len(chosen) < mix:
            break  # fewer than mix people left unused
        free[chosen] = False
        mean = vectors[chosen].mean(axis=0)
        entries.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
    return np.array(entries, np.float32).reshape(-1, vectors.shape[1])


def far_curves(scores: np.ndarray, people: np.ndarray, t_grid: np.ndarray = T_GRID) -> tuple[np.ndarray, np.ndarray]:
    """For each face (row of the square ``scores``), the person-balanced fraction of the other people's faces
    scoring at or above each threshold of ``t_grid``; and each face's weight (each person counts once)."""
    _, person_index, counts = np.unique(people, return_inverse=True, return_counts=True)
    face_weight = 1.0 / counts[person_index]
    curves = np.zeros((len(scores), len(t_grid)))
    for row in range(len(scores)):
        other = person_index != person_index[row]
        values, weights = scores[row, other], face_weight[other] / face_weight[other].sum()
        order = np.argsort(values)
        reach = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])  # weight at or above each value
        curves[row] = reach[np.searchsorted(values[order], t_grid, side="left")]
    return curves, face_weight


def condition_tables(embedded: Embedded, groups: Sequence[str], cohort: Cohort,
                     log: Callable[[str], None] | None = None) -> tuple[list[str], np.ndarray, list[float | None]]:
    """The groups (each condition, then the low-quality group), their FPIR tables (``G x M x T``) and their
    homogeneity (None for the low-quality group), from the calibration people's faces."""
    from facerec.cohort import LOW_QUALITY_GROUP, as_norm, fpir_table, homogeneity

    tables, alike, low_curves, low_weights = [], [], [], []
    for g, group in enumerate(groups):
        rows = embedded.rows("calibration", g)
        vectors, people, low = embedded.embedding[rows], embedded.person[rows], embedded.low[rows]
        side = cohort.stats(vectors)
        scores = as_norm(vectors @ vectors.T, side, side)
        curves, weights = far_curves(scores, people)
        tables.append(fpir_table(curves, weights, N_GRID))
        own = np.where(people[:, None] == people[None, :], -np.inf, scores)  # as facerec.cohort.own_scores
        alike.append(homogeneity(own[~low][:, ~low], people[~low], margin=0.0))  # as a gallery measures it
        low_curves.append(curves[low])
        low_weights.append(weights[low] / weights.sum())  # a low-quality face weighs as a person of its group does
        if log is not None:
            log(f"{group}: {len(set(people.tolist()))} calibration people, {len(vectors)} faces, "
                f"{int(low.sum())} low quality")
    curves = np.concatenate(low_curves)
    tables.append(fpir_table(curves, np.concatenate(low_weights), N_GRID) if len(curves) else tables[0] * 0.0)
    return list(groups) + [LOW_QUALITY_GROUP], np.stack(tables), alike + [None]


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a rate ``hits / total``.

    >>> [round(v, 4) for v in wilson(1, 100)]
    [0.0018, 0.0545]
    """
    if total <= 0:
        return 0.0, 1.0
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(hits: int, total: int, people: int) -> dict[str, Any]:
    low, high = wilson(hits, total)
    return {"rate": round(hits / total, 6) if total else None, "ci95": [round(low, 6), round(high, 6)],
            "count": hits, "of": total, "people": people}


@dataclass
class Calibration:
    """A model's calibration: its record (cohort entries, tables, people, held-out report: what is written) and
    the full held-out report (with the scores a DET plot is drawn from)."""

    record: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)


def build_calibration(recognizer: FaceRecognizer, folders: Sequence[PhotoFolder], *, fpir: float = FPIR,
                      far: float = FAR, progress: bool = False, command: str = "",
                      log: Callable[[str], None] | None = None, embedded: Embedded | None = None,
                      keep_faces: bool = False) -> tuple[Calibration, Cohort, Embedded]:
    """Calibrate ``recognizer``'s model on the people of ``folders`` (see the module docstring) and measure the
    result on the held-out people at ``fpir`` (identify) and ``far`` (verify); ``embedded``: the folders' faces
    as an earlier call embedded them with this recognizer (a script's cache). ``keep_faces`` keeps the cohort
    people's faces as they are instead of as entries (the user's own photos, kept on their machine: a sharper
    cohort, measured in docs/results/open_set.md)."""
    from facerec.cohort import Cohort, entries_as_read, entries_digest
    from facerec.embedding_space import embedding_space

    scanned = [(folder, people_folders(folder.path)) for folder in folders]
    if len({folder.group for folder in folders}) < len(folders):
        raise CalibrationError("two --photos folders have the same name: name each condition once")
    check_enough(scanned)
    if embedded is None:
        embedded = embed_folders(recognizer, scanned, progress=progress)
    in_cohort = embedded.rows("cohort")
    if keep_faces:
        entries = embedded.embedding[in_cohort]
        owners = np.unique(embedded.person[in_cohort], return_inverse=True)[1]
    else:
        entries = cohort_entries(embedded.embedding[in_cohort], embedded.person[in_cohort])
        owners = np.arange(len(entries))
    if len(entries) < 4:
        raise CalibrationError(f"the cohort people's photos gave {len(entries)} cohort entries of {MIX} people "
                               "each: add more people")
    written = np.round(entries.astype(np.float64), ENTRY_DECIMALS).tolist()  # as the record keeps them
    owner_list = [int(o) for o in owners]
    entries, digest = entries_as_read(written), entries_digest(written, owner_list)  # the tables use them as read
    k = int(min(K, max(2, len(entries) // 2)))
    groups = [folder.group for folder in folders]
    bare = Cohort(entries, owners, k, T_GRID, N_GRID, (), np.zeros((0, len(N_GRID), len(T_GRID))), digest)
    names, table, alike = condition_tables(embedded, groups, bare, log)
    cohort = Cohort(entries, owners, k, T_GRID, N_GRID, tuple(names), table, digest,
                    np.array([np.nan if a is None else a for a in alike], np.float64))
    who = {role: sorted(set(embedded.person[embedded.role == role].tolist()))
           for role in ("cohort", "calibration", "held out")}
    weights = recognizer.weights
    record: dict[str, Any] = {
        "format": 2, "model": weights.key, "weights_sha256": weights.sha256,
        "space": embedding_space(recognizer, recognizer.even_light), "command": command,
        "photos": [{"group": f.group, "people": len(p), "photos": sum(len(x) for _, x in p)} for f, p in scanned],
        "faces": int(len(embedded.person)), "cohort_entries": int(len(entries)), "cohort_kind":
        "faces (kept as they are)" if keep_faces else f"entries, each the mean of {MIX} people's faces",
        "mix": MIX, "k": k, "groups": names,
        "people": {"cohort": who["cohort"], "calibration": who["calibration"], "held_out": who["held out"]},
        "homogeneity": [None if h is None else round(h, 6) for h in alike],
        "t_grid": [round(float(t), 6) for t in T_GRID], "n_grid": [int(n) for n in N_GRID],
        "table": [[[float(f"{v:.9g}") for v in row] for row in group] for group in table.astype(np.float64)],
        "entries": written, "entry_people": owner_list, "cohort_sha256": digest,
    }
    calibration = Calibration(record)
    calibration.report = held_out_report(recognizer, embedded, groups, cohort, fpir=fpir, far=far)
    record["report"] = {"fpir": fpir, "far": far, "groups": {
        group: {"identify": {k: v for k, v in found["identify"].items() if k != "det"}, "verify": found["verify"]}
        for group, found in calibration.report["groups"].items()}}  # the DET's scores are not kept
    return calibration, cohort, embedded


def held_out_report(recognizer: FaceRecognizer, embedded: Embedded, groups: Sequence[str], cohort: Cohort, *,
                    fpir: float, far: float) -> dict[str, Any]:
    """Per group, on the held-out people only: open-set FNIR and FPIR at ``fpir`` through a gallery of up to
    :data:`REPORT_GALLERY` of them (first photo enrolled, the others mated probes; the rest strangers), and
    verify's FAR and TAR at ``far`` on their different- and same-person pairs, each with its 95% interval."""
    report: dict[str, Any] = {"fpir": fpir, "far": far, "groups": {}}
    for g, group in enumerate(groups):
        rows = np.nonzero(embedded.rows("held out", g))[0]
        people = embedded.person[rows]
        names = sorted(set(people.tolist()))
        several = [p for p in names if (people == p).sum() >= 2]
        enrolled = several[::2][:REPORT_GALLERY]
        strangers = [p for p in names if p not in set(enrolled)]
        report["groups"][group] = {"identify": _open_set(recognizer, embedded, rows, enrolled, strangers, cohort,
                                                         fpir),
                                   "verify": _pairs(embedded, rows, cohort, recognizer, far)}
    return report


def _open_set(recognizer: FaceRecognizer, embedded: Embedded, rows: np.ndarray, enrolled: list[str],
              strangers: list[str], cohort: Cohort, fpir: float) -> dict[str, Any]:
    """FNIR and FPIR of a gallery of ``enrolled`` (each one's first photo), decided by :class:`facerec.Gallery`."""
    from enrollment import NewFace
    from facerec.detection import Face
    from facerec.gallery import Gallery
    from facerec.quality import FaceQuality

    people = embedded.person[rows]
    first = {name: int(rows[np.nonzero(people == name)[0][0]]) for name in enrolled}
    mated = [int(r) for r, p in zip(rows, people) if p in first and first[p] != r]
    others = [int(r) for r, p in zip(rows, people) if p in set(strangers)]
    gallery = Gallery(recognizer, db="sqlite://", fpir=fpir, normalize=False)  # no model calibration loaded:
    gallery.use_cohort(cohort)  # it decides with the one being measured
    gallery.record_crops()
    label = {name: f"person {n}" for n, name in enumerate(first)}  # a gallery name holds no slash
    gallery.store.enroll_many([(label[name], NewFace(embedded.embedding[row], f"calibration-{row}"))
                               for name, row in first.items()])
    face = Face(box=(0.0, 0.0, 1.0, 1.0), score=1.0, landmarks=())

    def decide(probe_rows: list[int]) -> list[Any]:
        if not probe_rows:
            return []
        qualities = [FaceQuality(0.0 if embedded.low[r] else 1.0) for r in probe_rows]
        return gallery.identify_embeddings([face] * len(probe_rows), embedded.embedding[probe_rows],
                                           qualities=qualities)

    named, unknown = decide(mated), decide(others)
    misses = sum(answer.name != label[embedded.person[r]] for answer, r in zip(named, mated))
    false = sum(answer.name is not None for answer in unknown)
    threshold = gallery.calibration().threshold
    gallery.close()
    # for the DET plot: each mated probe's score where its best candidate is its own person (else -inf), and each
    # stranger's best score
    mated_scores = [a.score if a.candidates and a.candidates[0].name == label[embedded.person[r]] else -math.inf
                    for a, r in zip(named, mated)]
    return {"gallery_size": len(first), "threshold": round(threshold, 4),
            "fnir": _rate(misses, len(mated), len(first)), "fpir": _rate(false, len(others), len(strangers)),
            "det": {"mated": [round(v, 4) for v in mated_scores], "strangers": [round(a.score, 4) for a in unknown]}}


def det_plot(report: dict[str, Any], path: Path) -> None:
    """Draw each group's held-out DET curve (FNIR against FPIR as the threshold moves, the operating point
    marked) to ``path`` (needs the plots extra)."""
    from facerec.extras import import_extra

    import_extra("matplotlib", "the DET plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5))
    for group, found in report["groups"].items():
        identify = found["identify"]
        mated, strangers = np.array(identify["det"]["mated"]), np.array(identify["det"]["strangers"])
        if not len(mated) or not len(strangers):
            continue
        grid = np.unique(np.concatenate([mated[np.isfinite(mated)], strangers]))
        fpir = np.array([(strangers >= t).mean() for t in grid])
        fnir = np.array([(mated < t).mean() for t in grid])
        axes.plot(np.maximum(fpir, 1e-4), np.maximum(fnir, 1e-4), label=f"{group} (gallery {identify['gallery_size']})")
        axes.scatter([max(identify["fpir"]["rate"] or 0, 1e-4)], [max(identify["fnir"]["rate"] or 0, 1e-4)])
    axes.set(xscale="log", yscale="log", xlabel="FPIR (held-out strangers)", ylabel="FNIR (held-out mated probes)",
             title=f"open-set DET, held-out people (point: FPIR {report['fpir']:g} promised)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _pairs(embedded: Embedded, rows: np.ndarray, cohort: Cohort, recognizer: FaceRecognizer,
           far: float) -> dict[str, Any]:
    """verify's FAR on every different-person pair of the held-out faces and its TAR on every same-person pair,
    decided by :func:`facerec.open_set.pair_decision`."""
    from facerec.open_set import pair_decision

    vectors, people, low = embedded.embedding[rows], embedded.person[rows], embedded.low[rows]
    upper = np.triu(np.ones((len(rows), len(rows)), bool), 1)
    same = (people[:, None] == people[None, :]) & upper
    different = (people[:, None] != people[None, :]) & upper
    scores, thresholds = pair_decision(cohort, recognizer.weights, vectors, vectors, low, low, far)
    accepted = scores >= thresholds
    return {"threshold": round(float(np.min(thresholds)), 4),
            "far": _rate(int(accepted[different].sum()), int(different.sum()), len(set(people.tolist()))),
            "tar": _rate(int(accepted[same].sum()), int(same.sum()),
                         len({p for p in people.tolist() if (people == p).sum() >= 2}))}


def write_calibration(calibration: Calibration, path: Path) -> None:
    """Write the record (its cohort entries in it) by atomic replace, and read calibrations afresh."""
    from facerec.cohort import forget_loaded
    from facerec.fileio import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(calibration.record, separators=(",", ":")) + "\n")
    forget_loaded()

"""Open-set identification on the shared data: cohort score normalisation, face quality, several photos.

Every photo of LFW dev, AT&T and Extended Yale B is embedded once (default recognizer; ``--cache`` keeps
them). Scores, thresholds and decisions come from the library's own functions (facerec.cohort,
facerec.open_set, facerec.quality), as ``Gallery.identify`` uses them; ``--check`` replays one set through a
real ``Gallery`` (SQLite + FAISS) and counts the decisions that differ.

No threshold is chosen on the people it scores. scripts/build_cohort.py makes every fourth person of each
set (sorted by name length, name; rank % 4 == 2) the cohort, never scored, and calibrates the shipped FPIR
tables on all the others. So the measurement CROSS-FITS: the non-cohort people of each set are split in two
halves by person (seeded, ``--repeats`` splits), tables built (build_cohort.calibration_tables) from one half
score the other and the other way round, pooled: how the shipped tables behave on new people. The old single
split (rank % 4 == 0 calibrates, odd ranks scored) is ``--single-split``. In each scored half:

  * LFW dev: people with 2+ photos enrolled (first photo), probed with the rest; people with one photo are
    the strangers.
  * AT&T, Yale B: each person enrolled from the first photo (Yale B: frontal light), probed with
    the others; for strangers each person in turn leaves the gallery and all their photos are probed
    against the others (leave-one-person-out). "Yale B 25" keeps the probes lit within 25 degrees of the camera axis
    (the light's angle, from azimuth and elevation: Yale B's subsets 1 and 2).

Rules (rows of each table):
  * cosine (today): the raw cosine, the self-calibrating default (the model's size-aware threshold, or the
    gallery's own impostor tail where stricter);
  * cosine + quality: the same, low-quality probes answered "not recognized (low quality)";
  * AS-norm: cohort-normalised scores, the cohort's FPIR-table threshold for the gallery's size (or the
    gallery's own normalised impostor tail where stricter);
  * AS-norm + quality (the default): the same, low-quality probes held to the stricter low-quality threshold.
Columns: FNIR at FPIR 1% (a threshold passing 1% of one half of the strangers, scored on the other half,
both ways), FNIR and FPIR at the default decision. Then several photos per person (AT&T, Yale B: 3 enrolled
photos): best of faces vs a quality-weighted mean template. DET plots (docs/det_<set>.png) and the cost in ms.

    python scripts/eval_identify.py --shared ../shared [--cache /tmp/facerec-shared-int8.npz] [--check]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facerec import FaceRecognizer
from facerec.cohort import Cohort, as_norm, homogeneity, load_cohort, own_scores
from facerec.open_set import FAR, MIN_PEOPLE, calibrate, decision_thresholds

sys.path.insert(0, str(Path(__file__).parent))
from build_cohort import calibration_tables, embed_shared  # noqa: E402 - a sibling script

FPIR = 0.01
NAMES = {"lfw": "LFW dev", "att": "AT&T", "yale": "Yale B"}


@dataclass
class Trial:
    """One set's probes: decision scores of mated probes (-inf where the best candidate is someone else)
    and of strangers (their best candidate), per rule, with the thresholds of the default decision."""

    mated: dict[str, np.ndarray]
    strangers: dict[str, np.ndarray]
    mated_threshold: dict[str, np.ndarray]
    stranger_threshold: dict[str, np.ndarray]
    mated_frontal: np.ndarray
    stranger_frontal: np.ndarray


def frontal(path: str) -> bool:
    """A Yale B photo lit within 25 degrees of the camera axis: the light's angle from it, arccos(cos A cos E)
    for the azimuth A and elevation E of ``P00A+005E-10``, is at most 25 degrees (Yale B's subsets 1 and 2,
    Georghiades et al. 2001). False elsewhere."""
    found = re.search(r"P00A([+-]\d{3})E([+-]\d{2})", path)
    if found is None:
        return False
    azimuth, elevation = (math.radians(int(angle)) for angle in found.groups())
    return math.degrees(math.acos(math.cos(azimuth) * math.cos(elevation))) <= 25.0 + 1e-9


class Scorer:
    """Decision scores and thresholds of each rule for one gallery (``enrolled``: rows of the shared arrays,
    one list of rows per person)."""

    def __init__(self, shared: dict[str, np.ndarray], cohort: Cohort, recognizer: FaceRecognizer,
                 enrolled: list[list[int]], template: str = "best") -> None:
        self.shared, self.cohort, self.recognizer, self.template = shared, cohort, recognizer, template
        vectors = shared["embedding"]
        if template == "mean":  # a quality-weighted mean of each person's faces, one row per person
            rows = [np.average(vectors[r], axis=0, weights=np.maximum(shared["quality"][r], 0.05)) for r in enrolled]
            self.gallery = np.stack([v / np.linalg.norm(v) for v in rows])
            self.owner = np.arange(len(enrolled))
        else:
            self.gallery = vectors[[i for r in enrolled for i in r]]
            self.owner = np.array([p for p, r in enumerate(enrolled) for _ in r])
        self.stats = cohort.stats(self.gallery)
        self.people = len(enrolled)
        self.thresholds = self._thresholds()

    def scores(self, rows: np.ndarray, rule: str) -> np.ndarray:
        """``P x people``: each probe's best score against each person."""
        vectors = self.shared["embedding"][rows]
        raw = vectors @ self.gallery.T
        per_face = as_norm(raw, self.cohort.stats(vectors), self.stats) if rule.startswith("as-norm") else raw
        out = np.full((len(rows), self.people), -np.inf)
        for person in range(self.people):
            out[:, person] = per_face[:, self.owner == person].max(axis=1)
        return out

    def _thresholds(self) -> dict[str, tuple[float, float]]:
        """Per rule: the threshold for ordinary and for low-quality probes, as Gallery._calibration sets them."""
        people = self.people
        own = np.arange(len(self.gallery))
        found = {}
        for rule in ("cosine", "as-norm"):
            scores = self.scores(own, rule) if self.template == "mean" else self._face_scores(rule)
            scores[np.arange(len(scores)), self.owner] = -np.inf  # against the other people only
            maxima = scores.max(axis=1) if people >= MIN_PEOPLE else np.zeros(0)
            weights = self.recognizer.weights
            if rule == "cosine":
                model, _ = decision_thresholds(None, weights, people, FPIR, FAR)
                threshold = calibrate(model, maxima, people=people, fpir=FPIR, revision=0).threshold
                found[rule] = (threshold, threshold)
            else:
                alike = homogeneity(own_scores(self.cohort, self.gallery, self.owner), self.owner)
                model, strict = decision_thresholds(self.cohort, weights, people, FPIR, FAR, alike)
                threshold = calibrate(model, maxima, people=people, fpir=FPIR, revision=0).threshold
                found[rule] = (threshold, max(threshold, strict))
        return found

    def _face_scores(self, rule: str) -> np.ndarray:
        raw = self.gallery @ self.gallery.T
        per_face = as_norm(raw, self.stats, self.stats) if rule == "as-norm" else raw
        out = np.full((len(self.gallery), self.people), -np.inf)
        for person in range(self.people):
            out[:, person] = per_face[:, self.owner == person].max(axis=1)
        return out


RULES = ("cosine", "cosine + quality", "as-norm", "as-norm + quality")


def decide(scorer: Scorer, rows: np.ndarray, truth: np.ndarray | None) -> tuple[dict[str, np.ndarray], ...]:
    """Per rule: the decision score (mated: -inf where the best candidate is not ``truth``) and threshold."""
    low = scorer.shared["low"][rows]
    scores, thresholds = {}, {}
    for rule in RULES:
        base = "as-norm" if rule.startswith("as-norm") else "cosine"
        matrix = scorer.scores(rows, base)
        best = matrix.argmax(axis=1)
        top = matrix[np.arange(len(rows)), best]
        if truth is not None:
            top = np.where(best == truth, top, -np.inf)
        normal, strict = scorer.thresholds[base]
        if rule == "cosine + quality":
            strict = np.inf  # low quality: not recognized
        thresholds[rule] = np.where(low, strict, normal) if rule.endswith("quality") else np.full(len(rows), normal)
        scores[rule] = top
    return scores, thresholds


def run_set(key: str, shared: dict[str, np.ndarray], cohort: Cohort, recognizer: FaceRecognizer, scored: np.ndarray,
            photos: int = 1, template: str = "best") -> Trial:
    """The probes of the people ``scored`` (a mask over the shared arrays) of set ``key``, galleries of them."""
    mask = (shared["set"] == key) & scored
    people: dict[str, list[int]] = {}
    for i in np.nonzero(mask)[0]:
        people.setdefault(str(shared["person"][i]), []).append(int(i))
    paths = shared["path"]
    mated, strangers, mated_t, stranger_t, m_front, s_front = [], [], [], [], [], []
    if key == "lfw":
        enrolled = [n for n, r in people.items() if len(r) >= 2]
        folds = [(enrolled, [n for n, r in people.items() if len(r) == 1])]
    else:
        enrolled = sorted(people)
        folds = [([m for m in enrolled if m != n], [n]) for n in enrolled]
    scorer = Scorer(shared, cohort, recognizer, [people[n][:photos] for n in enrolled], template)
    probes = np.array([i for n in enrolled for i in people[n][photos:]])
    truth = np.array([p for p, n in enumerate(enrolled) for _ in people[n][photos:]])
    scores, thresholds = decide(scorer, probes, truth)
    mated.append(scores), mated_t.append(thresholds)
    m_front = [frontal(str(paths[i])) for i in probes]
    for members, outside in folds:
        fold = Scorer(shared, cohort, recognizer, [people[n][:photos] for n in members], template)
        rows = np.array([i for n in outside for i in people[n]])
        scores, thresholds = decide(fold, rows, None)
        strangers.append(scores), stranger_t.append(thresholds)
        s_front += [frontal(str(paths[i])) for i in rows]
    join = lambda parts: {r: np.concatenate([p[r] for p in parts]) for r in RULES}  # noqa: E731
    return Trial(join(mated), join(strangers), join(mated_t), join(stranger_t), np.array(m_front), np.array(s_front))


def pool(trials: list[Trial]) -> Trial:
    """One trial of several (the folds of a cross-fit)."""
    join = lambda name: {r: np.concatenate([getattr(t, name)[r] for t in trials]) for r in RULES}  # noqa: E731
    frontal_of = lambda name: np.concatenate([getattr(t, name) for t in trials])  # noqa: E731
    return Trial(join("mated"), join("strangers"), join("mated_threshold"), join("stranger_threshold"),
                 frontal_of("mated_frontal"), frontal_of("stranger_frontal"))


def halves(shared: dict[str, np.ndarray], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The non-cohort people of each set split in two halves (seeded, by person): masks over the shared arrays."""
    first = np.zeros(len(shared["set"]), bool)
    outside = shared["role"] != "cohort"
    rng = np.random.default_rng(seed)
    for key in NAMES:
        people = sorted(set(shared["person"][outside & (shared["set"] == key)].tolist()))
        chosen = [people[i] for i in rng.permutation(len(people))[: len(people) // 2]]
        first |= outside & (shared["set"] == key) & np.isin(shared["person"], chosen)
    return first, outside & ~first


def splits(shared: dict[str, np.ndarray], cohort: Cohort, single_split: bool, seed: int = 0, repeats: int = 1
           ) -> list[list[tuple[Cohort, np.ndarray]]]:
    """Per split, its folds: (the cohort with FPIR tables calibrated on some people, the people it scores).
    Cross-fit: the two halves of ``repeats`` random splits (seeds ``seed``...); with ``single_split`` the old
    roles (rank % 4 == 0 calibrates, odd ranks scored)."""
    if single_split:
        parts = [[(shared["role"] == "calibration", shared["role"] == "held out")]]
    else:
        parts = []
        for repeat in range(repeats):
            a, b = halves(shared, seed + repeat)
            parts.append([(a, b), (b, a)])
    out = []
    for split in parts:
        out.append([])
        for calibrate_on, scored in split:
            groups, tables, alike = calibration_tables(shared, cohort.stats, calibrate_on)
            known = np.array([np.nan if h is None else h for h in alike])
            out[-1].append((replace(cohort, groups=tuple(groups), table=tables, homogeneity=known), scored))
    return out


def held_out_fnir(mated: np.ndarray, strangers: np.ndarray) -> float:
    """FNIR at the threshold passing FPIR of one half of the strangers, scored on the other half (both ways)."""
    order = np.random.default_rng(0).permutation(len(strangers))
    halves = [strangers[order[::2]], strangers[order[1::2]]]
    fnir = []
    for choose in halves:
        threshold = float(np.quantile(choose, 1 - FPIR, method="higher")) + 1e-9
        fnir.append(float(np.mean(mated < threshold)))
    return float(np.mean(fnir))


def table(trial: Trial, subset: str) -> list[dict[str, object]]:
    m = trial.mated_frontal if subset == "25" else np.ones(len(trial.mated_frontal), bool)
    s = trial.stranger_frontal if subset == "25" else np.ones(len(trial.stranger_frontal), bool)
    rows = []
    for rule in RULES:
        mated, strangers = trial.mated[rule][m], trial.strangers[rule][s]
        rows.append({"rule": rule, "mated": len(mated), "strangers": len(strangers),
                     "FNIR@FPIR=1%": held_out_fnir(mated, strangers),
                     "FNIR@default": float(np.mean(mated < trial.mated_threshold[rule][m])),
                     "FPIR@default": float(np.mean(strangers >= trial.stranger_threshold[rule][s])),
                     "threshold (median)": float(np.median(trial.stranger_threshold[rule][s]))})
    return rows


def det_plot(trials: dict[str, Trial], path: Path, title: str, subset: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, trial in trials.items():
        m = trial.mated_frontal if subset == "25" else slice(None)
        s = trial.stranger_frontal if subset == "25" else slice(None)
        for rule, style in (("cosine", "--"), ("as-norm", "-")):
            mated, strangers = trial.mated[rule][m], trial.strangers[rule][s]
            grid = np.unique(np.concatenate([strangers[np.isfinite(strangers)], [np.inf]]))
            fpir = np.array([np.mean(strangers >= t) for t in grid])
            fnir = np.array([np.mean(mated < t) for t in grid])
            ax.step(np.maximum(fpir, 1e-4), np.maximum(fnir, 1e-3), style, where="post", label=f"{label} {rule}")
            default = rule if rule == "cosine" else rule + " + quality"  # today's default, and the new one
            ax.plot(max(np.mean(strangers >= trial.stranger_threshold[default][s]), 1e-4),
                    max(np.mean(mated < trial.mated_threshold[default][m]), 1e-3), "o",
                    color=ax.lines[-1].get_color())
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.axvline(FPIR, color="grey", lw=0.5)
    ax.set_xlabel("FPIR (strangers identified as someone)"), ax.set_ylabel("FNIR (enrolled people missed)")
    ax.set_title(title + "\nheld-out people; dots: default decision (0 drawn at the axis floor)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SWEEP = {"cosine": (0.40, 0.45, 0.50, 0.55, 0.60), "as-norm": (5.5, 6.5, 7.0, 8.0, 9.0)}


def sweep(trial: Trial, subset: str) -> list[dict[str, object]]:
    """FNIR / FPIR at fixed thresholds (no calibration: how far any one threshold could go)."""
    m_mask = trial.mated_frontal if subset else np.ones(len(trial.mated["cosine"]), bool)
    s_mask = trial.stranger_frontal if subset else np.ones(len(trial.strangers["cosine"]), bool)
    rows = []
    for rule, thresholds in SWEEP.items():
        mated, strangers = trial.mated[rule][m_mask], trial.strangers[rule][s_mask]
        rows.append({"rule": rule, **{f"threshold {n + 1}": f"{t:g}: {np.mean(mated < t):.2%} / "
                                      f"{np.mean(strangers >= t):.2%}" for n, t in enumerate(thresholds)}})
    return rows


def rank1(shared: dict[str, np.ndarray], key: str) -> tuple[int, int]:
    """Closed-set rank-1 of set ``key`` (AT&T, Yale B): every person of the set enrolled from their first photo
    (Yale B: frontal light), all their other photos probes; (named, probes)."""
    rows = np.nonzero(shared["set"] == key)[0]
    first: dict[str, int] = {}
    for i in rows:  # in photo order: each person's first photo, or (Yale B) their frontal one
        person = str(shared["person"][i])
        if person not in first and (key != "yale" or "P00A+000E+00" in str(shared["path"][i])):
            first[person] = int(i)
    people = sorted(first)
    enrolled = set(first.values())
    probes = np.array([i for i in rows if i not in enrolled])
    gallery = shared["embedding"][[first[p] for p in people]]
    found = (shared["embedding"][probes] @ gallery.T).argmax(axis=1)
    truth = np.array([people.index(str(shared["person"][i])) for i in probes])
    return int((found == truth).sum()), len(probes)


def cost(cohort: Cohort, shared: dict[str, np.ndarray]) -> dict[str, float]:
    """ms per probe of the normalisation itself: the probe's cohort search and the AS-norm of 10 candidates."""
    vectors = shared["embedding"][:200]
    stats = (np.full(10, 0.3), np.full(10, 0.05))
    start = time.perf_counter()
    for v in vectors:
        mean, sd = cohort.stats(v[None])
        as_norm(np.zeros((1, 10)), (mean, sd), stats)
    return {"normalisation ms/probe": (time.perf_counter() - start) / len(vectors) * 1000}


def check(key: str, shared: dict[str, np.ndarray], recognizer: FaceRecognizer) -> None:
    """Replay the default decision of ``key`` through a real Gallery (LOPO strangers left out: one gallery)."""
    from facerec.gallery import Gallery

    mask = (shared["set"] == key) & (shared["role"] == "held out")
    people: dict[str, list[int]] = {}
    for i in np.nonzero(mask)[0]:
        people.setdefault(str(shared["person"][i]), []).append(int(i))
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(recognizer, db=Path(tmp) / "g.db")
        for name, rows in people.items():
            gallery.enroll(name, [shared["path"][rows[0]]], save=False, allow_duplicate=True, allow_low_quality=True)
        start = time.perf_counter()
        probes = [i for rows in people.values() for i in rows[1:]]
        answers = []
        for i in probes:
            try:
                answers.append(gallery.identify(shared["path"][i])[0])
            except Exception:  # noqa: BLE001 - no face: not scored here
                answers.append(None)
        elapsed = (time.perf_counter() - start) / len(probes) * 1000
        scorer = Scorer(shared, load_cohort(recognizer.weights), recognizer, [rows[:1] for rows in people.values()])
        print(f"check {key}: gallery threshold {gallery.threshold:.3f}, eval's {scorer.thresholds['as-norm'][0]:.3f}; "
              f"identify {elapsed:.1f} ms/probe end to end; "
              f"recognised {sum(a is not None and a.name is not None for a in answers)} of {len(probes)}")
        gallery.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--cache", type=Path, default=None, help="embeddings file to reuse (written if missing)")
    parser.add_argument("--precision", default="auto", choices=["auto", "int8", "fp32"])
    parser.add_argument("--docs", type=Path, default=Path(__file__).parents[1] / "docs", help="where DET plots go")
    parser.add_argument("--check", action="store_true", help="replay AT&T through a real Gallery")
    parser.add_argument("--single-split", action="store_true",
                        help="the old measurement: calibrate on rank %% 4 == 0, score odd ranks (no cross-fit)")
    parser.add_argument("--seed", type=int, default=0, help="the first cross-fit split's seed")
    parser.add_argument("--repeats", type=int, default=8, help="random splits of the cross-fit (seeds seed...)")
    parser.add_argument("--sweep", action="store_true", help="also FNIR / FPIR at fixed thresholds, per set")
    parser.add_argument("--no-even-light", action="store_true",
                        help="embed without evening out side light (facerec.illumination), as before 2026-12-05; "
                             "the AS-norm rows then use a cohort and tables made with it")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    recognizer = FaceRecognizer(precision=args.precision, even_light=not args.no_even_light)
    shared = embed_shared(recognizer, Path(args.shared) / "data", args.cache)
    cohort = load_cohort(recognizer.weights)
    if cohort is None:
        raise SystemExit(f"no cohort for {recognizer.model_key}: run scripts/build_cohort.py")
    parts = splits(shared, cohort, args.single_split, args.seed, args.repeats)
    print(f"model {recognizer.model_key} {recognizer.precision}, side light evened out: {recognizer.even_light}, "
          f"cohort {cohort.key} ({len(cohort.embeddings)} faces, k {cohort.k}); FPIR target {FPIR:.0%}")
    if args.single_split:
        print("single split: FPIR tables from the calibration people (rank % 4 == 0), scored on odd ranks\n")
    else:
        print(f"cross-fitted: the non-cohort people of each set split in two halves by person ({args.repeats} random "
              f"splits, seeds {args.seed}..{args.seed + args.repeats - 1}); FPIR tables calibrated on one half score "
              "the other, both ways; figures pooled over all. No probe meets a threshold calibrated on its own "
              "person: this estimates how the shipped tables (calibrated the same way on all non-cohort people) "
              "behave on new people; with half as many calibration people, it is if anything pessimistic.\n")

    def trials_of(key: str, photos: int = 1, template: str = "best") -> list[Trial]:
        """One pooled trial per split."""
        return [pool([run_set(key, shared, c, recognizer, scored, photos, template) for c, scored in split])
                for split in parts]

    def trial_of(key: str, photos: int = 1, template: str = "best") -> Trial:
        return pool(trials_of(key, photos, template))

    per_split = {key: trials_of(key) for key in NAMES}
    trials = {key: pool(found) for key, found in per_split.items()}
    for key, trial in trials.items():
        for subset in ([""] + (["25"] if key == "yale" else [])):
            suffix = " within 25 degrees of frontal" if subset else " all lightings" if key == "yale" else ""
            name = NAMES[key] + suffix
            print(f"### {name}")
            print_rows(table(trial, subset))
            if len(per_split[key]) > 1:
                rows = [table(t, subset)[-1] for t in per_split[key]]
                spread = {c: " ".join(_fmt(c, r[c]) for r in rows) for c in ("FPIR@default", "FNIR@default")}
                print(f"default rule ({RULES[-1]}) split by split: FPIR@default {spread['FPIR@default']}; "
                      f"FNIR@default {spread['FNIR@default']}\n")
            if args.sweep:
                print(f"fixed thresholds, FNIR / FPIR ({name}):")
                print_rows(sweep(trial, subset))
                print()
            slug = key + ("25" if subset else "")
            det_plot({NAMES[key]: trial}, args.docs / f"det_{slug}.png", name, subset)
    print("### Several photos per person (3 enrolled; AS-norm + quality): best of faces vs quality-weighted template")
    for key in ("att", "yale"):
        for template in ("best", "mean"):
            trial = trial_of(key, photos=3, template=template)
            for subset in ([""] + (["25"] if key == "yale" else [])):
                row = table(trial, subset)[-1]
                row["rule"] = f"{NAMES[key]}{' 25' if subset else ''}, {template}"
                print_rows([row], header=template == "best" and key == "att" and not subset)
    print()
    low = shared["low"][np.logical_or.reduce([scored for _, scored in parts[0]])]
    print(f"low-quality scored photos (enrolment would refuse them): {int(low.sum())} of {len(low)}")
    for key in ("att", "yale"):
        named, probes = rank1(shared, key)
        print(f"closed-set rank-1, {NAMES[key]} (every person enrolled from one photo): {named} of {probes} "
              f"({named / probes:.2%})")
    print(cost(cohort, shared))
    if args.check:
        check("att", shared, recognizer)


def print_rows(rows: list[dict[str, object]], header: bool = True) -> None:
    columns = list(rows[0])
    if header:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_fmt(c, row[c]) for c in columns) + " |")
    if header and len(rows) > 1:
        print()


def _fmt(column: str, value: object) -> str:
    if not isinstance(value, float):
        return str(value)
    if column.startswith(("FNIR", "FPIR")):
        return "-" if value != value else f"{value:.2%}"
    return f"{value:.3f}"


if __name__ == "__main__":
    main()

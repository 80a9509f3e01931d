"""Cohort score normalisation (AS-norm) and the open-set threshold it makes possible.

A raw cosine score means different things under different conditions: two strangers lit from the same
side, or photographed in the same studio, score far higher than two strangers in ordinary photos. Each
side of a comparison is therefore measured against a fixed *cohort* of faces of people who are in no
gallery: for a probe ``p`` and an enrolled face ``e`` with cosine ``s``, adaptive symmetric
normalisation (Cumani et al. 2011; Matejka et al. 2017) gives::

    s' = ((s - mu_p) / sd_p + (s - mu_e) / sd_e) / 2

with ``mu``/``sd`` the mean and spread of each side's ``k`` best cohort scores. A stranger whose
conditions make them resemble everyone has a high ``mu_p`` too, and is pulled back down. The cohort person
most like the face (the owner of its best-scoring cohort face) is left out of its statistics: a face of
someone who is in the cohort (the cohort is made of public photos) would otherwise be measured against
itself and could never be recognised.

The cohort is kept as *entries* that each average alike faces of five different people (a kind of face under a
kind of light: :func:`facerec.calibration.cohort_entries`), so no one's face template is stored or shipped; the
"person" left out of a face's statistics is then its nearest entry. (A user may keep their own cohort's faces as
they are, ``--keep-faces``: each face's person is then stored with it.) A model's calibration
(:mod:`facerec.calibration`, ``facerec models calibrate --photos DIR``) writes one record (``.calibration.json``:
the people it used, the embedding space it was made in, the entries rounded to 4 decimals and their sha256, checked
on load) to the user's model folder; the default model ships one, built the same way by ``scripts/build_cohort.py``.
The user's own is used where there is one (:func:`calibration_files`). The record also holds how often normalised
strangers pass each threshold (aggregate rates, no face data): for calibration people (never the cohort's), per
condition group (for the shipped one: ordinary photos, a studio, strong side light; then low-quality faces) and
gallery size, the false-positive identification rate ``FPIR(t, N)`` of a stranger against ``N`` enrolled
people, and each group's *homogeneity*: the mean normalised score between faces of different people. Photos taken in one
studio under one light resemble each other more than ordinary photos do, and their strangers pass more
often. A gallery measures its own homogeneity (:func:`homogeneity`, from its enrolled faces, with an upper
margin that is wide for few people) and is held to the table of the groups it resembles: each group's ``t``
with ``FPIR(t, N) <= fpir``, interpolated by homogeneity between the groups (clamped at the outer ones).
A gallery of one person, and ``verify`` (one comparison), have no homogeneity to measure and are held to the
strictest group's (see :meth:`Cohort.threshold`); from two people on it is measured, with the wide margin of few
people (``scripts/eval_small_galleries.py``).

>>> cohort = load_cohort(weights)  # doctest: +SKIP
>>> mu, sd = cohort.stats(vectors)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import FaceRecError
from facerec.models.weights import Weights

__all__ = ["COHORT_DIR", "LOW_QUALITY_GROUP", "MIN_CONDITION_PEOPLE", "Cohort", "CohortError", "as_norm",
           "calibration_files", "cohort_for", "entries_as_read", "entries_digest", "forget_loaded", "fpir_table",
           "homogeneity", "load_cohort", "own_scores", "usable_stats"]

COHORT_DIR = Path(__file__).parent / "models" / "embedders" / "calibration"
LOW_QUALITY_GROUP = "low quality"  # the group whose threshold only low-quality probes are held to
MIN_CONDITION_PEOPLE = 2  # fewer (one person, and verify): no homogeneity to measure, the strictest group's table
MIN_SD = 1e-4  # the least spread a face's cohort scores are given (a spread of 0 would make every score infinite)


class CohortError(FaceRecError):
    """A cohort file is damaged, or not the one its record names."""


def calibration_files(weights: Weights) -> list[Path]:
    """Where a calibration record of ``weights`` may be, in the order they are looked for: the user's own
    (``facerec models calibrate``, in the user's model folder), then the one that ships with the model."""
    from facerec.models.embedders.custom import models_dir

    stem = f"{weights.model}-{weights.tag}".replace("/", "_").replace(":", "_")
    return [folder / f"{stem}.calibration.json" for folder in (models_dir() / "calibration", COHORT_DIR)]


def entries_digest(entries: list[list[float]], people: list[int]) -> str:
    """The sha256 a record keeps of its cohort entries and their people (as written in it), checked on load."""
    text = json.dumps([entries, people], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def entries_as_read(values: Any) -> np.ndarray:
    """A record's cohort entries as they are used: float32 unit rows (the calibration computes its tables with
    exactly these)."""
    entries = np.asarray(values, np.float32).reshape(len(values), -1)
    return entries / np.maximum(np.linalg.norm(entries, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True, eq=False)
class Cohort:
    """Cohort embeddings and the FPIR tables of normalised scores (see the module docstring)."""

    embeddings: np.ndarray  # C x D, unit rows
    people: np.ndarray  # C: each cohort face's person (an index)
    k: int
    t_grid: np.ndarray  # T thresholds
    n_grid: np.ndarray  # M gallery sizes
    groups: tuple[str, ...]
    table: np.ndarray  # G x M x T: FPIR of group g at gallery size n_grid[m] and threshold t_grid[t]
    sha256: str  # of the arrays file: names the cohort stored beside a gallery's statistics
    homogeneity: np.ndarray | None = None  # G: each group's mean normalised score between people (NaN: low quality)
    space: dict[str, Any] = field(default_factory=dict)  # the embedding space it was made in (facerec.embedding_space)
    calibrated_on: int = 0  # the calibration people its tables come from
    source: str = ""  # "shipped" (with the model) or "your photos" (facerec models calibrate)
    record: Path | None = None

    def describe(self) -> str:
        """How it was calibrated, in words: ``"as-norm, calibrated on 1200 people (shipped)"``."""
        return f"as-norm, calibrated on {self.calibrated_on} people ({self.source or 'given'})"

    @property
    def key(self) -> str:
        return f"as-norm-k{self.k}-{self.sha256[:16]}"

    def stats(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each vector's ``k`` best cosine scores against the cohort, the
        cohort person of its best score left out."""
        vectors = np.atleast_2d(np.asarray(vectors, np.float32))
        if len(vectors) == 0:
            return np.zeros(0), np.zeros(0)
        scores = vectors @ self.embeddings.T
        nearest = self.people[scores.argmax(axis=1)]
        scores[self.people[None, :] == nearest[:, None]] = -1.0  # below any cosine that counts
        k = min(self.k, scores.shape[1])
        top = np.partition(scores, scores.shape[1] - k, axis=1)[:, -k:].astype(np.float64)
        return top.mean(axis=1), np.maximum(top.std(axis=1), MIN_SD)

    def threshold(self, people: int, fpir: float, *, low_quality: bool = False,
                  homogeneity: float | None = None) -> float:
        """The normalised-score threshold that lets at most ``fpir`` of strangers through a gallery of
        ``people`` people: for a gallery of the given :func:`homogeneity`, the groups' thresholds
        interpolated by theirs (clamped at the outer groups); without one, the strictest group's. A
        low-quality probe is held to the low-quality group's threshold too, where stricter."""
        people = max(people, 1)
        conditions = [g for g, name in enumerate(self.groups) if name != LOW_QUALITY_GROUP]
        each = np.array([_threshold(self.table[g], self.n_grid, self.t_grid, people, fpir) for g in conditions])
        if homogeneity is None or self.homogeneity is None:
            found = float(each.max())
        else:
            known = self.homogeneity[conditions]
            order = np.argsort(known)
            found = float(np.interp(homogeneity, known[order], each[order]))
        if low_quality:
            low = [g for g, name in enumerate(self.groups) if name == LOW_QUALITY_GROUP]
            found = max([found] + [_threshold(self.table[g], self.n_grid, self.t_grid, people, fpir) for g in low])
        return found


def own_scores(cohort: Cohort, vectors: np.ndarray, owners: Sequence[str] | np.ndarray,
               stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The normalised scores among enrolled faces (``F x F``), ``-inf`` between faces of one person;
    ``stats``: the faces' :meth:`Cohort.stats`, where the caller has them."""
    stats = cohort.stats(vectors) if stats is None else stats
    scores = as_norm(np.asarray(vectors, np.float32) @ np.asarray(vectors, np.float32).T, stats, stats)
    owners = np.asarray(owners)
    scores[owners[:, None] == owners[None, :]] = -np.inf
    return scores


def homogeneity(scores: np.ndarray, owners: Sequence[str] | np.ndarray, margin: float = 2.0,
                least: int = MIN_CONDITION_PEOPLE) -> float | None:
    """How much a gallery's people resemble each other: from :func:`own_scores`, each person's mean score
    against the other people's faces, averaged over people, plus ``margin`` standard errors (a few people may
    look less alike than their conditions make them); None below ``least`` people (at least 2)."""
    owners = np.asarray(owners)
    people = np.unique(owners)
    if len(people) < max(least, 2):
        return None
    finite = np.where(np.isfinite(scores), scores, 0.0)
    counts = np.isfinite(scores).sum(axis=1)
    per_face = finite.sum(axis=1) / np.maximum(counts, 1)
    per_person = np.array([per_face[owners == person].mean() for person in people])
    return float(per_person.mean() + margin * per_person.std(ddof=1) / np.sqrt(len(people)))


def usable_stats(mean: object, sd: object) -> bool:
    """Whether a face's stored cohort statistics are ones :meth:`Cohort.stats` can give: a mean cosine in
    [-1, 1] and a finite spread of at least :data:`MIN_SD` (a damaged row, NaN or 0, is not).

    >>> usable_stats(0.2, 0.04), usable_stats(0.2, 0.0), usable_stats(0.2, float("nan")), usable_stats("nan", 0.1)
    (True, False, False, False)
    """
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (mean, sd)):
        return False
    return bool(-1.0 <= float(mean) <= 1.0 and MIN_SD <= float(sd) <= 2.0)  # type: ignore[arg-type]


def as_norm(scores: np.ndarray, probe: tuple[np.ndarray, np.ndarray],
            enrolled: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """AS-norm of ``scores`` (``P x E``) given the probes' and the enrolled faces' cohort (mean, sd)."""
    scores = np.asarray(scores, np.float64)
    (mu_p, sd_p), (mu_e, sd_e) = probe, enrolled
    return 0.5 * ((scores - mu_p[:, None]) / sd_p[:, None] + (scores - mu_e[None, :]) / sd_e[None, :])


def fpir_table(far: np.ndarray, weights: np.ndarray, n_grid: np.ndarray) -> np.ndarray:
    """``M x T``: the FPIR of a stranger against ``n`` enrolled people, from each calibration probe's
    false-accept curve ``far`` (``P x T``, the fraction of other people it reaches at each threshold)
    weighted by ``weights``: probes differ (conditions), so the mean of ``1 - (1 - far_p)^n`` is used
    rather than a pooled tail, which would hide the probes that resemble everyone."""
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    return np.stack([(weights[:, None] * (1.0 - (1.0 - far) ** n)).sum(axis=0) for n in n_grid])


def _threshold(table: np.ndarray, n_grid: np.ndarray, t_grid: np.ndarray, people: int, fpir: float) -> float:
    """The smallest grid threshold whose FPIR at ``people`` (interpolated in log size) is at most ``fpir``."""
    log_n = np.log(n_grid.astype(np.float64))
    at = np.log(float(people))
    upper = int(np.clip(np.searchsorted(log_n, at), 1, len(log_n) - 1))
    weight = float(np.clip((at - log_n[upper - 1]) / (log_n[upper] - log_n[upper - 1]), 0.0, 1.0))
    curve = (1 - weight) * table[upper - 1] + weight * table[upper]
    if at > log_n[-1]:  # beyond the table: FPIR grows about linearly with size in the far tail
        curve = np.minimum(1.0, table[-1] * float(people) / float(n_grid[-1]))
    passing = np.nonzero(curve <= fpir)[0]
    return float(t_grid[passing[0]] if len(passing) else t_grid[-1])


def load_cohort(weights: Weights, space: Mapping[str, Any] | None = None) -> Cohort | None:
    """The calibration made for exactly these weights (by sha256): the user's own where there is one, else the
    shipped one; None when there is none, or when it was made in another embedding space than ``space`` (the
    pipeline's :func:`facerec.embedding_space.embedding_space`; see :func:`cohort_for` for why). A cohort file
    whose sha256 is not the one its record names raises :class:`CohortError`."""
    return cohort_for(weights, space)[0]


def cohort_for(weights: Weights, space: Mapping[str, Any] | None = None) -> tuple[Cohort | None, str | None]:
    """:func:`load_cohort`, and a one-line notice where a calibration exists but cannot be used here."""
    from facerec.embedding_space import describe, differing

    if weights.sha256 is None:
        return None, None
    for record in calibration_files(weights):
        if not record.is_file():
            continue
        cohort = _load(record, weights.sha256)
        if cohort is None:
            continue
        differ = differing(cohort.space, space) if space is not None else []
        if differ:
            return None, (f"the calibration of {weights.key} was made with {describe(cohort.space, differ)}, this "
                          f"pipeline embeds with {describe(space or {}, differ)}: scores are plain cosines, not "
                          "calibrated (facerec models calibrate --photos DIR calibrates this pipeline)")
        return cohort, None
    return None, None


def forget_loaded() -> None:
    """Read calibrations from their files again (after one is written)."""
    _load.cache_clear()


@functools.lru_cache(maxsize=8)
def _load(record: Path, weights_sha256: str) -> Cohort | None:
    meta: dict[str, Any] = json.loads(record.read_text())
    if meta.get("weights_sha256") != weights_sha256:
        return None
    entries, owners = meta.get("entries"), meta.get("entry_people")
    if not entries or not owners or entries_digest(entries, owners) != meta.get("cohort_sha256"):
        raise CohortError(f"the calibration record {record} is damaged: its cohort entries are not the ones its "
                          "sha256 names; calibrate again (facerec models calibrate --photos DIR) or remove it")
    known = meta.get("homogeneity")
    people = meta.get("people", {})
    return Cohort(entries_as_read(entries), np.asarray(owners, np.int64), int(meta["k"]),
                  np.asarray(meta["t_grid"], np.float64), np.asarray(meta["n_grid"], np.float64),
                  tuple(str(g) for g in meta["groups"]), np.asarray(meta["table"], np.float64),
                  str(meta["cohort_sha256"]),
                  None if known is None else np.array([np.nan if h is None else h for h in known], np.float64),
                  space=dict(meta.get("space") or {}), calibrated_on=len(people.get("calibration", [])),
                  source="your photos" if record.parent != COHORT_DIR else "shipped", record=record)

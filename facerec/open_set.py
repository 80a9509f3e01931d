"""A gallery's own open-set threshold, from the impostor scores among the people it holds.

The model's size-aware threshold (:meth:`Weights.open_set_threshold`) is calibrated on LFW. On a
uniform photo set (one studio, one camera, one lighting rig) strangers score higher against
everybody, and that threshold lets too many through. The gallery holds its own evidence: each
enrolled face, searched against everyone else, is a stranger to them. Its best score against the
other people (a maximum over N - 1 impostors) follows a Gumbel law, whose ``1 - fpir`` quantile is
the threshold that lets a fraction ``fpir`` of strangers through. The gallery's threshold is the
stricter of that quantile and the model's, once it holds :data:`MIN_PEOPLE` people; below that
the model's threshold is used alone.

:class:`GalleryOpenSet` makes the decision for a gallery, the one place every entry point asks: it stores
the calibration with the gallery and, on reading it back, uses it only where it agrees with what it is
derived from (a damaged or edited row is recomputed, and said so).

>>> round(gumbel_quantile(np.array([0.20, 0.22, 0.25, 0.21, 0.30, 0.24, 0.23, 0.26, 0.22, 0.27]), 0.99), 3)
0.336
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from facerec.errors import FaceRecError

if TYPE_CHECKING:
    from enrollment import Candidate
    from enrollment import Gallery as Store
    from facerec.cohort import Cohort
    from facerec.models.weights import Weights

__all__ = ["CALIBRATION_SETTING", "FAR", "FPIR", "MIN_PEOPLE", "MAX_PROBES", "GalleryOpenSet", "OpenSetCalibration",
           "OpenSetError", "calibrate", "check_fpir", "combine", "gallery_open_set", "gumbel_quantile",
           "decision_thresholds", "model_threshold", "pair_decision"]

FPIR = 0.01  # the default promise: at most 1% of strangers identified as someone
FAR = 0.001  # verify's: at most 0.1% of pairs of different people called the same person
MIN_PEOPLE = 10  # fewer people than this: too few maxima to fit a tail, the model's threshold alone
MAX_PROBES = 2000  # faces searched against the rest; a larger gallery is sampled (seeded)

# Gumbel quantile function: mu - beta * ln(-ln q). Fitted from the median and the inter-quartile range,
# so a few true duplicates (one person under two names) in the gallery do not drag the tail up.
_LOGLOG = {q: -math.log(-math.log(q)) for q in (0.25, 0.5, 0.75)}


class OpenSetError(FaceRecError, ValueError):
    """An open-set setting out of its range (``fpir``)."""


def check_fpir(value: object, name: str = "fpir") -> float:
    """The false-positive identification rate (or, ``name`` "far", verify's false-accept rate) as a float: a finite
    number strictly between 0 and 1 (a fraction of strangers); anything else raises :class:`OpenSetError`.

    >>> check_fpir(0.01)
    0.01
    """
    number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    if not (math.isfinite(number) and 0.0 < number < 1.0):
        raise OpenSetError(f"{name} must be a number strictly between 0 and 1 (a fraction of strangers), got {value!r}")
    return number


@dataclass(frozen=True)
class OpenSetCalibration:
    """The threshold in use and how it was chosen (stored in the gallery, shown by ``index stats``)."""

    threshold: float
    source: str  # "gallery" (its own impostors were stricter) or "model" (the model's calibrated tail)
    model_threshold: float
    gallery_threshold: float | None  # None below MIN_PEOPLE
    people: int
    probes: int  # enrolled faces searched against the others
    fpir: float
    revision: int
    #: "cosine", or "as-norm" (thresholds on cohort-normalised scores, see facerec.cohort)
    score: str = "cosine"
    cohort: str | None = None  # the cohort's key, with "as-norm"
    low_quality_threshold: float | None = None  # with "as-norm": the threshold a low-quality probe is held to
    cosine_threshold: float | None = None  # with "as-norm": the cosine calibration (duplicate checks use it)
    homogeneity: float | None = None  # with "as-norm": how alike the gallery's people are (facerec.cohort.homogeneity)
    calibrated_on: int | None = None  # with "as-norm": the calibration people of the model's tables
    far: float | None = None  # no comparison is accepted below verify's threshold at this false-accept rate
    #: Why the stored calibration was not used (damaged, or disagreeing with what it is derived from); never stored.
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field (``note`` only where there is one) and the :meth:`decision` in words."""
        found = {key: value for key, value in asdict(self).items() if key != "note" or value is not None}
        return {**found, "decision": self.decision()}

    def stored(self) -> dict[str, Any]:
        """What is stored in the gallery: the fields but the :attr:`note`."""
        return {key: value for key, value in asdict(self).items() if key != "note"}

    def decision(self) -> str:
        """Which score is compared and how its threshold was calibrated, in one line."""
        if self.score == "cosine":
            return (f"cosine, not calibrated for this model (its spec's tail; facerec models calibrate), "
                    f"FPIR {self.fpir:g} at gallery size {self.people}")
        return (f"{self.score}, calibrated on {self.calibrated_on} people, FPIR {self.fpir:g} at gallery size "
                f"{self.people}")

    @classmethod
    def from_dict(cls, data: Any) -> OpenSetCalibration:
        """A calibration as stored; a row that is not one (a damaged or edited one: a value of the wrong type, a
        number that is not finite) raises TypeError."""
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        found = cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})  # missing: the default
        for item in fields(cls):
            value = getattr(found, item.name)
            if not (value is None and "None" in str(item.type) or _of_kind(value, _KINDS.get(item.name, float))):
                raise TypeError(f"{item.name} is {value!r}")
        return found


_KINDS = {"source": str, "score": str, "cohort": str, "note": str, "people": int, "probes": int, "revision": int,
          "calibrated_on": int}


def _of_kind(value: object, kind: type) -> bool:
    """Whether ``value`` is a ``kind`` (a float: any finite real number; never a bool)."""
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def gumbel_quantile(maxima: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a Gumbel law fitted to ``maxima`` by its median and quartiles."""
    low, median, high = np.quantile(np.asarray(maxima, np.float64), [0.25, 0.5, 0.75])
    beta = max((high - low) / (_LOGLOG[0.75] - _LOGLOG[0.25]), 1e-6)
    mu = median - beta * _LOGLOG[0.5]
    return float(mu - beta * math.log(-math.log(q)))


def calibrate(model_threshold: float, maxima: np.ndarray, *, people: int, fpir: float,
              revision: int) -> OpenSetCalibration:
    """Combine the model's threshold with the gallery's: ``maxima`` holds, for each probed enrolled
    face, its best score against the other people. On normalised scores the "model's" threshold is the
    cohort's (:meth:`facerec.cohort.Cohort.threshold`), and the result is completed with ``dataclasses.replace``."""
    maxima = np.asarray(maxima, np.float64)
    maxima = maxima[np.isfinite(maxima)]
    gallery = gumbel_quantile(maxima, 1.0 - fpir) if people >= MIN_PEOPLE and len(maxima) >= MIN_PEOPLE else None
    return combine(model_threshold, gallery, people=people, probes=len(maxima), fpir=fpir, revision=revision)


def combine(model_threshold: float, gallery_threshold: float | None, *, people: int, probes: int, fpir: float,
            revision: int) -> OpenSetCalibration:
    """The rule :func:`calibrate` applies once it has the gallery's own threshold (None: too few people): the
    stricter of the two. A stored calibration is checked by applying it again."""
    model_threshold = round(float(model_threshold), 6)  # as stored, so a stored calibration reads back the same
    gallery = round(float(gallery_threshold), 6) if gallery_threshold is not None else None
    stricter = gallery is not None and gallery > model_threshold
    return OpenSetCalibration(
        threshold=gallery if gallery is not None and stricter else model_threshold,
        source="gallery" if stricter else "model", model_threshold=model_threshold, gallery_threshold=gallery,
        people=people, probes=probes, fpir=fpir, revision=revision)


#: The gallery setting that holds the open-set calibration.
CALIBRATION_SETTING = "open_set"


class GalleryOpenSet:
    """The open-set decision of one gallery, made in one place: the decision score of each candidate (the cosine,
    or with a ``cohort`` its normalised score) and the threshold it is held to, calibrated (:func:`calibrate`)
    and stored with the gallery. The threshold keeps FPIR at ``fpir`` for the gallery's size and is never below
    verify's at ``far`` (:func:`pair_decision`), so that a one-person gallery and ``verify`` answer alike.
    :class:`facerec.Gallery` asks it, and so does ``facerec index stats``, which loads no model, so that both
    show the decision identification makes.

    A stored calibration is used only when it is current (made at the gallery's revision, for this ``fpir``
    and cohort) and agrees with what it is derived from: the model's tables at the gallery's size, and the rule
    that combines them with the gallery's own tail (:func:`combine`). One that does not (a damaged or edited row)
    is recomputed, and why is said once, as a :class:`~enrollment.errors.GalleryWarning` (``warn``), and in the
    calibration's ``note``. Damaged cohort statistics of a face are recomputed the same way.
    What the check cannot re-derive without a search of the whole gallery, the gallery's own tail and its
    homogeneity, only ever makes the threshold stricter than the model's calibrated one for the least alike group.
    """

    def __init__(self, store: Store, weights: Weights, cohort: Cohort | None, fpir: float = FPIR, *,
                 warn: bool = True, far: float = FAR) -> None:
        self.store, self.weights, self.cohort, self.fpir = store, weights, cohort, check_fpir(fpir)
        self.far = check_fpir(far, "far")
        self.warn = warn
        #: Whether the last calibration was the stored one (current, and agreeing with what it is derived from).
        self.from_store = False
        self._stats_revision: int | None = None  # the revision at which every face had its cohort statistics
        self._memo: OpenSetCalibration | None = None  # the calibration of the last revision seen
        self._said: set[str] = set()
        self._damaged_stats: set[int] = set()  # faces whose stored cohort statistics were found damaged

    def calibration(self, *, save: bool) -> OpenSetCalibration:
        """The calibration at the gallery's revision: the stored one where it can be trusted, else recomputed
        (and with ``save`` stored; reads never write). Call under the gallery's lock."""
        store = self.store.store
        revision = store.revision()
        if not save and self._memo is not None and self._memo.revision == revision:
            return self._memo
        people = store.count_identities()
        if self.cohort is not None and save:
            self.ensure_cohort_stats(revision)
        stored, problem = self._stored(people, revision)
        self.from_store = stored is not None
        if stored is not None:
            self._memo = stored
            return stored
        calibration = self._compute(people, revision)
        if problem is not None:
            note = f"{problem}; using the threshold recomputed from the gallery, {calibration.threshold:.3f}"
            calibration = replace(calibration, note=note)
            self._say(note)
        if save:
            store.put_setting(CALIBRATION_SETTING, calibration.stored(), revision)
        self._memo = calibration
        return calibration

    def _stored(self, people: int, revision: int) -> tuple[OpenSetCalibration | None, str | None]:
        """The stored calibration when it is current and agrees with what it is derived from, else None and why
        (None when it is merely stale: made at another revision, or for another ``fpir``)."""
        from enrollment.errors import DamagedRowError

        try:
            saved = self.store.store.setting(CALIBRATION_SETTING)
        except DamagedRowError as exc:
            return None, str(exc)
        if saved is None or saved[1] != revision:
            return None, None
        try:
            stored = OpenSetCalibration.from_dict(saved[0])
        except TypeError as exc:
            return None, f"the gallery's stored open-set calibration is damaged ({exc})"
        if stored.fpir != self.fpir or stored.far != self.far:
            return None, None
        cohort = self.cohort.key if self.cohort is not None else None
        if stored.cohort != cohort:
            return None, ("the gallery's stored open-set calibration is for normalised scores, but here it is "
                          "scored by plain cosines (the model's calibration is not usable here)"
                          ) if cohort is None else None
        expected = self._derive(people, stored)
        differ = [f"{item.name} {getattr(stored, item.name)!r}, expected {getattr(expected, item.name)!r}"
                  for item in fields(OpenSetCalibration) if not _same(getattr(stored, item.name),
                                                                      getattr(expected, item.name))]
        if differ:
            return None, f"the gallery's stored open-set calibration disagrees with what it is derived from " \
                         f"({'; '.join(differ[:3])})"
        return stored, None

    def _derive(self, people: int, stored: OpenSetCalibration) -> OpenSetCalibration:
        """``stored`` derived again from the model's tables at ``people``, taking from it only what needs a
        search of the gallery (its own tail, its homogeneity), each where the gallery is large enough to have it."""
        from facerec.cohort import MIN_CONDITION_PEOPLE

        alike = stored.homogeneity if self.cohort is not None and people >= MIN_CONDITION_PEOPLE else None
        tail = stored.gallery_threshold if people >= MIN_PEOPLE and stored.probes >= MIN_PEOPLE else None
        derived = replace(combine(self._model_threshold(people, alike), tail, people=people, probes=stored.probes,
                                  fpir=self.fpir, revision=stored.revision), far=self.far)
        if self.cohort is None:
            return derived
        cosine = round(self.weights.open_set_threshold(people, self.fpir), 6)
        if people >= MIN_PEOPLE and stored.cosine_threshold is not None:
            cosine = max(cosine, stored.cosine_threshold)  # the gallery's own cosine tail only raises it
        return _complete(derived, self.cohort, self.weights, people, cosine, alike, self.far)

    def _compute(self, people: int, revision: int) -> OpenSetCalibration:
        cosine_maxima, normalised_maxima, alike = self._impostors(people)
        calibration = replace(calibrate(self._model_threshold(people, alike),
                                        cosine_maxima if normalised_maxima is None else normalised_maxima,
                                        people=people, fpir=self.fpir, revision=revision), far=self.far)
        if self.cohort is None:
            return calibration
        cosine = calibrate(self.weights.open_set_threshold(people, self.fpir), cosine_maxima, people=people,
                           fpir=self.fpir, revision=revision)
        return _complete(calibration, self.cohort, self.weights, people, cosine.threshold, alike, self.far)

    def _model_threshold(self, people: int, alike: float | None) -> float:
        return decision_thresholds(self.cohort, self.weights, people, self.fpir, self.far, alike)[0]

    def _impostors(self, people: int) -> tuple[np.ndarray, np.ndarray | None, float | None]:
        """For enrolled faces (all, or a seeded sample of MAX_PROBES), the best score against other people:
        the cosine, and with a cohort the normalised score too (None without one); and with a cohort, the
        gallery's homogeneity (:func:`facerec.cohort.homogeneity`, from the same faces, rounded as stored).
        One read, one search."""
        from facerec.cohort import MIN_CONDITION_PEOPLE, homogeneity, own_scores

        store = self.store.store
        none = np.zeros(0), (np.zeros(0) if self.cohort is not None else None), None
        if people < (MIN_CONDITION_PEOPLE if self.cohort is not None else MIN_PEOPLE):
            return none
        ids = store.face_ids()
        if len(ids) > MAX_PROBES:
            ids = np.random.default_rng(0).choice(ids, MAX_PROBES, replace=False)
        _, names, vectors = store.faces(ids.tolist())
        stats = self.cohort.stats(vectors) if self.cohort is not None else None
        alike = homogeneity(own_scores(self.cohort, vectors, names, stats), names) \
            if self.cohort is not None else None
        alike = None if alike is None else round(alike, 6)
        if people < MIN_PEOPLE:
            return none[0], none[1], alike
        found = self.store.search(vectors, k=2 if self.cohort is None else 10)

        def maxima(scores: Sequence[Sequence[float]]) -> np.ndarray:
            return np.array([max((s for c, s in zip(candidates, row) if c.name != name), default=-np.inf)
                             for name, candidates, row in zip(names, found, scores)], np.float64)

        cosine = maxima([[c.score for c in candidates] for candidates in found])
        return cosine, maxima(self.scores(vectors, found, stats)) if self.cohort is not None else None, alike

    def ensure_cohort_stats(self, revision: int | None = None) -> None:
        """Give every enrolled face its cohort statistics: a gallery from before score normalisation, or faces
        another process wrote, are brought up to date here, never scored without them. Call under the lock."""
        if self.cohort is None or (revision is not None and revision == self._stats_revision):
            return
        store = self.store.store
        if self._damaged_stats:  # found by a read, which recomputed them in memory: stored again now
            ids, _, vectors = store.faces(sorted(self._damaged_stats))
            self.put_cohort_stats(ids, vectors)
            self._damaged_stats.clear()
        while True:
            ids, vectors = store.faces_without_cohort_stats(self.cohort.key)
            if not len(ids):
                break
            self.put_cohort_stats(ids, vectors)
        self._stats_revision = revision

    def put_cohort_stats(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Store the cohort statistics of new faces (nothing without a cohort)."""
        if self.cohort is not None and len(ids):
            mean, sd = self.cohort.stats(vectors)
            self.store.store.put_cohort_stats(self.cohort.key, [int(i) for i in ids], mean.tolist(), sd.tolist())

    def scores(self, vectors: np.ndarray, found: list[list[Candidate]],
               probe_stats: tuple[np.ndarray, np.ndarray] | None = None) -> list[list[float]]:
        """The decision score of each candidate: cohort-normalised, or the cosine without a cohort
        (``probe_stats``: the vectors' cohort statistics, where the caller has them). Call under the lock."""
        from facerec.cohort import as_norm, usable_stats

        if self.cohort is None:
            return [[c.score for c in candidates] for candidates in found]
        ids = sorted({c.face_id for candidates in found for c in candidates})
        stats = self.store.store.cohort_stats(ids, self.cohort.key)
        damaged = sorted(i for i, (mean, sd) in stats.items() if not usable_stats(mean, sd))
        if damaged:
            self._damaged_stats.update(damaged)
            self._say(f"face {', '.join(map(str, damaged))}: its stored cohort statistics are damaged "
                      f"(sd {stats[damaged[0]][1]!r}): recomputed")
        stats = {i: s for i, s in stats.items() if i not in damaged}
        if len(stats) < len(ids):  # faces another program wrote without them (or damaged): computed here, not stored
            missing_ids, _, missing = self.store.store.faces([i for i in ids if i not in stats])
            stats.update(zip(missing_ids.tolist(), zip(*(v.tolist() for v in self.cohort.stats(missing)))))
        mean, sd = self.cohort.stats(vectors) if probe_stats is None else probe_stats
        scores = []
        for row, candidates in enumerate(found):
            known = [c for c in candidates if c.face_id in stats]
            enrolled = (np.array([stats[c.face_id][0] for c in known]), np.array([stats[c.face_id][1] for c in known]))
            normed = as_norm(np.array([[c.score for c in known]]), (mean[row : row + 1], sd[row : row + 1]),
                             enrolled)[0] if known else np.zeros(0)
            values = dict(zip([c.face_id for c in known], normed.tolist()))
            scores.append([values.get(c.face_id, -np.inf) for c in candidates])  # removed meanwhile: no match
        return scores

    def _say(self, message: str) -> None:
        """Warn once per message (a :class:`~enrollment.errors.GalleryWarning`), where :attr:`warn`."""
        from enrollment.errors import GalleryWarning

        if self.warn and message not in self._said:
            self._said.add(message)
            warnings.warn(GalleryWarning(message), stacklevel=4)


def model_threshold(cohort: Cohort | None, weights: Weights, people: int, fpir: float,
                    alike: float | None = None, *, low_quality: bool = False) -> float:
    """The threshold the model's calibration gives a gallery of ``people`` (before the gallery's own tail): the
    cohort's for a gallery of homogeneity ``alike`` (None: the strictest group's), with ``low_quality`` the
    stricter one a low-quality probe is held to; without a cohort the model's cosine tail."""
    if cohort is None:
        return round(weights.open_set_threshold(people, fpir), 6)
    return round(cohort.threshold(people, fpir, homogeneity=alike, low_quality=low_quality), 6)


def decision_thresholds(cohort: Cohort | None, weights: Weights, people: int, fpir: float, far: float,
                        alike: float | None = None) -> tuple[float, float]:
    """The thresholds the model's calibration gives a gallery of ``people`` (before its own tail): for ordinary
    and for low-quality probes. Each keeps FPIR at ``fpir`` for the gallery's size and is never below verify's at
    ``far`` (one comparison) for a gallery of homogeneity ``alike`` (None, as for verify: the strictest
    group's). :class:`GalleryOpenSet` and ``scripts/eval_identify.py`` use it."""
    plain = max(model_threshold(cohort, weights, people, fpir, alike), model_threshold(cohort, weights, 1, far, alike))
    if cohort is None:
        return plain, plain
    return plain, max(model_threshold(cohort, weights, people, fpir, alike, low_quality=True),
                      model_threshold(cohort, weights, 1, far, alike, low_quality=True))


def pair_decision(cohort: Cohort | None, weights: Weights, a: np.ndarray, b: np.ndarray, low_a: np.ndarray,
                  low_b: np.ndarray, far: float) -> tuple[np.ndarray, np.ndarray]:
    """``verify``'s decision, the open-set decision of a one-person gallery at FPIR ``far`` (FPIR and FAR are one
    rate for one enrolled person): the decision score of every pair of ``a`` (``P x D``) and ``b`` (``E x D``) and
    the threshold it is held to (the low-quality one where either face is low quality, ``low_a``/``low_b``).
    The same :func:`model_threshold` and :func:`facerec.cohort.as_norm` as :class:`GalleryOpenSet`, so that
    ``verify A B --far f`` and ``identify B --fpir f`` against a gallery of A alone answer alike."""
    from facerec.cohort import as_norm

    a, b = np.atleast_2d(np.asarray(a, np.float32)), np.atleast_2d(np.asarray(b, np.float32))
    cosines = a @ b.T
    plain = model_threshold(cohort, weights, 1, far)
    if cohort is None:
        return cosines.astype(np.float64), np.full(cosines.shape, plain)
    strict = max(model_threshold(cohort, weights, 1, far, low_quality=True), plain)
    low = np.asarray(low_a, bool)[:, None] | np.asarray(low_b, bool)[None, :]
    return as_norm(cosines, cohort.stats(a), cohort.stats(b)), np.where(low, strict, plain)


def _complete(calibration: OpenSetCalibration, cohort: Cohort, weights: Weights, people: int,
              cosine_threshold: float, alike: float | None, far: float) -> OpenSetCalibration:
    """A calibration on normalised scores: with the cohort's key, the stricter threshold of low-quality
    probes, the cosine threshold (duplicate checks compare cosines), the gallery's homogeneity and the number of
    people the cohort's tables were calibrated on."""
    strict = decision_thresholds(cohort, weights, people, calibration.fpir, far, alike)[1]
    return replace(calibration, score="as-norm", cohort=cohort.key,
                   low_quality_threshold=max(strict, calibration.threshold),
                   cosine_threshold=cosine_threshold, homogeneity=alike, calibrated_on=cohort.calibrated_on)


def _same(a: object, b: object) -> bool:
    """Equal, numbers within the 6 decimals a calibration is stored with."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool | str):
        return abs(float(a) - float(b)) <= 2e-6
    return a == b


def gallery_open_set(store: Store, fpir: float = FPIR, *, warn: bool = True) -> GalleryOpenSet | None:
    """The open-set decision of a gallery opened without its model (``facerec index stats``), as
    :class:`facerec.Gallery` makes it with the default recognizer: the registry's weights entry of the gallery's
    model, and its cohort where it is prepared here. None when this installation does not know the model."""
    from facerec.cohort import load_cohort
    from facerec.models.embedders import get_weights

    name, _, tag = store.model.partition(":")
    registered, _, own_file = tag.partition("+file-")
    try:
        weights = get_weights(name, registered or None)
    except FaceRecError:
        return None
    if own_file:  # a user's weights file: the registry's calibration tables, and no cohort (made for the registry's)
        weights = replace(weights, tag=tag, url=None, sha256=None)
    recorded = store.store.setting("crops")  # the gallery's embedding space (facerec.gallery records it)
    space = recorded[0] if recorded is not None and isinstance(recorded[0], dict) else None
    return GalleryOpenSet(store, weights, load_cohort(weights, space), fpir, warn=warn)

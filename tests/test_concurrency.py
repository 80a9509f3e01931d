"""Several processes writing one gallery at the same moment (issue 34, item 4): every enrollment succeeds and
says so, on PostgreSQL as on SQLite, on a new gallery and on an existing one, and creating the schema itself
races safely.

Real processes: each worker is a fresh Python process (``spawn``) that loads the real recognizer, opens the
gallery through the library, and waits at a barrier, so that all of them write at the same moment (which is when
a read-then-insert of a setting or a statistics row collides).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path
from typing import Any

import pytest

from tests.backends import DATABASES, database, faces_per_person
from tests.conftest import lfw

PEOPLE = ("Abel_Pacheco", "Amber_Tamblyn", "Aaron_Sorkin", "Akhmed_Zakayev")


def _enroll_worker(url: str, vectors: str, name: str, barrier: Any, answers: Any) -> None:
    """One enrolling process: open the gallery, wait for the others, enroll ``name`` from its first photo."""
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from facerec import FaceRecognizer
        from facerec.gallery import Gallery

        gallery = Gallery(FaceRecognizer(), db=url, vectors=vectors)
        photo = gallery.recognizer.load(lfw(name))
        barrier.wait(timeout=240)
        result = gallery.enroll(name, [photo])
        gallery.close()
        answers.put((name, len(result.added_ids), None))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put((name, 0, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"))


def _schema_worker(url: str, what: str, barrier: Any, answers: Any) -> None:
    """One process opening a new database at the same moment as the others: as a gallery or as the key store."""
    try:
        from enrollment import AccessStore, GalleryStore

        barrier.wait(timeout=60)
        store = GalleryStore(url, model="m:1", dim=4) if what == "gallery" else AccessStore(url)
        store.close()
        answers.put((what, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put((what, f"{type(exc).__name__}: {exc}"))


def _race(target: Any, jobs: list[tuple[Any, ...]], timeout: float) -> list[tuple[Any, ...]]:
    """Run ``target(*job, barrier, answers)`` in one spawned process per job; every process's answer."""
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(len(jobs)), context.Queue()
    processes = [context.Process(target=target, args=(*job, barrier, answers)) for job in jobs]
    for process in processes:
        process.start()
    found = [answers.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, process.exitcode
    return found


@pytest.fixture(params=DATABASES)
def url(request, tmp_path):
    yield from database(request.param, tmp_path)


@pytest.mark.parametrize("gallery", ["new", "existing"])
def test_four_processes_enrolling_at_once_all_succeed(url, gallery, tmp_path, recognizer):
    vectors = str(tmp_path / "g.faiss")
    if gallery == "existing":
        from facerec.gallery import Gallery

        existing = Gallery(recognizer, db=url, vectors=vectors)
        existing.enroll("Aaron_Patterson", [lfw("Aaron_Patterson")])
        existing.close()
    answers = _race(_enroll_worker, [(url, vectors, name) for name in PEOPLE], timeout=400)
    failed = [(name, error) for name, _, error in answers if error]
    assert not failed, failed
    assert {name: added for name, added, _ in answers} == dict.fromkeys(PEOPLE, 1)
    assert faces_per_person(url) == dict.fromkeys(PEOPLE + ("Aaron_Patterson",) * (gallery == "existing"), 1)


@pytest.mark.parametrize("kind", DATABASES)
def test_creating_the_schema_races_safely(kind, tmp_path):
    for round_number in range(3):
        url = next(database(kind, tmp_path / str(round_number)))
        Path(tmp_path / str(round_number)).mkdir(exist_ok=True)
        answers = _race(_schema_worker, [(url, what) for what in ("gallery", "keys") * 3], timeout=120)
        assert [error for _, error in answers if error] == [], round_number

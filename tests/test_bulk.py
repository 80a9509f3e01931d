"""Bulk enrollment on Ray: the actor's work in-process (fast), and a real Ray job killed with kill -9 (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facerec.gallery import Gallery
from tests.backends import faces_per_person
from tests.conftest import ATT
from tests.test_gallery import people_tree

ROOT = Path(__file__).resolve().parents[1]


def needs_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install 'facerec[ray]')")


def test_actor_skips_enrolled_photos_and_names_bad_files(recognizer, tmp_path):
    from facerec.bulk import EmbedActor

    good, faceless = ATT / "s1" / "1.pgm", tmp_path / "flat.png"
    from PIL import Image

    Image.new("RGB", (120, 120), (90, 90, 90)).save(faceless)
    actor = EmbedActor({"model": "mobilefacenet"}, {}, require_single=False)
    first = actor({"name": np.array(["s1", "s1", "x"]), "path": np.array([str(good), str(faceless), "/nope.jpg"])})
    assert not first["skipped"].any() and first["error"][0] == ""
    assert str(faceless) in first["error"][1] and "no face" in first["error"][1]
    assert "/nope.jpg" in first["error"][2]
    assert np.isclose(np.linalg.norm(first["embedding"][0]), 1.0, atol=1e-3)
    again = EmbedActor({"model": "mobilefacenet"}, {"s1": {str(first["sha256"][0])}}, require_single=False)
    second = again({"name": np.array(["s1", "s2"]), "path": np.array([str(good), str(good)])})
    assert second["skipped"].tolist() == [True, False]  # skipped only for the person it is enrolled for
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    from enrollment import NewFace

    face = NewFace(first["embedding"][0], str(first["sha256"][0]))
    result = gallery.store.enroll_many([("s1", face), ("s2", face), ("s1", face)])
    assert result.added_names == ["s1", "s2"] and result.skipped == 1
    assert gallery.store.enroll_many([("s1", face)]).skipped == 1 and len(gallery.store.index) == 2
    gallery.close()


def bulk_process(root: Path, db: Path) -> subprocess.Popen:
    env = {**os.environ, "FACEREC_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "facerec.cli", "enroll", "--from-dir", str(root), "--db", str(db),
                             "--ray", "--workers", "1", "--write-batch", "4", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)


@pytest.mark.slow  # two Ray start-ups: about 3 minutes on 2 cores
def test_ray_bulk_enrollment_killed_halfway_finishes_on_rerun(recognizer, tmp_path, att_faces):
    needs_ray()
    people = range(1, 9)
    root = people_tree(tmp_path, people)
    db = tmp_path / "g.db"
    child = bulk_process(root, db)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if sum(faces_per_person(f"sqlite:///{db}").values()) >= 1:
                break
        except Exception:  # noqa: BLE001 - no tables yet
            pass
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    expected = {f"s{n}": att_faces[f"s{n}"] for n in people}
    halfway = faces_per_person(f"sqlite:///{db}")
    assert 0 < sum(halfway.values()) < sum(expected.values()), "the kill must land in the middle of the run"
    finish = bulk_process(root, db)
    out, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["already_enrolled"] == sum(halfway.values())  # resumed: the committed photos were skipped
    assert faces_per_person(f"sqlite:///{db}") == expected  # every detectable face, exactly once
    gallery = Gallery(recognizer, db=db)
    assert gallery.store.stats()["in_step"] and gallery.identify(ATT / "s5" / "3.pgm")[0].name == "s5"
    gallery.close()


@pytest.mark.slow  # one Ray start-up: about a minute on 2 cores
def test_ray_keeps_its_own_chatter_out_of_the_output(tmp_path):
    """Ray's INFO lines, notices and warnings go to its session logs: stderr holds facerec's lines only."""
    import os
    import sys

    people = tmp_path / "people"
    for person in ("s1", "s2"):
        (people / person).mkdir(parents=True)
        for number in (1, 2):
            (people / person / f"{number}.pgm").write_bytes((ATT / person / f"{number}.pgm").read_bytes())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "facerec", "enroll", "--from-dir", str(people), "--ray",
                           "--db", str(tmp_path / "g.db")], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    expected = [f"created a new gallery at {tmp_path / 'g.db'}", "read one sub-folder per person"]  # new first
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]  # facerec's own notes
    assert lines == expected, done.stderr


def test_actor_refuses_a_low_quality_photo_as_enroll_from_dir_does(tmp_path):
    """The Ray path applies the same quality gate as `enroll --from-dir`, and --allow-low-quality lifts it."""
    from facerec.bulk import EmbedActor
    from tests.conftest import YALE

    person = sorted(p.name for p in YALE.iterdir())[0]
    dark = YALE / person / f"{person}_P00A+130E+20.pgm"  # lit from far behind the side: the face mostly in shadow
    batch = {"name": np.array([person]), "path": np.array([str(dark)])}
    refused = EmbedActor({"model": "mobilefacenet"}, {}, require_single=False)(batch)
    assert "low-quality face" in refused["error"][0] and str(dark) in refused["error"][0]
    allowed = EmbedActor({"model": "mobilefacenet"}, {}, require_single=False, allow_low_quality=True)(batch)
    assert allowed["error"][0] == "" and np.isclose(np.linalg.norm(allowed["embedding"][0]), 1.0, atol=1e-3)

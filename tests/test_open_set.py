"""The self-calibrating open-set threshold: the Gumbel fit, the choice, and a real gallery keeping it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from facerec.gallery import Gallery
from facerec.open_set import MIN_PEOPLE, calibrate, gumbel_quantile
from tests.conftest import ATT, lfw


def test_gumbel_fit_recovers_the_quantile_of_a_known_law():
    rng = np.random.default_rng(1)
    mu, beta = 0.3, 0.04
    sample = rng.gumbel(mu, beta, size=20_000)
    truth = mu - beta * math.log(-math.log(0.99))
    assert gumbel_quantile(sample, 0.99) == pytest.approx(truth, abs=0.005)


def test_gumbel_fit_is_not_dragged_up_by_a_few_duplicates():
    rng = np.random.default_rng(2)
    sample = rng.gumbel(0.3, 0.04, size=200)
    with_duplicates = np.concatenate([sample, [0.99, 0.98]])  # one person enrolled under two names
    assert gumbel_quantile(with_duplicates, 0.99) == pytest.approx(gumbel_quantile(sample, 0.99), abs=0.01)


def test_the_stricter_threshold_wins_once_the_gallery_has_enough_people():
    maxima = np.full(50, 0.5) + np.linspace(-0.02, 0.02, 50)
    strict = calibrate(0.35, maxima, people=50, fpir=0.01, revision=3)
    assert strict.source == "gallery" and strict.threshold == strict.gallery_threshold > 0.5
    lenient = calibrate(0.8, maxima, people=50, fpir=0.01, revision=3)
    assert lenient.source == "model" and lenient.threshold == 0.8
    small = calibrate(0.35, maxima[: MIN_PEOPLE - 1], people=MIN_PEOPLE - 1, fpir=0.01, revision=3)
    assert small.source == "model" and small.gallery_threshold is None and small.threshold == 0.35


@pytest.fixture(scope="module")
def att_gallery(recognizer, tmp_path_factory):
    """Twelve AT&T people, two photos each: one studio, one light, so strangers score high against everyone."""
    gallery = Gallery(recognizer, db=tmp_path_factory.mktemp("att") / "g.db")
    for person in range(1, 13):
        gallery.enroll(f"s{person}", [ATT / f"s{person}" / "1.pgm", ATT / f"s{person}" / "2.pgm"], save=False)
    yield gallery
    gallery.close()


def test_a_uniform_gallery_raises_its_threshold_and_stores_how(att_gallery):
    calibration = att_gallery.calibration()
    assert calibration.people == 12 and calibration.probes == 24
    assert calibration.gallery_threshold is not None and calibration.threshold >= calibration.model_threshold
    assert att_gallery.threshold == calibration.threshold
    saved, revision = att_gallery.store.store.setting("open_set")
    assert revision == att_gallery.store.store.revision() and saved == calibration.stored()
    # the strangers a uniform set is about: AT&T people not enrolled are mostly turned away
    strangers = [ATT / f"s{person}" / "1.pgm" for person in range(30, 41)]
    answers = [att_gallery.identify(path)[0].name for path in strangers]
    assert answers.count(None) >= len(strangers) - 1
    # and the enrolled people, probed with photos not enrolled, are still recognised (most of them)
    probes = [(f"s{person}", ATT / f"s{person}" / "5.pgm") for person in range(1, 13)]
    assert sum(att_gallery.identify(path)[0].name == name for name, path in probes) >= 9


def test_calibration_follows_the_gallery(recognizer, tmp_path):
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    for person in range(1, MIN_PEOPLE):
        gallery.enroll(f"s{person}", [ATT / f"s{person}" / "1.pgm"], save=False)
    assert gallery.calibration().gallery_threshold is None  # too few people for a tail of its own
    gallery.enroll(f"s{MIN_PEOPLE}", [ATT / f"s{MIN_PEOPLE}" / "1.pgm"])
    grown = gallery.calibration()
    assert grown.people == MIN_PEOPLE and grown.gallery_threshold is not None
    gallery.remove("s1")
    shrunk = gallery.calibration()
    assert shrunk.people == MIN_PEOPLE - 1 and shrunk.gallery_threshold is None
    assert gallery.store.store.setting("open_set")[0] == shrunk.stored()
    gallery.close()


def test_stats_and_json_show_the_threshold_and_how_it_was_chosen(tmp_path):
    db = str(tmp_path / "g.db")
    runner = CliRunner()
    folder = tmp_path / "people"
    for person in range(1, 11):
        (folder / f"s{person}").mkdir(parents=True)
        (folder / f"s{person}" / "1.pgm").symlink_to(ATT / f"s{person}" / "1.pgm")
    report = json.loads(runner.invoke(main, ["enroll", "--from-dir", str(folder), "--db", db, "--json"]).stdout)
    assert report["open_set"]["people"] == 10 and report["open_set"]["source"] in ("gallery", "model")
    stats = json.loads(runner.invoke(main, ["index", "stats", "--db", db, "--json"]).stdout)
    assert stats["open_set"] == report["open_set"] and stats["open_set_current"] is True
    assert runner.invoke(main, ["remove", "s1", "--db", db]).exit_code == 0
    stale = runner.invoke(main, ["index", "stats", "--db", db])
    assert "stale" in stale.output
    found = json.loads(runner.invoke(main, ["identify", str(lfw("Abel_Pacheco", 1)), "--db", db, "--json"]).stdout)
    assert found["open_set"]["people"] == 9 and found["threshold"] == found["open_set"]["threshold"]
    assert found["faces"][0]["name"] is None  # an LFW man is nobody in an AT&T gallery
    fixed = json.loads(runner.invoke(main, ["identify", str(lfw("Abel_Pacheco", 1)), "--db", db, "--json",
                                            "--threshold", "0.2"]).output)
    assert fixed["open_set"] is None and fixed["threshold"] == 0.2


def test_compare_and_identify_make_the_same_decision(recognizer, tmp_path):
    """`compare` asks the gallery's open-set decision: for a plain probe, a low-quality one (held to the stricter
    bar) and a stranger, it says what `identify` says on a gallery of the same known people."""
    import shutil

    from facerec.compare import compare_folders
    from tests.conftest import YALE

    known = {"Abel_Pacheco": lfw("Abel_Pacheco", 1), "Amber_Tamblyn": lfw("Amber_Tamblyn", 1),
             "Laura_Bush": lfw("Laura_Bush", 1), "Abbas_Kiarostami": lfw("Abbas_Kiarostami", 1),
             "Abdoulaye_Wade": lfw("Abdoulaye_Wade", 1), "Adam_Sandler": lfw("Adam_Sandler", 1),
             "Adrien_Brody": lfw("Adrien_Brody", 1), "yaleB01": YALE / "yaleB01" / "yaleB01_P00A+000E+00.pgm"}
    # eight people: enough for the gallery's homogeneity to be measured, so a low-quality probe's bar is stricter
    probes = {"plain": lfw("Abel_Pacheco", 2), "low": YALE / "yaleB01" / "yaleB01_P00A+130E+20.pgm",
              "stranger": lfw("Aaron_Sorkin", 1)}
    (tmp_path / "known").mkdir()
    (tmp_path / "unknown").mkdir()
    for name, photo in known.items():
        shutil.copy(photo, tmp_path / "known" / f"{name}{photo.suffix}")
    for kind, photo in probes.items():
        shutil.copy(photo, tmp_path / "unknown" / f"{kind}{photo.suffix}")
    rows = {Path(row.path).stem: row for row in compare_folders(recognizer, tmp_path / "known", tmp_path / "unknown")}
    gallery = Gallery(recognizer, db=tmp_path / "g.db")
    for name, photo in known.items():
        gallery.enroll(name, [photo], save=False, allow_low_quality=True, allow_duplicate=True)
    answers = {kind: gallery.identify(photo)[0] for kind, photo in probes.items()}
    gallery.close()
    assert answers["plain"].name == "Abel_Pacheco" and answers["stranger"].name is None
    assert answers["low"].quality is not None and answers["low"].quality.low
    assert answers["low"].threshold > answers["plain"].threshold  # held to the stricter bar
    for kind, answer in answers.items():
        row = rows[kind]
        assert row.threshold == pytest.approx(answer.threshold, abs=1e-5), kind
        assert row.score == pytest.approx(answer.score, abs=1e-4), kind
        assert (row.person, row.score_kind) == (answer.name, answer.score_kind), kind
    assert [rows[kind].reason for kind in answers] == [answer.reason for answer in answers.values()]

"""A gallery keeps the embedding space its faces were made in, and refuses a probe embedded in another one."""

from __future__ import annotations

import json
import warnings

import pytest
from click.testing import CliRunner

from facerec import FaceRecognizer
from facerec.cli import main
from facerec.embedding_space import EmbeddingSpaceError
from facerec.gallery import Gallery
from tests.conftest import lfw


def cli(*args: object):  # noqa: ANN201 - a click Result
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory):
    """A gallery of two people enrolled with the default settings (int8 where calibrated, flip on)."""
    db = tmp_path_factory.mktemp("space") / "g.db"
    for name in ("Abel_Pacheco", "Amber_Tamblyn"):
        result = cli("enroll", name, lfw(name, 1), "--db", db)
        assert result.exit_code == 0, result.output
    return db


def test_the_gallery_records_its_embedding_space(enrolled):
    stats = json.loads(cli("index", "stats", "--db", enrolled, "--json").stdout)
    space = stats["crops"]
    assert space["precision"] == "int8" and space["flip"] is True and space["even_light"] is True
    assert space["landmarks"] == "mtcnn" and space["model"].startswith("mobilefacenet:")
    text = cli("index", "stats", "--db", enrolled).stdout
    assert "precision int8, flip on" in text


def test_a_probe_embedded_otherwise_is_refused_naming_the_settings(enrolled):
    result = cli("identify", lfw("Abel_Pacheco", 2), "--db", enrolled, "--precision", "fp32", "--no-flip")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "precision int8, flip on" in result.output and "precision fp32, flip off" in result.output
    result = cli("identify", lfw("Abel_Pacheco", 2), "--db", enrolled, "--landmarks", "detector",
                 "--detector", "yunet")
    assert result.exit_code != 0 and "landmarks mtcnn" in result.output and "landmarks detector" in result.output
    assert "precision" not in result.output  # only the setting that differs is named
    same = cli("identify", lfw("Abel_Pacheco", 2), "--db", enrolled, "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)["faces"][0]["name"] == "Abel_Pacheco"


def test_faces_embedded_otherwise_are_not_enrolled(enrolled):
    before = json.loads(cli("index", "stats", "--db", enrolled, "--json").stdout)["faces"]
    result = cli("enroll", "Amber_Tamblyn", lfw("Amber_Tamblyn", 2), "--db", enrolled, "--precision", "fp32")
    assert result.exit_code != 0 and "precision int8" in result.output and "precision fp32" in result.output
    assert json.loads(cli("index", "stats", "--db", enrolled, "--json").stdout)["faces"] == before


def test_the_library_refuses_too(tmp_path, recognizer):
    gallery = Gallery(recognizer, db=tmp_path / "g.db", normalize=False)
    gallery.enroll("Abel", lfw("Abel_Pacheco", 1))
    gallery.close()
    other = Gallery(FaceRecognizer(precision="fp32", flip=False), db=tmp_path / "g.db", normalize=False)
    with pytest.raises(EmbeddingSpaceError, match="precision int8, flip on; this probe was embedded with "
                                                  "precision fp32, flip off"):
        other.identify(lfw("Abel_Pacheco", 2))
    other.close()


def test_an_old_gallery_without_a_key_is_told_plainly(tmp_path, recognizer):
    gallery = Gallery(recognizer, db=tmp_path / "g.db", normalize=False)
    gallery.enroll("Abel", lfw("Abel_Pacheco", 1))
    gallery.store.store.put_own_setting("crops", {"even_light": True})  # as recorded before the key was
    gallery.close()
    old = Gallery(recognizer, db=tmp_path / "g.db", normalize=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [found] = old.identify(lfw("Abel_Pacheco", 2))
    assert found.name == "Abel"
    assert any("embedding settings were not recorded" in str(w.message) for w in caught)
    old.close()
    text = cli("index", "stats", "--db", tmp_path / "g.db").stdout
    assert "not recorded" in text

"""Shared fixtures: real photos from ../shared/data, real weights, one recognizer per run.

Every run has its own cache and data folders, set here before anything computes a path: nothing is written
into the user's ``~/.cache/facerec`` or ``~/.local/share/facerec`` (the ONNX exports are made once per run,
about 10 s), and a ``FACEREC_DB`` or ``FACEREC_VECTORS`` of the user's never points a test at a real gallery.
A session fixture fails the run if the user's folders changed all the same.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from platformdirs import user_cache_dir, user_data_dir

# pytest imports this file as ``conftest``, and test modules import it again as ``tests.conftest``: the first
# import picks the folders and leaves them in the environment, where the second (and subprocesses) find them.
if "FACEREC_TESTS_HOME" not in os.environ:
    os.environ["FACEREC_TESTS_USER_FOLDERS"] = os.pathsep.join([user_cache_dir("facerec"), user_data_dir("facerec")])
    os.environ["FACEREC_TESTS_HOME"] = tempfile.mkdtemp(prefix="facerec-tests-")
    atexit.register(shutil.rmtree, os.environ["FACEREC_TESTS_HOME"], ignore_errors=True)
#: The user's own facerec folders (cache and data), as they were before the run: they must not change.
USER_FOLDERS = tuple(Path(p) for p in os.environ["FACEREC_TESTS_USER_FOLDERS"].split(os.pathsep))
#: This run's cache (XDG_CACHE_HOME, FACEREC_CACHE_DIR) and data (XDG_DATA_HOME) folders, removed at exit.
TEST_HOME = Path(os.environ["FACEREC_TESTS_HOME"])
os.environ["XDG_CACHE_HOME"] = str(TEST_HOME / "cache")
os.environ["XDG_DATA_HOME"] = str(TEST_HOME / "data")
os.environ["FACEREC_CACHE_DIR"] = str(TEST_HOME / "cache" / "facerec")
for _name in ("FACEREC_DB", "FACEREC_VECTORS", "FACEREC_INDEX_KIND", "FACEREC_MODELS_DIR"):
    os.environ.pop(_name, None)


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: its modification time (ns) and size."""
    found = {}
    for path in folder.rglob("*") if folder.is_dir() else ():
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile
            continue
        found[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return found


USER_FOLDERS_BEFORE = {folder: listing(folder) for folder in USER_FOLDERS}


@pytest.fixture(scope="session", autouse=True)
def user_folders_untouched():
    """Fail the run when a test wrote into the user's facerec folders (a file made, changed or removed)."""
    yield
    changed = sorted({path for folder in USER_FOLDERS for path, _ in
                      set(listing(folder).items()) ^ set(USER_FOLDERS_BEFORE[folder].items())})
    if changed:
        pytest.fail(f"the tests wrote into the user's facerec folders: {', '.join(changed[:5])}"
                    + (f" and {len(changed) - 5} more" if len(changed) > 5 else ""))

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEREC_SHARED", ROOT.parent / "shared"))
LFW = SHARED / "data" / "lfw_dev" / "images"
ATT = SHARED / "data" / "att_faces"
YALE = SHARED / "data" / "yale_b_dev"
WEIGHTS = SHARED / "weights"

if not LFW.is_dir():  # pragma: no cover - CI always has ../shared
    pytest.exit(f"the shared data folder {SHARED} is missing; set FACEREC_SHARED", returncode=2)

os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(WEIGHTS))
os.environ["FACEREC_OFFLINE"] = "1"  # tests never touch the network


def lfw(name: str, number: int = 1) -> Path:
    return LFW / name / f"{name}_{number:04d}.jpg"


@pytest.fixture(scope="session")
def recognizer():
    """The default recognizer (its calibration, with its cohort entries, ships with the package)."""
    from facerec import FaceRecognizer

    return FaceRecognizer()


@pytest.fixture(scope="session")
def two_faces_photo(tmp_path_factory) -> Path:
    """A real group photo: two LFW portraits side by side, the right one smaller."""
    left = Image.open(lfw("Abel_Pacheco")).convert("RGB")
    right = Image.open(lfw("Amber_Tamblyn")).convert("RGB").resize((200, 200))
    canvas = Image.new("RGB", (500, 250), (128, 128, 128))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (275, 25))
    path = tmp_path_factory.mktemp("group") / "two_faces.jpg"
    canvas.save(path, quality=95)
    return path


@pytest.fixture(scope="session")
def no_face_photo(tmp_path_factory) -> Path:
    """A real photo with no face: an MNIST digit from ../shared, scaled up."""
    import gzip

    with gzip.open(SHARED / "data" / "mnist" / "t10k-images.idx3-ubyte.gz") as handle:
        digits = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    path = tmp_path_factory.mktemp("noface") / "digit.png"
    Image.fromarray(digits[0]).resize((224, 224), Image.NEAREST).save(path)
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread, restoring the setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def att_faces(recognizer) -> dict[str, int]:
    """How many photos of AT&T s1-s15 have a detectable face (a bulk enrollment adds those)."""
    counts = {}
    for number in range(1, 16):
        images = [recognizer.load(p) for p in sorted((ATT / f"s{number}").iterdir())]
        counts[f"s{number}"] = sum(bool(faces) for faces in recognizer.detector.detect(images))
    return counts


@pytest.fixture(scope="session")
def att_enrollable(recognizer) -> dict[str, int]:
    """How many photos of AT&T s1-s15 have a detectable face that is not of low quality (what ``enroll`` and
    ``enroll --from-dir`` add without --allow-low-quality; see facerec.quality)."""
    from facerec.quality import assess_faces

    counts = {}
    for number in range(1, 16):
        aligned = recognizer.align(sorted((ATT / f"s{number}").iterdir()), fallback=None, collect_errors=True)
        qualities = assess_faces(aligned.faces, aligned.crops)
        counts[f"s{number}"] = sum(error is None and not q.low for error, q in zip(aligned.errors, qualities))
    return counts

"""An instant, lean core (issue 27): no torch on the everyday path, `models prepare`, one pipeline config
from the CLI to the service and Ray bulk enrollment, `serve --vectors`, and the product apart from the zoo."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import COMMANDS, main
from facerec.config import ConfigError, PipelineConfig
from facerec.recognizer import build_recognizer
from tests.conftest import ATT, SHARED, lfw

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "facenet_pytorch", "matplotlib")
#: Python code that makes the heavy packages unimportable, as in a core install (``pip install facerec``).
WITHOUT_HEAVY = f"import sys; sys.modules.update(dict.fromkeys({HEAVY!r}))  # import torch -> ModuleNotFoundError\n"
#: The same pipeline options, given to verify, serve and enroll --ray.
OPTIONS = ["--detector", "yunet", "--landmarks", "detector", "--precision", "fp32", "--threads", "1", "--no-flip"]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "FACEREC_CACHE_DIR": str(cache), "FACEREC_THREADS": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """A fresh cache made ready by `facerec models prepare --json` (a first use: it exports, with notes)."""
    cache = tmp_path_factory.mktemp("cache")
    run = subprocess.run([sys.executable, "-m", "facerec", "models", "prepare", "--json"], cwd=ROOT,
                         env=_env(cache), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "note: quantizing" in run.stderr  # a cold cache works without any step by hand, and says so
    return cache


def _imported(args: list[str], cache: Path) -> set[str]:
    """The top-level modules ``python -X importtime -m facerec ARGS`` imports."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "facerec", *args], cwd=ROOT, env=_env(cache),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    assert len(lines) > 50  # -X importtime did report
    return {name.split(".")[0] for name in lines}


@pytest.mark.parametrize("args", [["--help"], ["verify", str(lfw("Aaron_Patterson")), str(lfw("Aaron_Sorkin"))],
                                  ["verify", str(lfw("Aaron_Patterson")), str(lfw("Aaron_Sorkin")), "--robust"],
                                  ["models"], ["models", "--json"]],
                         ids=["help", "verify", "verify-robust", "models", "models-json"])
def test_everyday_commands_import_no_torch(warm_cache, args):
    imported = _imported(args, warm_cache)
    assert "facerec" in imported
    assert not imported & set(HEAVY), f"{' '.join(args)} imported {sorted(imported & set(HEAVY))}"


#: Quick reads (issue 38): what each command must not import, as modules or packages. ``--help`` lists the commands
#: from their help lines; ``list`` reads the database and its vector store but runs no face pipeline; ``verify``
#: runs the pipeline but opens no gallery.
QUICK_READS = {
    "help": (["--help"], ("numpy", "PIL", "onnxruntime", "faiss", "sqlalchemy", "enrollment.store")),
    "list": (["list", "--db", "{db}"], ("onnxruntime", "PIL", "facerec.recognizer", "facerec.models")),
    "verify": (["verify", str(lfw("Aaron_Patterson")), str(lfw("Aaron_Sorkin"))],
               ("sqlalchemy", "faiss", "enrollment.store", "enrollment.gallery")),
}


@pytest.mark.parametrize("command", list(QUICK_READS))
def test_quick_reads_import_only_what_they_use(warm_cache, tmp_path, command):
    db = tmp_path / "g.db"
    if command == "list":  # a real gallery of one person
        made = subprocess.run([sys.executable, "-m", "facerec", "enroll", "Abel Pacheco", str(lfw("Abel_Pacheco")),
                               "--db", str(db)], cwd=ROOT, env=_env(warm_cache), capture_output=True, text=True,
                              timeout=300)
        assert made.returncode == 0, made.stderr[-2000:]
    args, banned = QUICK_READS[command]
    args = [arg.format(db=db) for arg in args]
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "facerec", *args], cwd=ROOT,
                         env=_env(warm_cache), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "facerec.cli" in imported  # -X importtime did report
    loaded = sorted(name for name in imported if name.startswith(tuple(f"{b}." for b in banned)) or name in banned)
    assert not loaded, f"facerec {' '.join(args)} imported {loaded[:10]}"
    if command == "list":  # and still answers
        assert run.stdout.split() == ["1", "Abel", "Pacheco"], run.stdout


def test_import_facerec_is_light():
    code = "import sys, facerec; print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % (HEAVY,)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr


def test_models_prepare_lists_every_file_it_made_and_a_second_run_makes_none(warm_cache):
    run = subprocess.run([sys.executable, "-m", "facerec", "models", "prepare", "--json"], cwd=ROOT,
                         env=_env(warm_cache), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "note:" not in run.stderr  # all made by the first run
    report = json.loads(run.stdout)
    names = [Path(p).name for p in report["onnx"]]  # the published ONNX files run as found; only int8 is made
    assert len(names) == 1 and names[0].startswith("mobilefacenet-foamliu-opset17-int8-")
    assert {"mobilefacenet-foamliu-opset17.onnx", "retinaface-mnet025-opset17.onnx"} <= {
        Path(p).name for p in report["weights"]}
    assert all(Path(p).is_file() and Path(p).parent == warm_cache / "onnx" for p in report["onnx"])
    assert report["precision"] == "int8" and report["detector"] == "yunet,retinaface"
    assert all(Path(p).is_file() for p in report["weights"])


def test_nms_matches_torchvision():
    from torchvision.ops import nms as reference

    from facerec.models.detectors.base import nms

    rng = np.random.default_rng(7)
    for _ in range(20):
        corners = rng.uniform(0, 200, (60, 2)).astype(np.float32)
        boxes = np.concatenate([corners, corners + rng.uniform(5, 80, (60, 2)).astype(np.float32)], 1)
        scores = rng.uniform(0, 1, 60).astype(np.float32)
        import torch

        expected = reference(torch.from_numpy(boxes), torch.from_numpy(scores), 0.4).numpy()
        assert nms(boxes, scores, 0.4).tolist() == expected.tolist()
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_area_resize_matches_torch_interpolate():
    import torch
    import torch.nn.functional as F

    from facerec.models.detectors.landmarks import area_resize

    rng = np.random.default_rng(3)
    for height, width in ((37, 51), (200, 180), (10, 7), (24, 24)):
        image = rng.integers(0, 256, (3, height, width)).astype(np.float32)
        for size in (24, 48):
            expected = F.interpolate(torch.from_numpy(image)[None], size=(size, size), mode="area")[0].numpy()
            assert np.allclose(area_resize(image, size), expected, atol=1e-3)


def test_help_lines_are_the_commands_own():
    """`facerec --help` shows each command's help line without importing it: the line must be the command's."""
    import click

    limit = 1000
    for name in COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command is not None
        assert click.utils.make_default_short_help(COMMANDS[name][1], limit) == command.get_short_help_str(limit), name


def test_config_is_checked_once_where_it_is_made():
    with pytest.raises(ConfigError, match="unknown detector 'nope'.*yunet"):
        PipelineConfig(detectors="yunet,nope")
    with pytest.raises(ConfigError, match="threads"):
        PipelineConfig(threads=0)
    with pytest.raises(ConfigError, match="unknown pipeline setting 'detector'"):
        PipelineConfig.from_dict({"detector": "yunet"})
    with pytest.raises(ConfigError, match="unknown model"):
        PipelineConfig(model="nope")
    config = PipelineConfig(detectors="yunet, retinaface", threads=1)
    assert config.detectors == ("yunet", "retinaface") and PipelineConfig.from_dict(config.to_dict()) == config
    result = CliRunner().invoke(main, ["verify", "a.jpg", "b.jpg", "--detector", "nope"])
    assert result.exit_code != 0 and "unknown detector 'nope'" in result.output and "Traceback" not in result.output


def test_a_recognizer_leaves_torch_threads_alone():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        build_recognizer(PipelineConfig(detectors=("yunet",), landmarks="detector", threads=1))
        assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)


def test_same_options_same_pipeline_in_cli_service_and_bulk(tmp_path, monkeypatch):
    """verify, serve (with --vectors milvus:///...: it serves from Milvus) and enroll --ray, given the same options."""
    pytest.importorskip("pymilvus")
    import uvicorn

    import facerec.bulk
    from facerec.bulk import EmbedActor

    expected = PipelineConfig(detectors=("yunet",), landmarks="detector", precision="fp32", threads=1, flip=False)
    verify = CliRunner().invoke(main, ["verify", str(lfw("Aaron_Patterson")), str(lfw("Aaron_Patterson", 1)),
                                       *OPTIONS, "--json"])
    assert verify.exit_code == 0, verify.output
    assert json.loads(verify.stdout)["precision"] == "fp32"

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.setdefault("app", app))  # no server loop
    milvus = tmp_path / "x" / "faces.db"
    milvus.parent.mkdir()
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "g.db"), "--vectors", f"milvus://{milvus}",
                                       *OPTIONS])
    assert result.exit_code == 0, result.output
    gallery = served["app"].state.service.gallery
    assert gallery.recognizer.config == expected.with_(max_pixels=gallery.recognizer.max_pixels)
    gallery.enroll("Aaron Patterson", [str(lfw("Aaron_Patterson"))])
    stats = gallery.store.stats()
    assert stats["backend"] == "milvus" and stats["indexed"] == 1 and str(milvus) in stats["vectors"]
    assert not (tmp_path / "g.faiss").exists()
    served["app"].state.service.close()

    recipes = []
    monkeypatch.setattr(facerec.bulk, "bulk_enroll", lambda gallery, folder, *, recipe, **kwargs:
                        recipes.append(recipe) or facerec.gallery.EnrollReport())
    result = CliRunner().invoke(main, ["enroll", "--from-dir", str(ATT), "--ray", "--db", str(tmp_path / "b.db"),
                                       *OPTIONS, "--json"])
    assert recipes == [expected], result.output
    actor = EmbedActor(recipes[0], {}, require_single=False)
    assert actor.recognizer.config == expected and actor.recognizer.detector.name == "yunet"
    assert actor.recognizer.precision == "fp32" and actor.recognizer.flip is False and actor.recognizer.threads == 1


def test_product_modules_import_neither_the_zoo_nor_the_cli():
    """facerec/models, the gallery, the service and the face commands never import facerec.zoo or facerec.train,
    and nothing outside facerec/cli imports facerec.cli (read from the source, imports inside functions too)."""
    product = [*ROOT.glob("facerec/models/**/*.py"), *ROOT.glob("facerec/serve/**/*.py"), ROOT / "facerec/gallery.py",
               ROOT / "facerec/recognizer.py", ROOT / "facerec/config.py", ROOT / "facerec/bulk.py",
               *(ROOT / "facerec/cli" / f"{name}.py" for name in ("verify", "enroll", "store", "options", "embed",
                                                                  "models", "common", "serve"))]
    outside_cli = [p for p in ROOT.glob("facerec/**/*.py")  # but the entry point, `python -m facerec`
                   if "cli" not in p.relative_to(ROOT / "facerec").parts and p != ROOT / "facerec/__main__.py"]
    for path, banned in [*((p, ("facerec.zoo", "facerec.train")) for p in product),
                         *((p, ("facerec.cli",)) for p in outside_cli)]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(banned), f"{path.relative_to(ROOT)} imports {name}"


def test_core_dependencies_are_what_inference_needs_and_torch_is_an_extra():
    """`pip install facerec` brings no torch (issue 35): PyTorch, its vision packages and matplotlib are extras
    named for what they bring, and `dev` (what CI installs) still has them all."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda requirement: requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0]  # noqa: E731
    core = {name(r).strip().lower() for r in project["dependencies"]}
    assert core == {"onnxruntime", "onnx", "numpy", "pillow", "faiss-cpu", "sqlalchemy", "click", "platformdirs",
                    "filelock", "tqdm"}
    extras = project["optional-dependencies"]
    assert {name(r) for r in extras["torch"]} == {"torch", "torchvision", "facenet-pytorch"}
    assert {name(r) for r in extras["plots"]} == {"matplotlib"}
    for extra in ("train", "robustness", "zoo", "dev"):
        assert "facerec[torch,plots]" in extras[extra], extra


def test_robust_defence_is_jpeg_reencoding_in_pil_and_numpy(faces_crops):
    """`--robust` runs in the core install: the product's JPEG defence needs no torch, and gives the crops the
    robustness experiments' JpegDefence gives (which the attacks differentiate through)."""
    code = WITHOUT_HEAVY + (
        "import numpy as np; from facerec.defence import crop_defence\n"
        "crops = np.load(sys.argv[1]); np.save(sys.argv[2], crop_defence('jpeg')(crops))\n")
    source, out = faces_crops, faces_crops.with_name("defended.npy")
    run = subprocess.run([sys.executable, "-c", code, str(source), str(out)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    from facerec.robustness.defence import JpegDefence

    crops, defended = np.load(source), np.load(out)
    assert np.array_equal(defended, JpegDefence(quality=75).transform_crops(crops))
    assert defended.shape == crops.shape and defended.dtype == np.uint8 and not np.array_equal(defended, crops)


@pytest.fixture
def faces_crops(tmp_path) -> Path:
    """Two aligned 112x112 face crops of real photos, saved as uint8 N x 112 x 112 x 3."""
    from facerec import FaceRecognizer

    recognizer = FaceRecognizer(detector="yunet", landmarks="detector", precision="fp32", threads=1, flip=False)
    crops = recognizer.align([lfw("Abel_Pacheco"), lfw("Akhmed_Zakayev")], fallback=None).crops
    path = tmp_path / "crops.npy"
    np.save(path, crops)
    return path


@pytest.mark.parametrize("args, extra", [
    (["train", "--data", str(ATT)], "train"),
    (["zoo", "summary", "lenet"], "zoo"),
    (["robustness", "--pairs", str(SHARED / "data/lfw_dev/pairs_dev.txt"), "--root", str(lfw("x").parents[1]),
      "--out", "{tmp}"], "robustness"),
    (["verify", str(lfw("Abel_Pacheco")), str(lfw("Abel_Pacheco", 4)), "--backend", "torch"], "torch"),
    (["verify", str(lfw("Abel_Pacheco")), str(lfw("Abel_Pacheco", 4)), "--backend", "torch", "--json"], "torch"),
    (["eval", "pairs", "--pairs", str(SHARED / "data/lfw_dev/pairs_dev.txt"), "--root", str(lfw("x").parents[1]),
      "--roc", "{tmp}/roc.png", "--no-cache"], "plots"),  # said at once, not after an hour of evaluation
], ids=["train", "zoo", "robustness", "backend-torch", "backend-torch-json", "eval-roc"])
def test_a_feature_without_its_extra_says_which_extra_in_one_line(args, extra, tmp_path):
    code = WITHOUT_HEAVY + "from facerec.cli import main; main(sys.argv[1:], prog_name='facerec')\n"
    args = [arg.replace("{tmp}", str(tmp_path / "out")) for arg in args]
    run = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=_env(tmp_path / "cache"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert f"pip install 'facerec[{extra}]'" in lines[0], lines[0]
    if "--json" in args:
        assert json.loads(lines[0])["error"] == "MissingExtraError"


#: A session of the everyday commands, run with torch, torchvision, facenet-pytorch and matplotlib unimportable:
#: each command's exit code and output, and the heavy modules that were imported after all (none), as JSON.
EVERYDAY = WITHOUT_HEAVY + """
import json
from pathlib import Path

import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient

from facerec.cli import main

work, lfw, att = (Path(p) for p in sys.argv[1:4])
photo = lambda name, n=1: str(lfw / name / f"{name}_{n:04d}.jpg")
db = ["--db", str(work / "gallery.db")]
known = work / "known"
(known / "Abel_Pacheco").mkdir(parents=True)
(known / "Abel_Pacheco" / "a.jpg").write_bytes(Path(photo("Abel_Pacheco")).read_bytes())
(work / "frames").mkdir()  # a clip as a folder of frames, for watch
for n in range(3):
    (work / "frames" / f"{n}.jpg").write_bytes(Path(photo("Abel_Pacheco", 2)).read_bytes())
for person in ("s1", "s2"):  # a folder of people, one sub-folder each
    (work / "att" / person).mkdir(parents=True)
    (work / "att" / person / "1.pgm").write_bytes((att / person / "1.pgm").read_bytes())
runs = {}
for name, args in [
    ("verify", ["verify", photo("Abel_Pacheco"), photo("Abel_Pacheco", 4), "--json"]),
    ("verify-robust", ["verify", photo("Abel_Pacheco"), photo("Abel_Pacheco", 4), "--robust", "--json"]),
    ("enroll", ["enroll", "Abel Pacheco", photo("Abel_Pacheco"), *db, "--json"]),
    ("enroll-dir", ["enroll", "--from-dir", str(work / "att"), *db, "--json"]),
    ("identify", ["identify", photo("Abel_Pacheco", 2), *db, "--json"]),
    ("list", ["list", *db, "--json"]),
    ("watch", ["watch", str(work / "frames"), *db, "--json"]),
    ("embed", ["embed", photo("Abel_Pacheco", 3), "-o", str(work / "embedded")]),
    ("compare", ["compare", "--known", str(known), "--unknown", photo("Abel_Pacheco", 4), "--json"]),
]:
    result = CliRunner().invoke(main, args)
    runs[name] = [result.exit_code, result.stdout if result.exit_code == 0 else result.output]

served = {}
uvicorn.run = lambda app, **kwargs: served.setdefault("app", app)  # no server loop: the app is called below
result = CliRunner().invoke(main, ["serve", *db])
runs["serve"] = [result.exit_code or int("app" not in served), result.output]
if "app" in served:
    from enrollment import AccessStore

    access = AccessStore(f"sqlite:///{work / 'gallery.db'}")
    key = access.create_key("read", label="test")[1]
    access.close()
    with TestClient(served["app"]) as client:
        files = {"image_a": open(photo("Abel_Pacheco"), "rb"), "image_b": open(photo("Abel_Pacheco", 4), "rb")}
        answer = client.post("/v1/verify", files=files, headers={"X-API-Key": key})
    runs["serve"] = [int(answer.status_code != 200), answer.text]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY and sys.modules[m] is not None)
print(json.dumps({"runs": runs, "heavy": heavy}))
""".replace("HEAVY", repr(HEAVY), 1).replace("in HEAVY", f"in {HEAVY!r}")


def test_everyday_commands_run_without_torch_from_the_onnx_files(tmp_path):
    """The core install's promise (issue 35): with torch, torchvision, facenet-pytorch and matplotlib unimportable
    and an empty cache, verify (and --robust), enroll, identify, list, watch, embed, compare and serve run end to
    end on real photos, from the published ONNX files found beside the weights (FACEREC_WEIGHTS_DIR)."""
    script = tmp_path / "everyday.py"
    script.write_text(EVERYDAY)
    env = {**_env(tmp_path / "cache"), "FACEREC_WEIGHTS_DIR": str(SHARED / "weights")}
    run = subprocess.run([sys.executable, str(script), str(tmp_path), str(SHARED / "data/lfw_dev/images"),
                          str(ATT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    failed = {name: output[-500:] for name, (code, output) in report["runs"].items() if code != 0}
    assert not failed, failed
    runs = {name: output for name, (code, output) in report["runs"].items()}
    assert json.loads(runs["verify"])["same_person"] and json.loads(runs["verify-robust"])["same_person"]
    [face] = json.loads(runs["identify"])["faces"]
    assert face["name"] == "Abel Pacheco" and face["recognized"]
    assert {p["name"] for p in json.loads(runs["list"])["people"]} == {"Abel Pacheco", "s1", "s2"}
    assert json.loads(runs["compare"])["results"][0]["person"] == "Abel_Pacheco"
    assert json.loads(runs["watch"].splitlines()[0])["name"] == "Abel Pacheco"  # one track, its line first
    assert (tmp_path / "embedded" / "embeddings.npy").is_file()
    assert json.loads(runs["serve"])["same_person"]
    assert report["heavy"] == []

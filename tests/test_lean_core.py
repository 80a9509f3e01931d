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
from facerec.config import ConfigError, PipelineConfig, build_recognizer
from tests.conftest import ATT, lfw

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "facenet_pytorch")
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
    assert "note: exported" in run.stderr  # a cold cache works without any step by hand, and says so
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
                                  ["models"], ["models", "--json"]], ids=["help", "verify", "models", "models-json"])
def test_everyday_commands_import_no_torch(warm_cache, args):
    imported = _imported(args, warm_cache)
    assert "facerec" in imported
    assert not imported & set(HEAVY), f"{' '.join(args)} imported {sorted(imported & set(HEAVY))}"


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
    names = sorted(Path(p).name.split("-opset")[0].rsplit("-", 1)[0] for p in report["onnx"])
    assert names == ["mobilefacenet-foamliu", "mobilefacenet-foamliu", "mtcnn-onet", "mtcnn-rnet",
                     "retinaface-mnet025"]  # fp32 and int8 embedder, the landmark networks, RetinaFace
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

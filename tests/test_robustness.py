"""Attacks, defences and the robustness command on real LFW faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import LFW, SHARED, lfw

from facerec.evaluation.pairs import Pair
from facerec.robustness import (
    JpegDefence,
    ResizePadDefence,
    RobustnessError,
    fgsm,
    get_defence,
    pgd,
    pipeline_embedder,
    similarity,
)
from facerec.robustness.crops import crop_pairs

GENUINE = Pair(lfw("Abel_Pacheco", 1), lfw("Abel_Pacheco", 4), True, 0)
IMPOSTOR = Pair(lfw("Abdel_Madi_Shabneh", 1), lfw("Dean_Barker", 1), False, 0)


@pytest.fixture(scope="module")
def faces(recognizer):
    """Aligned crops (float, N x 3 x 112 x 112) of the genuine and impostor pairs, and the embedder."""
    crops = crop_pairs(recognizer, [GENUINE, IMPOSTOR])
    first, second = crops.pair_indices([GENUINE, IMPOSTOR])
    pixels = torch.from_numpy(crops.crops).permute(0, 3, 1, 2).float() / 255
    embed = pipeline_embedder(recognizer.model)
    with torch.inference_mode():
        targets = embed(pixels[second])
    return pixels[first], targets, embed, recognizer.threshold


@pytest.fixture(scope="module")
def plain(faces, recognizer):
    """The same crops with the cheaper embedder without flip, for checks that need no flip."""
    embed = pipeline_embedder(recognizer.model, flip=False)
    return faces[0], faces[1], embed


def _scores(embed, pixels, targets) -> np.ndarray:
    with torch.inference_mode():
        return similarity(embed, pixels, targets).numpy()


@pytest.mark.parametrize("row, setting", [(0, "dodging"), (1, "impersonation")])
def test_pgd_at_eps_8_flips_a_correct_decision(faces, row, setting):
    images, targets, embed, threshold = faces
    x, t = images[row : row + 1], targets[row : row + 1]
    genuine = setting == "dodging"
    clean = _scores(embed, x, t)[0]
    assert (clean >= threshold) == genuine, "the clean decision must be right before the attack"
    adversarial = pgd(embed, x, t, eps=8, steps=10, setting=setting, generator=torch.Generator().manual_seed(0))
    attacked = _scores(embed, adversarial, t)[0]
    assert (attacked >= threshold) != genuine
    assert (attacked < clean) if genuine else (attacked > clean)


@pytest.mark.parametrize("eps", [1, 8])
def test_attacks_respect_the_eps_ball_and_pixel_range(plain, eps):
    images, targets, embed = plain
    # saturated pixels check that clamping to [0, 1] keeps the bound
    images = images.clone()
    images[:, :, :8] = 0.0
    images[:, :, -8:] = 1.0
    for adversarial in (
        fgsm(embed, images, targets, eps=eps, setting="dodging"),
        pgd(embed, images, targets, eps=eps, steps=3, setting="impersonation", step_size=eps),
    ):
        assert (adversarial - images).abs().max().item() <= eps / 255 + 1e-6
        assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_eps_zero_returns_the_input(plain):
    images, targets, embed = plain
    assert torch.equal(pgd(embed, images, targets, eps=0, steps=2, setting="dodging"), images)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, t: ((x * 255).byte(), t, {}), "float tensor"),
        (lambda x, t: (x * 2, t, {}), "[0, 1]"),
        (lambda x, t: (x[0], t, {}), "float tensor"),
        (lambda x, t: (x, t[:1], {}), "one per image"),
        (lambda x, t: (x, t, {"eps": -1}), "pixel levels"),
        (lambda x, t: (x, t, {"eps": 300}), "pixel levels"),
        (lambda x, t: (x, t, {"setting": "evasion"}), "dodging, impersonation"),
        (lambda x, t: (x, t, {"steps": 0}), "steps"),
    ],
)
def test_bad_attack_inputs_raise_clear_errors(plain, change, message):
    images, targets, embed = plain
    x, t, options = change(images, targets)
    arguments = {"eps": 4, "setting": "dodging", **options}
    with pytest.raises(RobustnessError, match=message.replace("[", r"\[").replace("]", r"\]")):
        pgd(embed, x, t, **arguments)
    if "steps" not in options:
        with pytest.raises(RobustnessError):
            fgsm(embed, x, t, eps=arguments["eps"], setting=arguments["setting"])


def test_jpeg_defence_is_deterministic_and_keeps_shape(faces):
    images = faces[0]
    crops = (images * 255).round().byte().permute(0, 2, 3, 1).numpy()
    defence = JpegDefence(quality=75)
    once, twice = defence.transform_crops(crops), defence.transform_crops(crops)
    assert once.dtype == np.uint8 and once.shape == crops.shape and np.array_equal(once, twice)
    assert not np.array_equal(once, crops)
    assert torch.allclose(defence.transform(images), torch.from_numpy(once).permute(0, 3, 1, 2) / 255)


def test_resize_defence_is_seeded_and_differentiable(faces):
    images = faces[0]
    defence = ResizePadDefence(min_size=96, seed=3)
    assert torch.equal(defence.transform(images), defence.transform(images))
    draws = [defence.transform(images, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    x = images.clone().requires_grad_(True)
    defence.attack_view(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_jpeg_bpda_passes_the_gradient_straight_through(faces):
    x = faces[0].clone().requires_grad_(True)
    JpegDefence().attack_view(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_bad_defence_options_raise():
    with pytest.raises(RobustnessError, match="quality"):
        JpegDefence(quality=0)
    with pytest.raises(RobustnessError, match="unknown defence"):
        get_defence("blur")
    with pytest.raises(RobustnessError, match="uint8"):
        JpegDefence().transform_crops(np.zeros((1, 112, 112, 3), np.float32))


def test_cli_robustness_json_on_a_tiny_pairs_file(tmp_path):
    from facerec.cli import main

    pairs = tmp_path / "pairs.txt"
    pairs.write_text(
        "2\t1\n"
        "Abel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n"
        "Aitor_Gonzalez\t1\t2\nAdrian_Annus\t1\tJorge_Marquez-Ruarte\t1\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "robustness", "--pairs", str(pairs), "--root", str(LFW), "--attack", "fgsm", "--eps", "8",
        "--defence", "jpeg", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu", "--out", str(out), "--json",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # notes (a first export) go to stderr
    assert report["device"] == "cpu"
    assert report["attacked_folds"] == [2] and report["threshold_folds"] == [1]
    assert report["attacked_pairs"] == 2
    assert report["prepare_seconds"] >= 0 and report["attack_seconds"] >= 0  # where the time went, both parts
    kinds = {(r["pipeline"], r["attacker"], r["attack"], r["setting"]) for r in report["rows"]}
    assert ("plain", "white-box", "fgsm", "dodging") in kinds
    assert ("jpeg", "adaptive", "fgsm", "impersonation") in kinds
    assert all(r["linf"] <= 8 + 1e-4 for r in report["rows"])
    assert (out / "robustness.png").is_file() and (out / "examples.png").is_file()


def test_cli_robustness_rejects_bad_eps(tmp_path):
    from facerec.cli import main

    result = CliRunner().invoke(main, [
        "robustness", "--pairs", str(SHARED / "data" / "lfw_dev" / "pairs_dev.txt"), "--root", str(LFW),
        "--eps", "4,x", "--out", str(tmp_path),
    ])
    assert result.exit_code != 0 and "--eps" in result.output


def test_cli_robustness_rejects_an_unknown_device(tmp_path):
    from facerec.cli import main

    result = CliRunner().invoke(main, [
        "robustness", "--pairs", str(SHARED / "data" / "lfw_dev" / "pairs_dev.txt"), "--root", str(LFW),
        "--device", "tpu", "--out", str(tmp_path),
    ])
    assert result.exit_code != 0 and "use auto, cpu or cuda" in result.output and "Traceback" not in result.output


def test_summary_table_has_one_line_per_eps_and_a_clean_line():
    from facerec.robustness.experiment import ResultRow
    from facerec.robustness.report import format_summary, format_table

    def row(pipeline, attacker, attack, eps, setting, attacked):
        return ResultRow(pipeline, attacker, attack, eps, setting, 4, 0.5, attacked, 0.0, 0.0, eps, 0.0)

    rows = [row("plain", "none", "clean", 0, "dodging", 1.0), row("plain", "none", "clean", 0, "impersonation", 1.0)]
    rows += [row("plain", "white-box", "pgd-10", e, s, 0.25) for e in (1, 8) for s in ("dodging", "impersonation")]
    summary = format_summary(rows).splitlines()
    assert summary[2] == "| plain / clean | 0 | 100.0% | 100.0% |"
    assert summary[3] == "| plain / white-box | 1 | 25.0% | 25.0% |" and len(summary) == 5
    assert len(format_table(rows).splitlines()) == 2 + len(rows)


def test_cli_robustness_keeps_a_fold_for_the_thresholds(tmp_path):
    from facerec.cli import main

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t1\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n"
                     "Aitor_Gonzalez\t1\t2\nAdrian_Annus\t1\tJorge_Marquez-Ruarte\t1\n")
    result = CliRunner().invoke(main, ["robustness", "--pairs", str(pairs), "--root", str(LFW), "--folds", "1,2",
                                       "--device", "cpu", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "leaving at least one fold" in result.output and "--folds" in result.output
    assert "Traceback" not in result.output

"""Metrics checked by hand on tiny inputs, and the pairs protocol on real LFW photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from facerec.cli import main
from facerec.errors import DatasetError
from facerec.evaluation.metrics import (
    best_threshold,
    fold_accuracy,
    person_balanced_weights,
    roc_curve,
    tar_at_far,
    threshold_at_far,
)
from facerec.evaluation.pairs import read_pairs
from tests.conftest import LFW, SHARED


def test_roc_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    same = np.array([1, 1, 0, 1, 0, 0], bool)
    roc = roc_curve(scores, same)
    assert np.allclose(roc.tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    assert np.allclose(roc.far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    assert roc.auc == pytest.approx(8 / 9)  # 8 of 9 genuine/impostor orderings are right
    assert tar_at_far(roc, 0.0) == pytest.approx(2 / 3)
    assert threshold_at_far(roc, 0.0) == pytest.approx(0.8)
    assert roc.eer == pytest.approx(1 / 3)


def test_ties_are_accepted_together():
    roc = roc_curve(np.array([0.5, 0.5]), np.array([True, False]))
    assert np.allclose(roc.tar, [0, 1]) and np.allclose(roc.far, [0, 1])


def test_best_threshold_and_folds():
    scores = np.array([0.9, 0.8, 0.3, 0.2, 0.85, 0.1, 0.4, 0.35])
    same = np.array([1, 1, 0, 0, 1, 0, 1, 0], bool)
    threshold = best_threshold(scores, same)
    assert 0.35 < threshold <= 0.4
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    results = fold_accuracy(scores, same, folds)
    # fold 0's threshold comes from fold 1 alone (0.375): all right. Fold 1's comes from
    # fold 0, where the first best cut is 0.55: fold 1's genuine 0.4 is then rejected.
    assert [r.threshold for r in results] == pytest.approx([0.375, 0.55])
    assert [r.accuracy for r in results] == [1.0, 0.75]


def test_weighted_roc_is_the_roc_of_repeated_pairs():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    same = np.array([1, 1, 0, 1, 0, 0], bool)
    weights = np.array([1, 1, 2, 3, 1, 1])
    weighted = roc_curve(scores, same, weights)
    repeated = roc_curve(np.repeat(scores, weights), np.repeat(same, weights))
    assert np.allclose(weighted.tar, repeated.tar) and np.allclose(weighted.far, repeated.far)
    assert weighted.best_accuracy == pytest.approx(repeated.best_accuracy)
    # best cut just below 0.6: every genuine pair, the impostor at 0.7 (weight 2 of 4) accepted; unweighted,
    # the cut below 0.8 (2 of 3 genuine, no impostor) does as well as that one (all genuine, 1 of 3 impostors)
    assert weighted.best_accuracy == pytest.approx((1 + 2 / 4) / 2)
    assert roc_curve(scores, same).best_accuracy == pytest.approx((1 + 2 / 3) / 2)


def test_person_balanced_weights_give_each_person_one_share():
    people = np.array(["a", "a", "a", "a", "b", "b", "c"])
    first, second = np.triu_indices(len(people), 1)
    weights = person_balanced_weights(people, first, second)
    same = people[first] == people[second]
    genuine = {name: weights[same & (people[first] == name)].sum() for name in "ab"}
    assert genuine == pytest.approx({"a": 1.0, "b": 1.0})  # 6 pairs of a's, 1 of b's
    impostor = {(x, y): weights[(people[first] == x) & (people[second] == y)].sum()
                for x, y in [("a", "b"), ("a", "c"), ("b", "c")]}
    assert impostor == pytest.approx({("a", "b"): 1.0, ("a", "c"): 1.0, ("b", "c"): 1.0})


def test_roc_needs_both_classes():
    with pytest.raises(ValueError):
        roc_curve(np.array([0.1, 0.2]), np.array([True, True]))
    with pytest.raises(ValueError, match="positive total weight"):
        roc_curve(np.array([0.1, 0.2]), np.array([True, False]), np.array([1.0, 0.0]))


def test_read_pairs_on_the_real_file():
    pairs = read_pairs(SHARED / "data" / "lfw_dev" / "pairs_dev.txt", LFW)
    assert len(pairs) == 3000 and sum(p.same for p in pairs) == 1500
    assert {p.fold for p in pairs} == {0, 1, 2, 3, 4}
    assert pairs[0].same and pairs[300].same is False and pairs[600].fold == 1


@pytest.mark.parametrize("content, message", [
    ("", "first line"), ("1\t1\nAbel_Pacheco\t1\t4\n", "expected 2 pairs"),
    ("1\t1\nAbel_Pacheco\t1\t4\nA\tB\n", "3 or 4 fields"), ("1\t1\nAbel_Pacheco\t1\t9\nA\t1\tB\t1\n", "missing"),
])
def test_read_pairs_errors(tmp_path, content, message):
    path = tmp_path / "pairs.txt"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_pairs(path, LFW)


def small_pairs_file(tmp_path, per_class: int = 6):
    """The first `per_class` matched and mismatched pairs of each of 2 real LFW folds."""
    lines = (SHARED / "data" / "lfw_dev" / "pairs_dev.txt").read_text().splitlines()[1:]
    chosen = []
    for fold in range(2):
        block = lines[fold * 600 : (fold + 1) * 600]
        chosen += block[:per_class] + block[300 : 300 + per_class]
    path = tmp_path / "pairs.txt"
    path.write_text(f"2\t{per_class}\n" + "\n".join(chosen) + "\n")
    return path


def test_cli_eval_pairs_reports_and_caches(tmp_path):
    pairs = small_pairs_file(tmp_path)
    args = ["eval", "pairs", "--pairs", str(pairs), "--root", str(LFW), "--roc", str(tmp_path / "roc.png"),
            "--cache-dir", str(tmp_path / "cache"), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pairs"] == 24 and len(report["fold_accuracies"]) == 2
    assert report["mean_accuracy"] >= 0.9 and set(report["tar_at_far"]) == {"1e-2", "1e-3"}
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    again = json.loads(CliRunner().invoke(main, args).stdout)
    assert again["mean_accuracy"] == report["mean_accuracy"]


def test_cli_eval_pairs_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["eval", "pairs", "--pairs", str(tmp_path / "x.txt"), "--root", str(LFW)])
    assert result.exit_code == 1 and "does not exist" in result.output


@pytest.mark.slow
def test_full_lfw_dev_accuracy(tmp_path):
    """The acceptance figure: >= 99.0% on LFW View 2 folds 1-5 (about 2 minutes)."""
    result = CliRunner().invoke(main, [
        "eval", "pairs", "--pairs", str(SHARED / "data" / "lfw_dev" / "pairs_dev.txt"), "--root", str(LFW),
        "--roc", str(tmp_path / "roc.png"), "--no-cache", "--json"])
    assert json.loads(result.stdout)["mean_accuracy"] >= 0.99

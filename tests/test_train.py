"""Training: losses and miners against hand-computed values, and a tiny model trained on real faces."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import ATT

from facerec.alignment import Alignment
from facerec.errors import DatasetError, FaceRecError
from facerec.models import get_model
from facerec.train.augment import Augment
from facerec.train.contrastive_loss import ContrastiveLoss
from facerec.train.data import load_face_folder
from facerec.train.distances import squared_distances
from facerec.train.evaluate import one_shot_rank1, pair_metrics
from facerec.train.miners import BatchAllMiner, BatchHardMiner, SemiHardMiner
from facerec.train.sampler import PKSampler
from facerec.train.siamese import SiameseHead, fit_siamese
from facerec.train.trainer import TrainConfig, build_backbone, set_frozen, train
from facerec.train.triplet_loss import TripletLoss

# Tiny nets and batches: one torch thread is as fast, and much faster on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _as_set(triplets) -> set[tuple[int, int, int]]:
    return set(zip(*(t.tolist() for t in triplets)))


def test_squared_distances_by_hand():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    expected = torch.tensor([[0.0, 1.0, 4.0], [1.0, 0.0, 5.0], [4.0, 5.0, 0.0]])
    assert torch.allclose(squared_distances(e), expected)


def test_triplet_loss_by_hand():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    triplets = (torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([2, 1]))
    # (0,1,2): 1 - 4 + 0.2 < 0 -> 0;  (0,2,1): 4 - 1 + 0.2 = 3.2
    assert float(TripletLoss(0.2)(e, triplets)) == pytest.approx(1.6)
    assert float(TripletLoss(0.2, reduction="nonzero")(e, triplets)) == pytest.approx(3.2)
    empty = torch.zeros(0, dtype=torch.long)
    e.requires_grad_(True)
    zero = TripletLoss(0.2)(e, (empty, empty, empty))
    zero.backward()
    assert float(zero.detach()) == 0.0 and e.grad is not None
    with pytest.raises(ValueError):
        TripletLoss(-1.0)


def test_batch_all_miner_matches_pytorch_metric_learning():
    from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

    labels = torch.tensor([0, 0, 1])
    assert _as_set(BatchAllMiner()(torch.zeros(3, 2), labels)) == {(0, 1, 2), (1, 0, 2)}
    labels = torch.randint(0, 4, (20,), generator=torch.Generator().manual_seed(0))
    assert _as_set(BatchAllMiner()(torch.zeros(20, 2), labels)) == _as_set(lmu.get_all_triplets_indices(labels))


def test_batch_hard_miner_by_hand_and_against_pytorch_metric_learning():
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.miners import BatchHardMiner as PmlBatchHard

    # 1-D points: anchor 0 (label 0) has positives at 1 and 3, negatives at 0.5 and 5.
    e = torch.tensor([[0.0], [1.0], [3.0], [0.5], [5.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    mined = _as_set(BatchHardMiner()(e, labels))
    assert (0, 2, 3) in mined  # farthest positive 3.0, nearest negative 0.5
    assert (4, 3, 2) in mined  # anchor 5.0: only positive 0.5, nearest negative 3.0
    e = torch.nn.functional.normalize(torch.randn(24, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    labels = torch.arange(6).repeat_interleave(4)
    theirs = PmlBatchHard(distance=LpDistance(power=2, normalize_embeddings=False))(e, labels)
    assert _as_set(BatchHardMiner()(e, labels)) == _as_set(theirs)


def test_semi_hard_miner_by_hand():
    e = torch.tensor([[0.0], [1.0], [0.5], [1.5], [3.0]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    mined = _as_set(SemiHardMiner()(e, labels))
    # a=0, p=1 (d=1): negatives at d 0.25, 2.25, 9 -> the nearest farther one is index 3.
    assert (0, 1, 3) in mined
    # a=1, p=0 (d=1): negatives at d 0.25, 0.25, 4 -> index 4.
    assert (1, 0, 4) in mined
    # a=4, p=2 (d=6.25): negatives at d 9 and 4 -> index 0 (the only farther one).
    assert (4, 2, 0) in mined
    # a=2, p=4 (d=6.25): negatives at d 0.25 and 0.25, none farther -> the farthest (a tie: 0 or 1).
    assert {(2, 4, 0), (2, 4, 1)} & mined
    assert len(mined) == 2 + 6  # one triplet per anchor-positive pair


def test_semi_hard_triplets_inside_the_margin_are_those_pytorch_metric_learning_finds():
    from pytorch_metric_learning.distances import LpDistance
    from pytorch_metric_learning.miners import TripletMarginMiner

    e = torch.nn.functional.normalize(torch.randn(32, 8, generator=torch.Generator().manual_seed(2)), dim=1)
    labels = torch.arange(8).repeat_interleave(4)
    margin = 0.3
    theirs = _as_set(TripletMarginMiner(margin, type_of_triplets="semihard",
                                        distance=LpDistance(power=2, normalize_embeddings=False))(e, labels))
    d = squared_distances(e)
    ours = {t for t in _as_set(SemiHardMiner()(e, labels)) if d[t[0], t[1]] < d[t[0], t[2]] < d[t[0], t[1]] + margin}
    assert ours and ours <= theirs
    # Every anchor-positive pair with some semi-hard negative gets one.
    assert {(a, p) for a, p, _ in ours} == {(a, p) for a, p, _ in theirs}


def test_contrastive_loss_by_hand():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 1])
    assert float(ContrastiveLoss(2.0)(e, labels)) == pytest.approx(1.0)  # negatives beyond the margin
    expected = 1.0 + ((4 - 3) ** 2 + (4 - math.sqrt(10)) ** 2) / 2
    assert float(ContrastiveLoss(4.0)(e, labels)) == pytest.approx(expected, rel=1e-5)


def test_siamese_head_by_hand_and_fit():
    head = SiameseHead(2)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[2.0, -1.0]]))
        head.linear.bias.fill_(0.5)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    expected = 1 / (1 + math.exp(-(2 * 1 - 1 * 2 + 0.5)))
    with torch.no_grad():
        assert float(head.probability(a, b)) == pytest.approx(expected)
        assert float(head.loss(a, b, torch.tensor([1.0]))) == pytest.approx(-math.log(expected))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    same = rng.random(200) < 0.5
    y = np.where(same[:, None], x + 0.1 * rng.normal(size=(200, 4)), rng.normal(size=(200, 4))).astype(np.float32)
    fit = fit_siamese(x, y, same, epochs=10)
    assert fit.losses[-1] < fit.losses[0]
    with torch.no_grad():
        predicted = fit.head.probability(torch.from_numpy(x), torch.from_numpy(y)).numpy() > 0.5
    assert (predicted == same).mean() > 0.9


def test_pk_sampler_balances_identities():
    labels = np.repeat(np.arange(10), [2, 3, 4, 5, 6, 7, 8, 9, 10, 1])
    sampler = PKSampler(labels, p=4, k=3, batches=5, seed=0)
    batches = list(sampler)
    assert len(batches) == 5
    for batch in batches:
        counts = np.unique(labels[batch], return_counts=True)[1]
        assert len(counts) == 4 and (counts == 3).all()
        assert 9 not in labels[batch]  # a person with one photo cannot make a positive
    with pytest.raises(ValueError):
        PKSampler(labels, p=20, k=2)


def test_augment_keeps_shape_and_range():
    pixels = torch.rand(6, 3, 32, 32)
    out = Augment()(pixels, torch.Generator().manual_seed(0))
    assert out.shape == pixels.shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert not torch.equal(out, pixels)
    assert torch.equal(Augment(enabled=False)(pixels), pixels)


def test_strong_augment_rotates_within_range():
    pixels = torch.zeros(4, 3, 33, 33)
    pixels[:, :, 16, :] = 1.0  # a horizontal bar: any rotation moves it off its row
    rotate_only = Augment(flip=False, crop=1.0, brightness=0.0, contrast=0.0, rotate=20.0)
    out = rotate_only(pixels, torch.Generator().manual_seed(0))
    assert out.shape == pixels.shape and 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert float(out[:, :, 16, :].mean()) < 0.95 * float(pixels[:, :, 16, :].mean())
    assert Augment.strong().rotate > 0 and Augment.strong().crop < Augment().crop


def test_one_shot_rank1_and_pair_metrics_by_hand():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.2, 0.8]], dtype=np.float32)
    assert one_shot_rank1(vectors, np.array([0, 0, 1, 1])) == 1.0
    # Mixed-up labels: each enrolment choice gets one of its two probes right (checked by hand).
    assert one_shot_rank1(vectors, np.array([0, 1, 0, 1])) == 0.5
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.6, 0.65, 0.3])
    same = np.array([1, 1, 0, 0, 1, 1, 0, 0], dtype=bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    metrics = pair_metrics(scores, same, folds, test_fold=1)
    # Threshold from fold 0 alone is 0.5 (midpoint of 0.2 and 0.8): fold 1 gets 0.65 wrong.
    assert metrics["test_threshold"] == pytest.approx(0.5)
    assert metrics["test_accuracy"] == pytest.approx(0.75)
    # Fold 1 alone at FAR 0: only the top score (0.7, genuine) is above its best impostor (0.65).
    assert metrics["test_tar@far1e-3"] == pytest.approx(0.5)


def test_set_frozen_by_prefix_and_count():
    model = get_model("mobilefacenet", pretrained=False)
    frozen = set_frozen(model.net, ("conv1.",), children=2)
    assert frozen and all(name.startswith(("conv1.", "dw_conv.")) for name in frozen)
    assert not model.net.conv1[0].weight.requires_grad and model.net.conv3.weight.requires_grad
    set_frozen(model.net)
    assert all(p.requires_grad for p in model.net.parameters())


@pytest.fixture(scope="module")
def att_small():
    """Four AT&T people, six photos each: the whole photo as the crop (no detector, fast)."""
    faces = load_face_folder(ATT, Alignment(112), people=["s1", "s2", "s3", "s4"], detect=False, fallback="whole")
    keep = np.concatenate([np.nonzero(faces.labels == i)[0][:6] for i in range(4)])
    return type(faces)(faces.crops[keep], faces.labels[keep], faces.people, tuple(faces.paths[i] for i in keep),
                       faces.detected[keep])


def test_face_folder_split_by_person(att_small):
    assert att_small.crops.shape == (24, 112, 112, 3)
    part = att_small.subset(["s3", "s1"])
    assert part.people == ("s3", "s1") and set(part.labels) == {0, 1} and len(part) == 12
    assert all("/s3/" in p or "/s1/" in p for p in part.paths)
    with pytest.raises(DatasetError):
        att_small.subset(["s99"])
    with pytest.raises(DatasetError):
        load_face_folder(ATT.parent / "nope", Alignment(112))


def _batch_all_loss(model, faces) -> float:
    """Mean batch-all triplet loss (margin 0.5) over every photo of ``faces``, batch statistics."""
    model.train()
    with torch.no_grad():
        pixels = torch.from_numpy(faces.crops).permute(0, 3, 1, 2).float() / 255
        embeddings = model(pixels)
        labels = torch.from_numpy(faces.labels)
        return float(TripletLoss(0.5)(embeddings, BatchAllMiner()(embeddings, labels)))


def test_tiny_model_loss_goes_down_and_checkpoint_reloads(att_small, tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(backbone="resnet18", pretrained=False, input_size=32, out_dir=str(tmp_path / "run"),
                         epochs=3, p=4, k=4, batches_per_epoch=2, miner="hard", margin=0.5, lr=1e-3,
                         augment=False, weight_decay=0.0, schedule="constant")
    model = build_backbone(config)
    before = _batch_all_loss(model, att_small)
    history = train(config, model, att_small, progress=False)
    out = tmp_path / "run"
    for name in ("model.pt", "checkpoint.pt", "metrics.csv", "metrics.json", "curves.png"):
        assert (out / name).is_file()
    assert len(json.loads((out / "metrics.json").read_text())) == 4  # epoch 0 (before) + 3
    reloaded = get_model("resnet18", weights_path=out / "model.pt")
    assert int(reloaded.net.input_size) == 32
    crops = att_small.crops[:3]
    assert np.allclose(reloaded.embed(crops), model.embed(crops), atol=1e-5)
    after = _batch_all_loss(model, att_small)  # (updates batch-norm statistics: after the reload check)
    assert after < 0.7 * before, (before, after, [row["loss"] for row in history])
    # Resume: one more epoch continues from the checkpoint rather than starting over.
    more = train(TrainConfig(**{**config.__dict__, "epochs": 4}), build_backbone(config), att_small,
                 resume=True, progress=False)
    assert [row["epoch"] for row in more] == list(range(5)) and more[3]["loss"] == history[3]["loss"]


def test_adversarial_batch_stays_in_its_ball_and_hurts_the_triplets(att_small):
    from facerec.train.adversarial import adversarial_batch

    model = get_model("mobilefacenet")  # pretrained: a network whose triplets are worth attacking
    pixels = torch.from_numpy(att_small.crops[:16]).permute(0, 3, 1, 2).float() / 255
    labels = torch.from_numpy(att_small.labels[:16])
    model.train()
    adversarial = adversarial_batch(model, pixels, labels, eps=4, steps=2, generator=torch.Generator().manual_seed(0))
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert float((adversarial - pixels).abs().max()) <= 4 / 255 + 1e-6
    assert 0.0 <= float(adversarial.min()) and float(adversarial.max()) <= 1.0
    model.eval()
    with torch.no_grad():
        clean, attacked = model(pixels), model(adversarial)
    triplets = BatchAllMiner()(clean, labels)
    assert float(TripletLoss(0.0)(attacked, triplets)) > 1.5 * float(TripletLoss(0.0)(clean, triplets))
    with pytest.raises(FaceRecError):
        adversarial_batch(model, pixels, labels, eps=0)


def test_adversarial_training_runs_and_logs(att_small, tmp_path):
    config = TrainConfig(backbone="resnet18", pretrained=False, input_size=32, out_dir=str(tmp_path / "adv"),
                         epochs=1, p=4, k=4, batches_per_epoch=1, miner="all", adversarial_eps=2,
                         adversarial_steps=1, eval_before=False, schedule="constant")
    history = train(config, build_backbone(config), att_small, progress=False)
    assert history[-1]["epoch"] == 1 and math.isfinite(history[-1]["loss"])
    assert json.loads((tmp_path / "adv" / "config.json").read_text())["adversarial_eps"] == 2


def test_train_command_writes_a_model_that_verify_loads(tmp_path):
    from facerec.cli import main

    root = tmp_path / "faces"
    for person in ("s5", "s6", "s7"):
        (root / person).mkdir(parents=True)
        for i in range(1, 5):
            shutil.copy(ATT / person / f"{i}.pgm", root / person / f"{i}.pgm")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, [
        "train", "--data", str(root), "--backbone", "resnet18", "--input-size", "32", "--epochs", "1",
        "--batches", "2", "--p", "3", "--k", "2", "--oneshot", str(root), "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--pad", "0.25", "--fallback", "whole", "--json",
    ])
    # The one-shot people are the training people here: refused, nothing trained.
    assert result.exit_code != 0 and "also trained on" in result.output
    result = runner.invoke(main, [
        "train", "--data", str(root), "--people", "s5-s6", "--backbone", "resnet18", "--input-size", "32",
        "--epochs", "1", "--batches", "2", "--p", "2", "--k", "2", "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--pad", "0.25", "--fallback", "whole", "--json",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["people"] == 2 and summary["images"] == 8
    verify = runner.invoke(main, ["verify", "--model", "resnet18", "--weights", summary["model"],
                                  str(root / "s7" / "1.pgm"), str(root / "s7" / "2.pgm"), "--json"])
    assert verify.exit_code == 0, verify.output
    # the CLI scored the pair with the trained weights: the library, loading them itself, agrees
    from facerec import FaceRecognizer

    trained = FaceRecognizer("resnet18", weights=summary["model"], backend="torch")
    expected = trained.verify(root / "s7" / "1.pgm", root / "s7" / "2.pgm").similarity
    assert json.loads(verify.stdout)["similarity"] == pytest.approx(expected, abs=1e-5)  # notes go to stderr


def test_resnet_standardize_ignores_global_lighting_and_reloads(tmp_path):
    from facerec.models.embedders.resnet import resnet18

    net = resnet18(input_size=32, standardize=True).eval()
    x = torch.rand(2, 3, 112, 112)
    with torch.no_grad():
        assert torch.allclose(net(x), net(0.5 * x + 0.2), atol=1e-4)
    torch.save(net.state_dict(), tmp_path / "r18.pt")
    reloaded = get_model("resnet18", weights_path=tmp_path / "r18.pt")
    assert int(reloaded.net.standardize) == 1 and int(reloaded.net.input_size) == 32
    old = {k: v for k, v in net.state_dict().items() if k != "standardize"}  # a checkpoint from before the flag
    plain = resnet18()
    plain.load_state_dict(old)
    assert int(plain.standardize) == 0


def test_a_checkpoint_from_before_new_settings_still_resumes():
    from dataclasses import asdict

    from facerec.train.trainer import _resumable

    current = json.loads(json.dumps(asdict(TrainConfig(epochs=3))))
    older = {key: value for key, value in current.items() if key not in ("adversarial_eps", "strong_augment")}
    assert _resumable(older) == _resumable(current)
    assert _resumable({**older, "lr": 0.5}) != _resumable(current)


def test_train_data_is_checked_where_it_is_built():
    """The training run is a value (TrainConfig, TrainData) and a function; a bad combination is refused
    before any photo is read, with the option to fix as the CLI's hint."""
    from facerec.errors import FaceRecError
    from facerec.train.job import TrainData

    with pytest.raises(FaceRecError) as info:
        TrainData(roots=("x",), pairs="pairs.txt")
    assert info.value.hint == "--pairs-root"
    with pytest.raises(FaceRecError):
        TrainData(roots=("x",), exclude_pairs_fold=5)

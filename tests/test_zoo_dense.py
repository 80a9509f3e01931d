"""The zoo's dense wing: DnCNN, U-Net, the YOLO-style detector, and the box arithmetic they rest on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.ops
from click.testing import CliRunner
from conftest import lfw
from PIL import Image
from torch import nn

from facerec.cli import main
from facerec.errors import DatasetError, WeightsNotFoundError
from facerec.evaluation.pairs import Pair
from facerec.zoo import get_arch, summarize, transpose_output_size
from facerec.zoo.boxes import average_precision, box_iou, kmeans_anchors, nms
from facerec.zoo.denoise import DenoiseConfig, load_photos, sample_patches, train_denoiser
from facerec.zoo.denoise_verify import pair_subset
from facerec.zoo.dense_checkpoint import DenseCheckpointError, load_dense, save_dense
from facerec.zoo.dncnn import add_noise, denoise_image, psnr
from facerec.zoo.m2nist import BACKGROUND, load_mask_folder, make_canvases
from facerec.zoo.segment import SegmentConfig, confusion, mean_iou, train_segmenter
from facerec.zoo.unet import dice_loss
from facerec.zoo.yolo import decode, encode_targets, yolo_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- boxes: IoU, NMS, k-means anchors, AP -----------------------------------------------------------

def _random_boxes(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    corner = torch.rand(count, 2, generator=generator) * 100
    size = torch.rand(count, 2, generator=generator) * 40 + 1
    return torch.cat([corner, corner + size], 1)


def test_box_iou_matches_torchvision():
    a, b = _random_boxes(30, 0), _random_boxes(20, 1)
    assert torch.allclose(box_iou(a, b), torchvision.ops.box_iou(a, b), atol=1e-6)
    assert box_iou(a, a).diagonal().allclose(torch.ones(30))


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7])
def test_nms_matches_torchvision(threshold):
    boxes = _random_boxes(200, 2) / 2  # crowded: many overlaps
    scores = torch.rand(200, generator=torch.Generator().manual_seed(3))
    assert nms(boxes, scores, threshold).tolist() == torchvision.ops.nms(boxes, scores, threshold).tolist()


def test_kmeans_anchors_find_the_box_shapes():
    rng = np.random.default_rng(0)
    shapes = np.array([[20, 24], [50, 60], [110, 130]])
    wh = np.concatenate([s * rng.uniform(0.9, 1.1, (100, 2)) for s in shapes])
    anchors = kmeans_anchors(wh, 3)
    assert np.allclose(anchors, shapes, rtol=0.08)
    with pytest.raises(ValueError):
        kmeans_anchors(wh[:2], 3)


def test_average_precision():
    truth = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=np.float32)]
    perfect = [(truth[0], np.array([0.9, 0.8]))]
    assert average_precision(perfect, truth) == pytest.approx(1.0)
    # a confident false positive first, then one hit: precision 1/2 at recall 1/2
    half = [(np.array([[50, 50, 60, 60], [0, 0, 10, 10]], dtype=np.float32), np.array([0.9, 0.5]))]
    assert average_precision(half, truth) == pytest.approx(0.25)
    duplicate = [(np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=np.float32), np.array([0.9, 0.8]))]
    assert average_precision(duplicate, truth) == pytest.approx(0.5)  # a second hit on one face counts as false


# --- summaries: totals and the transpose-convolution rule --------------------------------------------

@pytest.mark.parametrize("n, f, s, p", [(4, 2, 2, 0), (8, 3, 2, 1), (7, 4, 3, 2), (5, 3, 1, 1), (1, 5, 1, 0)])
def test_transpose_output_size_rule(n, f, s, p):
    layer = nn.ConvTranspose2d(1, 1, kernel_size=f, stride=s, padding=p)
    out = layer(torch.zeros(1, 1, n, n)).shape[-1]
    assert out == transpose_output_size(n, f, s, p) == (n - 1) * s - 2 * p + f


def test_every_dense_architecture_is_covered():
    from facerec.zoo import get_spec, list_archs

    assert {n for n in list_archs() if get_spec(n).task != "classify"} == {"dncnn", "unet", "unet-noskip", "yolo-face"}


@pytest.mark.parametrize("arch, kwargs, shape, total", [
    ("dncnn", {}, (40, 40, 1), 556_097),
    ("dncnn", {"depth": 20}, (40, 40, 1), 667_073),
    ("unet", {"num_classes": 2}, (64, 64, 1), 31_036_546),  # the paper's 64-1024 layout
    # encoder 2,512 + 13,952 + 55,552, bottom 221,696, up 32,832 + 8,224 + 2,064, merges 110,848 + 27,776
    # + 6,976, head 187; without skips the merges take half the channels: 73,984 + 18,560 + 4,672
    ("unet", {"num_classes": 11, "depth": 3, "width": 0.25}, (64, 64, 1), 482_619),
    ("unet-noskip", {"num_classes": 11, "depth": 3, "width": 0.25}, (64, 64, 1), 434_235),
    ("yolo-face", {"num_classes": 1}, (192, 192, 3), 297_469),
])
def test_summary_totals(arch, kwargs, shape, total):
    assert summarize(get_arch(arch, **kwargs), shape).total_params == total


def test_unet_summary_shows_transpose_convolution_sizes():
    table = summarize(get_arch("unet", num_classes=11, depth=3, width=0.25), (64, 64, 1))
    ups = [(row.output_shape, row.params) for row in table.rows if row.kind == "ConvTranspose2d"]
    assert ups == [((16, 16, 64), 128 * 64 * 4 + 64), ((32, 32, 32), 64 * 32 * 4 + 32),
                   ((64, 64, 16), 32 * 16 * 4 + 16)]
    assert table.row("head").output_shape == (64, 64, 11)


# --- every network: forward and backward on a small batch --------------------------------------------

def test_dncnn_is_residual_and_trains_a_step():
    model = get_arch("dncnn", depth=5, width=0.25)
    x = torch.rand(2, 1, 24, 24, requires_grad=True)
    out = model(x)
    assert out.shape == x.shape
    assert torch.allclose(out, x - model.noise(x))
    nn.functional.mse_loss(out, x.detach()).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("arch", ["unet", "unet-noskip"])
def test_unet_forward_backward(arch):
    model = get_arch(arch, num_classes=11, depth=2, width=0.125)
    logits = model(torch.rand(2, 1, 32, 32))
    assert logits.shape == (2, 11, 32, 32)
    target = torch.randint(0, 11, (2, 32, 32))
    (nn.functional.cross_entropy(logits, target) + dice_loss(logits, target)).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="divisible"):
        model(torch.rand(1, 1, 30, 30))


def test_yolo_targets_decode_back_to_the_boxes():
    model = get_arch("yolo-face", num_classes=1)
    boxes = [np.array([[10, 20, 50, 70], [100, 90, 180, 185]], dtype=np.float32), np.zeros((0, 4), np.float32)]
    marks = [np.random.default_rng(0).uniform(20, 60, (2, 5, 2)).astype(np.float32), np.zeros((0, 5, 2), np.float32)]
    targets, positive = encode_targets(boxes, marks, model.anchors, (12, 12))
    assert int(positive.sum()) == 2
    output = model(torch.rand(2, 3, 192, 192))
    yolo_loss(output, targets, positive).backward()
    assert all(p.grad is not None for p in model.parameters())
    ideal = torch.full_like(output, -20.0).permute(0, 1, 3, 4, 2).detach()
    true = targets.permute(0, 1, 3, 4, 2)
    ideal[positive, 0] = 20.0
    ideal[positive, 1:3] = torch.logit(true[positive, :2])
    ideal[positive, 3:] = true[positive, 2:]
    found = decode(ideal.permute(0, 1, 4, 2, 3), model.anchors)
    order = found[0][0][:, 0].argsort()
    assert torch.allclose(found[0][0][order], torch.from_numpy(boxes[0]), atol=1e-3)
    assert torch.allclose(found[0][2][order], torch.from_numpy(marks[0]), atol=1e-3)
    assert len(found[1][0]) == 0


# --- data -------------------------------------------------------------------------------------------

def test_m2nist_canvases_are_deterministic_and_labelled():
    images, masks = make_canvases("test", 8, seed=3)
    again, _ = make_canvases("test", 8, seed=3)
    assert torch.equal(images, again)
    assert images.dtype == torch.uint8 and masks.shape == (8, 64, 64)
    assert set(masks.unique().tolist()) - set(range(11)) == set()
    digit_pixels = masks != BACKGROUND
    assert 0.01 < digit_pixels.float().mean() < 0.3
    assert images[:, 0][digit_pixels].float().mean() > images[:, 0][~digit_pixels].float().mean() + 60
    assert not torch.equal(make_canvases("train", 8, seed=3)[0], images)


def test_mask_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray(np.full((16, 16), i, np.uint8)).save(tmp_path / "masks" / f"{i}.png")
    images, masks = load_mask_folder(tmp_path)
    assert images.shape == (3, 1, 16, 16) and masks[2].unique().tolist() == [2]
    with pytest.raises(DatasetError):
        load_mask_folder(tmp_path / "images")


def test_photo_split_keeps_people_apart():
    train = load_photos("lfw", split="train", limit=5)
    test = load_photos("lfw", split="test", limit=5)
    assert len(train) == len(test) == 5 and train[0].dtype == np.float32 and train[0].max() <= 1
    patches = sample_patches(train, 4, 40, np.random.default_rng(0))
    assert patches.shape == (4, 1, 40, 40)


def test_noise_and_psnr():
    clean = torch.full((1, 1, 200, 200), 0.5)
    noisy = add_noise(clean, 25, generator=torch.Generator().manual_seed(0))
    assert float((noisy - clean).std() * 255) == pytest.approx(25, rel=0.03)
    assert psnr(clean.numpy(), noisy.numpy()) == pytest.approx(20 * np.log10(255 / 25), abs=0.2)


def test_mean_iou_and_confusion():
    truth = torch.tensor([[0, 0, 1, 1]])
    matrix = confusion(torch.tensor([[0, 1, 1, 1]]), truth, 3)
    miou, per_class = mean_iou(matrix)
    assert per_class[:2] == [0.5, pytest.approx(2 / 3)] and np.isnan(per_class[2])
    assert miou == pytest.approx((0.5 + 2 / 3) / 2)


def test_pair_subset_takes_both_kinds_from_every_fold():
    pairs = [Pair(lfw("a"), lfw("b"), same, fold) for fold in range(3) for same in (True, False) for _ in range(5)]
    chosen = pair_subset(pairs, 2)
    assert len(chosen) == 12 and sum(p.same for p in chosen) == 6


# --- short training on real data: the loss goes down -----------------------------------------------

def test_dncnn_learns_on_real_photos(tmp_path):
    config = DenoiseConfig(depth=4, width=0.25, steps=40, batch_size=8, patch=24, train_photos=12, lr=3e-3,
                           log_every=10, out_dir=str(tmp_path))
    result = train_denoiser(config)
    assert result.losses[-1] < 0.7 * result.losses[0]
    assert result.val_psnr_denoised > result.val_psnr_noisy
    model, facts = load_dense(result.checkpoint, kinds=("dncnn",))
    assert facts["sigma"] == 25.0
    assert denoise_image(model, np.zeros((20, 30, 3), np.float32)).shape == (20, 30, 3)
    with pytest.raises(DenseCheckpointError, match="expected unet"):
        load_dense(result.checkpoint, kinds=("unet",))


def test_unet_learns_on_m2nist(tmp_path):
    config = SegmentConfig(depth=2, width=0.125, train_size=48, test_size=16, epochs=4, batch_size=16, lr=1e-2,
                           out_dir=str(tmp_path))
    result = train_segmenter(config)
    assert result.losses[-1] < 0.8 * result.losses[0]
    assert 0 <= result.mean_iou <= 1 and result.pixel_accuracy > 0.5


def test_yolo_learns_on_teacher_mosaics_and_joins_the_detector_registry(tmp_path, monkeypatch):
    from facerec.models.detectors import get_detector, list_detectors
    from facerec.zoo.detect_train import DetectConfig, train_detector

    monkeypatch.delenv("FACEREC_YOLO_WEIGHTS", raising=False)
    assert "yolo-face" in list_detectors()
    with pytest.raises(WeightsNotFoundError, match="zoo detect"):
        get_detector("yolo-face")
    config = DetectConfig(train_size=48, test_size=8, size=96, epochs=4, batch_size=16, lr=5e-3, width=0.5,
                          out_dir=str(tmp_path))
    result = train_detector(config)
    assert result.losses[-1] < 0.85 * result.losses[0]
    assert result.train_faces > 48 and 0 <= result.ap50 <= 1
    monkeypatch.setenv("FACEREC_YOLO_WEIGHTS", result.checkpoint)
    detector = get_detector("yolo-face", retry=False)
    photo = np.asarray(Image.open(lfw("Abel_Pacheco")).convert("RGB"))
    assert isinstance(detector.detect([photo])[0], list)


# --- CLI --------------------------------------------------------------------------------------------

def test_cli_lists_summarises_and_guards():
    runner = CliRunner()
    listing = runner.invoke(main, ["zoo", "list"])
    assert all(name in listing.output for name in ("dncnn", "unet-noskip", "yolo-face"))
    summary = runner.invoke(main, ["zoo", "summary", "unet", "--layers", "3", "--width", "0.25"])
    assert summary.exit_code == 0 and "ConvTranspose2d" in summary.output and "(64,64,16)" in summary.output
    assert "up.2: (32 - 1) * 2 - 2 * 0 + 2 = 64" in summary.output
    refused = runner.invoke(main, ["zoo", "train", "--arch", "dncnn", "--data", "mnist"])
    assert refused.exit_code != 0 and "zoo denoise" in refused.output
    missing = runner.invoke(main, ["zoo", "denoise-bench", "--checkpoint", "no/such.pt"])
    assert missing.exit_code != 0 and "checkpoint not found" in missing.output
    bad = runner.invoke(main, ["zoo", "denoise", "--sigma-range", "50-5"])
    assert bad.exit_code != 0 and "low < high" in bad.output


def test_checkpoint_round_trip(tmp_path):
    model = get_arch("unet", num_classes=3, depth=1, width=0.125)
    path = save_dense(tmp_path / "u.pt", "unet", {"num_classes": 3, "depth": 1, "width": 0.125}, model, note="x")
    again, facts = load_dense(path)
    assert facts["note"] == "x" and facts["arch"] == "unet"
    x = torch.rand(1, 1, 8, 8)
    model.eval()
    assert torch.equal(again(x), model(x))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DenseCheckpointError):
        load_dense(tmp_path / "junk.pt")

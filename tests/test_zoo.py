"""The CNN zoo: textbook shapes and parameter counts, every architecture trains a step, data, trainer, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import SHARED
from PIL import Image
from torch import nn

from facerec.cli import main
from facerec.errors import DatasetError, UnknownModelError
from facerec.zoo import conv_output_size, get_arch, list_archs, summarize
from facerec.zoo.augment import augment_batch
from facerec.zoo.data import load_data, read_idx
from facerec.zoo.googlenet import AUX_WEIGHT, GoogLeNetOutputs, googlenet_loss
from facerec.zoo.train import TrainConfig, recalibrate_batchnorm, train
from facerec.zoo.transfer import (
    TransferError,
    freeze_layers,
    load_checkpoint,
    param_groups,
    replace_heads,
)

# Tiny nets and batches: one torch thread is as fast, and much faster on a busy machine.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- textbook numbers ------------------------------------------------------------------------------

LENET5_32x32x3 = [  # (layer, output shape (H, W, C) or (units,), parameters)
    ("conv1", (28, 28, 6), 456),
    ("pool1", (14, 14, 6), 0),
    ("conv2", (10, 10, 16), 2_416),
    ("pool2", (5, 5, 16), 0),
    ("fc3", (120,), 48_120),
    ("fc4", (84,), 10_164),
    ("fc5", (10,), 850),  # the softmax layer
]


@pytest.mark.parametrize("arch", ["lenet5", "lenet5-relu"])
def test_lenet5_layer_table_matches_the_textbook(arch):
    table = summarize(get_arch(arch, num_classes=10, in_channels=3), (32, 32, 3))
    assert [(r.name, r.output_shape, r.params) for r in table.rows] == LENET5_32x32x3
    assert table.row("conv1").activations == 4_704
    assert table.row("pool2").activations == 400
    assert table.total_params == 61_706 + 300 == 62_006  # three input channels add 2 x 150 weights


def test_exercise_net_convolutions():
    table = summarize(get_arch("exercise"), (28, 28, 1))
    assert table.row("conv1").params == 320
    assert table.row("conv1").output_shape == (26, 26, 32)
    assert table.row("conv2").params == 18_496
    assert table.row("conv2").output_shape == (11, 11, 64)
    assert table.total_params == 34_826


def test_one_filter_bank_of_six_5x5x3_filters_has_456_parameters():
    bank = nn.Conv2d(3, 6, kernel_size=5)
    assert sum(p.numel() for p in bank.parameters()) == 5 * 5 * 3 * 6 + 6 == 456


@pytest.mark.parametrize(
    "n, f, s, p, expected",
    [
        (32, 5, 1, 0, 28),  # valid
        (6, 3, 1, 0, 4),  # valid
        (32, 5, 1, 2, 32),  # same: p = (f - 1) / 2
        (28, 3, 1, 1, 28),  # same
        (7, 3, 2, 0, 3),  # strided
        (224, 11, 4, 2, 55),  # AlexNet's first layer
        (8, 3, 2, 1, 4),  # strided with padding: floor((8 + 2 - 3) / 2 + 1)
    ],
)
def test_output_size_rule(n, f, s, p, expected):
    assert conv_output_size(n, f, s, p) == expected
    out = nn.Conv2d(1, 1, f, stride=s, padding=p)(torch.zeros(1, 1, n, n))
    assert out.shape[-1] == expected


def test_output_size_rule_rejects_nonsense():
    with pytest.raises(ValueError):
        conv_output_size(0, 3)


# Exact totals of the built models (and the small input each is run at): 10 classes for the MNIST-sized
# nets, 1,000 classes and 3 channels for the others; torchvision's own implementations where it has one.
ARCHS = {
    "lenet5": ((32, 32, 1), 10, 61_706),
    "lenet5-relu": ((32, 32, 1), 10, 61_706),
    "exercise": ((28, 28, 1), 10, 34_826),
    "alexnet": ((64, 64, 3), 1000, 61_100_840),  # "about 60 million"
    "vgg16": ((32, 32, 3), 1000, 138_357_544),  # "about 138 million"
    "googlenet": ((64, 64, 3), 1000, 13_004_888),  # 6,624,904 without the two auxiliary classifiers
    "resnet18": ((32, 32, 3), 1000, 11_689_512),
    "resnet34": ((32, 32, 3), 1000, 21_797_672),
    "resnet50": ((32, 32, 3), 1000, 25_557_032),
    "mobilenet_v1": ((32, 32, 3), 1000, 4_231_976),  # "4.2 million"
    "mobilenet_v2": ((32, 32, 3), 1000, 3_504_872),
    "mobilefacenet": ((112, 112, 3), 1000, 1_128_936),
}
SLOW = {"resnet34", "resnet50"}  # the same blocks as resnet18 (basic) and mobilenet_v2 (bottleneck), bigger


def test_every_architecture_is_covered():
    from facerec.zoo import get_spec

    # the dense-prediction wing (denoise, segment, detect) is covered by test_zoo_dense.py
    assert sorted(ARCHS) == [name for name in list_archs() if get_spec(name).task == "classify"]


@pytest.mark.parametrize("arch", [pytest.param(a, marks=pytest.mark.slow) if a in SLOW else a for a in sorted(ARCHS)])
def test_builds_counts_and_trains_a_step(arch):
    """Summary totals are exact, and a batch of 2 small images goes forward and backward."""
    torch.manual_seed(0)
    (height, width, channels), classes, total = ARCHS[arch]
    model = get_arch(arch, num_classes=classes, in_channels=channels)
    table = summarize(model, (height, width, channels))
    assert table.total_params == table.trainable_params == total
    assert table.rows and all(r.output_shape for r in table.rows)
    outputs = model.train()(torch.randn(2, channels, height, width))
    targets = torch.tensor([1, 2])
    if arch == "googlenet":  # training mode returns the main and both auxiliary logits
        assert isinstance(outputs, GoogLeNetOutputs)
        assert outputs.aux_logits1.shape == outputs.aux_logits2.shape == (2, classes)
        loss, logits = googlenet_loss(outputs, targets), outputs.logits
    else:
        loss, logits = nn.functional.cross_entropy(outputs, targets), outputs
    assert logits.shape == (2, classes)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)  # every layer, GoogLeNet's auxiliary heads included
    assert torch.isfinite(next(iter(model.parameters())).grad).all()


def test_mobilenet_v1_width_multiplier_and_depthwise_convolutions():
    half = get_arch("mobilenet_v1", num_classes=1000, width=0.5)
    assert sum(p.numel() for p in half.parameters()) == 1_331_592  # the paper's 1.3 million
    depthwise = half.features[0].depthwise[0]
    assert depthwise.groups == depthwise.in_channels == depthwise.out_channels == 16
    assert depthwise.weight.shape == (16, 1, 3, 3)


def test_googlenet_weighted_total_loss():
    torch.manual_seed(0)
    logits, aux2, aux1 = (torch.randn(4, 5) for _ in range(3))
    targets = torch.tensor([0, 1, 2, 3])
    ce = nn.functional.cross_entropy
    expected = ce(logits, targets) + 0.3 * ce(aux1, targets) + 0.3 * ce(aux2, targets)
    assert AUX_WEIGHT == 0.3
    assert torch.allclose(googlenet_loss(GoogLeNetOutputs(logits, aux2, aux1), targets), expected)


def test_grayscale_input_rebuilds_the_first_convolution():
    model = get_arch("resnet18", num_classes=10, in_channels=1)
    assert model.conv1.in_channels == 1 and model.conv1.out_channels == 64
    assert model.eval()(torch.zeros(1, 1, 32, 32)).shape == (1, 10)


def test_unknown_architecture_and_option_errors_list_what_exists():
    with pytest.raises(UnknownModelError, match="known: .*lenet5.*vgg16"):
        get_arch("lenet6")
    with pytest.raises(UnknownModelError, match="no option width"):
        get_arch("resnet18", width=0.5)


# --- data ----------------------------------------------------------------------------------------------

def test_mnist_idx_reader_and_lenet_padding():
    images = read_idx(SHARED / "data" / "mnist" / "t10k-images.idx3-ubyte.gz")
    labels = read_idx(SHARED / "data" / "mnist" / "t10k-labels.idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    data = load_data("mnist", size=(32, 32))
    assert data.train_x.shape == (60000, 1, 32, 32) and data.test_x.shape == (10000, 1, 32, 32)
    assert torch.equal(data.test_x[0, 0, 2:30, 2:30], torch.from_numpy(images[0]))  # zero-padded by 2
    assert int(data.test_x[:, :, :2].max()) == 0


def test_idx_reader_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"not an idx file")
    with pytest.raises(DatasetError):
        read_idx(bad)


def test_digits_and_att_splits():
    digits = load_data("digits", size=(32, 32))
    assert digits.train_x.shape[1:] == (1, 32, 32) and len(digits.train_x) + len(digits.test_x) == 1797
    att = load_data("att", train_per_class=2, seed=3)
    assert len(att.classes) == 40 and att.train_x.shape == (80, 1, 112, 92) and len(att.test_x) == 320
    assert torch.bincount(att.train_y).tolist() == [2] * 40
    again = load_data("att", train_per_class=2, seed=3)
    assert torch.equal(att.train_x, again.train_x)  # the split is fixed by the seed
    with pytest.raises(DatasetError):
        load_data("att", train_per_class=10)


def test_folder_tree(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    data = load_data(str(tmp_path), size=(16, 16), test_fraction=0.2)
    assert data.classes == ("cat", "dog")
    assert data.train_x.shape == (8, 3, 16, 16) and data.test_x.shape == (2, 3, 16, 16)
    with pytest.raises(DatasetError):
        load_data(str(tmp_path / "missing"))


def test_augmentation_keeps_shapes_and_flips():
    generator = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = augment_batch(x, ("shift", "rotate", "flip"), generator)
    assert out.shape == x.shape and not torch.equal(out, x)
    flipped = augment_batch(x.repeat(16, 1, 1, 1), ("flip",), generator)
    assert any(torch.allclose(f, x[0].flip(-1), atol=1e-5) for f in flipped[::2])


# --- training and transfer ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "lenet5-digits"
    config = TrainConfig(arch="lenet5-relu", data="digits", epochs=2, batch_size=64, lr=3e-3, limit=800,
                         out_dir=str(out), augment=("shift",), progress=False)
    return train(config)


def test_training_saves_checkpoints_curve_and_history(digits_run):
    out = digits_run.out_dir
    assert len(digits_run.history) == 2
    assert digits_run.test_accuracy > 0.5  # 8x8 digits, 2 short epochs
    for name in ("best.pt", "last.pt", "curve.png", "result.json"):
        assert (Path(out) / name).is_file()
    checkpoint = load_checkpoint(f"{out}/last.pt")
    assert checkpoint.arch == "lenet5-relu" and checkpoint.input_size == (32, 32) and len(checkpoint.classes) == 10


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_other_optimizers_run(tmp_path, optimizer):
    result = train(TrainConfig(arch="exercise", data="digits", epochs=2, optimizer=optimizer, lr=0.01,
                               weight_decay=5e-4, dropout=0.25, limit=300, out_dir=str(tmp_path), progress=False))
    assert result.history[-1].train_loss < result.history[0].train_loss  # the optimizer really trains
    assert result.test_accuracy > 0.15  # above chance (0.1) after two epochs on 300 digits


def test_transfer_freezing_everything_but_the_head(digits_run, tmp_path):
    source = load_checkpoint(f"{digits_run.out_dir}/best.pt")
    result = train(TrainConfig(arch="", data="att", epochs=1, batch_size=40, train_per_class=3, val_fraction=0.0,
                               from_checkpoint=f"{digits_run.out_dir}/best.pt", freeze="head", head_lr=0.01,
                               out_dir=str(tmp_path), progress=False))
    assert result.frozen_layers == ("conv1", "conv2", "fc3", "fc4")
    assert result.trainable_params == 84 * 40 + 40
    after = load_checkpoint(tmp_path / "last.pt")
    assert after.classes[:2] == ("s1", "s2") and after.state_dict["fc5.weight"].shape == (40, 84)
    assert torch.equal(after.state_dict["conv1.weight"], source.state_dict["conv1.weight"])
    assert after.mean == source.mean  # the checkpoint's normalisation travels with its weights


def test_pretrained_face_embedder_as_a_checkpoint():
    from facerec.models import get_model

    checkpoint = load_checkpoint("pretrained:mobilefacenet")
    assert checkpoint.arch == "mobilefacenet" and checkpoint.input_size == (112, 112)
    model = checkpoint.build().eval()
    embedder = get_model("mobilefacenet")
    assert checkpoint.mean == tuple(embedder.weights.mean)
    x = torch.rand(2, 3, 112, 112)
    with torch.inference_mode():
        assert torch.allclose(model.backbone(x), embedder.net(x), atol=1e-5)
    assert replace_heads(model, "mobilefacenet", 40) == ["fc"]
    assert freeze_layers(model, "mobilefacenet", "head")[0] == "backbone.conv1.0"


def test_batchnorm_recalibration_measures_the_training_images():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    x = torch.randint(0, 256, (64, 1, 4, 4), dtype=torch.uint8)
    assert recalibrate_batchnorm(model, x, (0.5,), (0.25,), torch.device("cpu"), batch_size=16)
    with torch.no_grad():
        features = model[0]((x.float() / 255 - 0.5) / 0.25)
    assert torch.allclose(model[1].running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)
    assert model[1].momentum == 0.1 and model.training
    model[1].weight.requires_grad_(False)
    model[1].bias.requires_grad_(False)
    assert not recalibrate_batchnorm(model, x, (0.5,), (0.25,), torch.device("cpu"))  # frozen: left alone


def test_freeze_by_count_and_by_name_and_head_learning_rate():
    model = get_arch("resnet18", num_classes=10)
    assert replace_heads(model, "resnet18", 3) == ["fc"] and model.fc.out_features == 3
    assert freeze_layers(model, "resnet18", "2") == ["conv1", "bn1"]
    frozen = freeze_layers(model, "resnet18", "layer2")
    assert frozen[-1].startswith("layer2.") and not any(name.startswith("layer3") for name in frozen)
    assert not model.layer2[1].conv2.weight.requires_grad and model.layer3[0].conv1.weight.requires_grad
    groups = param_groups(model, "resnet18", lr=1e-3, head_lr=1e-2)
    assert [g["lr"] for g in groups] == [1e-3, 1e-2] and len(groups[1]["params"]) == 2
    with pytest.raises(TransferError, match="no such layer"):
        freeze_layers(model, "resnet18", "layer9")
    googlenet = get_arch("googlenet", num_classes=10)
    assert replace_heads(googlenet, "googlenet", 4) == ["fc", "aux1.fc2", "aux2.fc2"]


# --- command line ----------------------------------------------------------------------------------

def test_cli_summary_json_and_unknown_arch():
    runner = CliRunner()
    result = runner.invoke(main, ["zoo", "summary", "lenet5", "--input", "32x32x3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [layer["params"] for layer in data["layers"]] == [456, 0, 2416, 0, 48120, 10164, 850]
    assert data["layers"][0]["output_shape"] == [28, 28, 6]
    text = runner.invoke(main, ["zoo", "summary", "exercise"])
    assert "18,496" in text.output and "34,826" in text.output
    bad = runner.invoke(main, ["zoo", "summary", "lenet6"])
    assert bad.exit_code != 0 and "known:" in bad.output and "Traceback" not in bad.output
    small = runner.invoke(main, ["zoo", "summary", "lenet5", "--input", "16x16x1"])
    assert small.exit_code != 0 and "cannot take" in small.output


def test_cli_train_json(tmp_path):
    result = CliRunner().invoke(main, ["zoo", "train", "--arch", "lenet5", "--data", "digits", "--epochs", "1",
                                       "--optimizer", "sgd", "--lr", "0.05", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["history"][0]["epoch"] == 1 and (tmp_path / "curve.png").is_file()

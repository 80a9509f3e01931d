"""The zoo's generative wing: style-transfer costs, feature networks, the DCGAN and its measures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from facerec.cli import main
from facerec.errors import FaceRecError, UnknownModelError, WeightsNotFoundError
from facerec.zoo.data import read_idx
from facerec.zoo.dcgan import dcgan, discriminator_loss, generator_loss, load_gan, sample
from facerec.zoo.gan_metrics import ClassifierFeatures, frechet_distance, label_counts, nearest_neighbours
from facerec.zoo.gan_train import GanConfig, gan_images, gan_step, train_gan
from facerec.zoo.style_features import get_feature_net, vgg_layer_names
from facerec.zoo.style_transfer import (
    StyleConfig,
    content_cost,
    gram_matrix,
    layer_style_cost,
    load_image,
    style_cost,
    stylize,
    total_cost,
)
from tests.conftest import SHARED

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- the course's cost functions against hand computations ---------------------------------------------


def test_content_cost_by_hand():
    # n_C = 2, n_H = 1, n_W = 2: differences 1, 2, 0, 3 -> squares sum 14, scaled by 1 / (4 * 1 * 2 * 2) = 1/16
    a_C = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    a_G = torch.tensor([[[[0.0, 0.0]], [[3.0, 1.0]]]])
    assert content_cost(a_C, a_G).item() == pytest.approx(14 / 16)
    assert content_cost(a_C, a_C).item() == 0.0


def test_gram_matrix_by_hand():
    a = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # channels unrolled: [1, 2] and [3, 4]
    assert gram_matrix(a).tolist() == [[5.0, 11.0], [11.0, 25.0]]


def test_layer_style_cost_by_hand():
    a_S = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # Gram [[5, 11], [11, 25]]
    a_G = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # Gram [[1, 0], [0, 1]]
    squared = 4 ** 2 + 11 ** 2 + 11 ** 2 + 24 ** 2  # 834
    assert layer_style_cost(a_S, a_G).item() == pytest.approx(squared / (2 * 1 * 2 * 2) ** 2)


def test_style_cost_weights_layers_and_total_cost():
    a = {"x": torch.ones(1, 1, 1, 1), "y": torch.full((1, 2, 1, 1), 2.0)}
    b = {"x": torch.zeros(1, 1, 1, 1), "y": torch.zeros(1, 2, 1, 1)}
    # x: Gram 1 vs 0 -> 1 / (2*1*1*1)^2 = 0.25;  y: Gram all 4 vs 0 -> 4 * 16 / (2*1*1*2)^2 = 4
    assert style_cost(a, b, {"x": 0.5, "y": 0.25}).item() == pytest.approx(0.5 * 0.25 + 0.25 * 4)
    assert total_cost(torch.tensor(2.0), torch.tensor(3.0)).item() == pytest.approx(10 * 2 + 40 * 3)
    with pytest.raises(FaceRecError, match="shapes"):
        content_cost(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))


# ---- feature networks ------------------------------------------------------------------------------------


def test_vgg_layer_names_follow_gatys():
    from torchvision.models.vgg import cfgs, make_layers

    names = vgg_layer_names(make_layers(cfgs["E"]))
    assert names["conv1_1"] == "features.1" and names["conv1_1_linear"] == "features.0"
    assert names["conv4_2"] == "features.22" and names["conv5_4"] == "features.35" and names["pool5"] == "features.36"


def test_feature_nets_give_the_requested_layers():
    net = get_feature_net("vgg16-random")
    feats = net.features(torch.rand(1, 3, 32, 32), ["conv1_1", "conv3_1"])
    assert feats["conv1_1"].shape == (1, 64, 32, 32) and feats["conv3_1"].shape == (1, 256, 8, 8)
    face = get_feature_net("mobilefacenet")
    assert face.features(torch.rand(1, 3, 64, 64), [face.content_layer])[face.content_layer].shape[1] == 128
    with pytest.raises(UnknownModelError, match="known"):
        net.features(torch.rand(1, 3, 32, 32), ["conv9_9"])
    with pytest.raises(UnknownModelError, match="vgg19"):
        get_feature_net("inception")


def test_vgg19_offline_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="download.pytorch.org/models/vgg19-dcbb9e9d.pth"):
        get_feature_net("vgg19")


def test_vgg19_from_a_file_of_ones_own(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"])
    path = tmp_path / "my_vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    net = get_feature_net("vgg19", weights=path)
    assert torch.equal(net.module.features[0].weight, features[0].weight)
    assert net.features(torch.rand(1, 3, 32, 32), ["conv5_1"])["conv5_1"].shape == (1, 512, 2, 2)
    with pytest.raises(UnknownModelError, match="vgg19 only"):
        get_feature_net("mobilefacenet", weights=path)


# ---- the optimisation on real pictures ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pictures():
    pytest.importorskip("skimage", reason="the example pictures come with scikit-image (the generative extra)")
    return load_image("skimage:chelsea", 40), load_image("skimage:immunohistochemistry", 40)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_few_steps_lower_the_cost(pictures, optimizer):
    config = StyleConfig(net="mobilefacenet", steps=8, optimizer=optimizer, lr=0.05 if optimizer == "adam" else None,
                         progress=False)
    result = stylize(*pictures, config)
    assert result.image.shape == pictures[0].shape and 0 <= result.image.min() and result.image.max() <= 1
    assert [s.step for s in result.history] == list(range(9))  # the starting image, then each of the 8 steps
    assert result.history[-1].total < 0.8 * result.history[0].total
    assert result.history[-1].style < result.history[0].style


def test_style_transfer_is_reproducible(pictures):
    config = StyleConfig(net="mobilefacenet", steps=3, optimizer="adam", progress=False)
    first, second = stylize(*pictures, config), stylize(*pictures, config)
    assert torch.equal(first.image, second.image)
    other = stylize(*pictures, StyleConfig(net="mobilefacenet", steps=3, optimizer="adam", seed=1, progress=False))
    assert not torch.equal(first.image, other.image)


def test_style_command_end_to_end(tmp_path):
    pytest.importorskip("skimage", reason="the example pictures come with scikit-image (the generative extra)")
    out, curve = tmp_path / "out.png", tmp_path / "curve.png"
    result = CliRunner().invoke(main, ["zoo", "style", "skimage:chelsea", "skimage:coffee", "-o", str(out),
                                       "--net", "mobilefacenet", "--size", "40", "--steps", "3", "--curve",
                                       str(curve), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert out.is_file() and curve.is_file() and len(report["history"]) == 4 and report["net"] == "mobilefacenet"
    bad = CliRunner().invoke(main, ["zoo", "style", "skimage:nothing", "skimage:coffee", "-o", str(out)])
    assert bad.exit_code != 0 and "nothing" in bad.output and "Traceback" not in bad.output


# ---- the DCGAN -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_shapes_and_gradients(size):
    g, d = dcgan(size=size, channels=1, width=8)
    images = g(torch.randn(4, 100))
    assert images.shape == (4, 1, size, size) and images.abs().max() <= 1
    loss = generator_loss(d(images))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    # the paper's placement: no batch norm at G's output or D's input, tanh out, leaky ReLU 0.2 in D
    assert isinstance(g.net[-1], torch.nn.Tanh) and isinstance(g.net[-2], torch.nn.ConvTranspose2d)
    assert isinstance(d.net[1], torch.nn.LeakyReLU) and d.net[1].negative_slope == 0.2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == int(math.log2(size)) - 3
    with pytest.raises(FaceRecError, match="power of two"):
        dcgan(size=48)


def test_gan_losses_by_hand():
    zero = torch.zeros(3)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_loss(zero).item() == pytest.approx(math.log(2))
    assert generator_loss(torch.full((2,), 20.0)).item() < 1e-6


@pytest.fixture(scope="module")
def mnist_digits():
    """The first 256 MNIST test digits, padded to 32 x 32 as the GAN trains on them."""
    digits = torch.from_numpy(read_idx(SHARED / "data" / "mnist" / "t10k-images.idx3-ubyte.gz")[:256])
    return torch.nn.functional.pad(digits[:, None], (2, 2, 2, 2))


@pytest.fixture(scope="module")
def mnist_batch(mnist_digits):
    return mnist_digits.float().div(127.5).sub(1)


def test_a_few_steps_on_mnist_lower_each_loss(mnist_batch):
    torch.manual_seed(0)
    g, d = dcgan(size=32, width=8)
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    z = torch.randn(64, 100)
    real = mnist_batch[:64]
    with torch.no_grad():
        fake = g(z)
    before = discriminator_loss(d(real), d(fake)).item()
    for _ in range(10):  # D alone against a fixed G
        loss = discriminator_loss(d(real), d(fake))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
    assert discriminator_loss(d(real), d(fake)).item() < before
    d.requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    before = generator_loss(d(g(z))).item()
    for _ in range(10):  # G alone against the now fixed D
        loss = generator_loss(d(g(z)))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    assert generator_loss(d(g(z))).item() < before


def test_gan_step_reports_losses(mnist_batch):
    torch.manual_seed(0)
    g, d = dcgan(size=32, width=8)
    optimizers = [torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (g, d)]
    d_loss, g_loss, d_real, d_fake = gan_step(g, d, *optimizers, mnist_batch[:32], torch.Generator().manual_seed(0))
    assert d_loss > 0 and g_loss > 0 and 0 < d_real < 1 and 0 < d_fake < 1


def test_train_gan_is_reproducible_and_saves(tmp_path):
    def run(seed, name):
        config = GanConfig(data="att", size=16, epochs=1, batch_size=16, limit=64, width=4, seed=seed,
                           out_dir=str(tmp_path / name), progress=False)
        return train_gan(config)

    first, second, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert first.history[0].d_loss == second.history[0].d_loss and first.history[0].g_loss == second.history[0].g_loss
    assert first.history[0].d_loss != other.history[0].d_loss
    a, _ = load_gan(tmp_path / "a" / "last.pt")
    b, _ = load_gan(tmp_path / "b" / "last.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(sample(a, 4, seed=3), sample(b, 4, seed=3))
    assert (tmp_path / "a" / "samples_epoch001.png").is_file()


def test_gan_face_images_are_square_grey():
    faces = gan_images("att", 64)
    assert faces.shape == (400, 1, 64, 64) and faces.dtype == torch.uint8 and faces.float().std() > 20


def test_gan_commands(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(main, ["zoo", "gan", "train", "--data", "att", "--size", "16", "--epochs", "1",
                                  "--limit", "32", "--batch-size", "16", "--width", "4", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 32
    grid = tmp_path / "grid.png"
    result = runner.invoke(main, ["zoo", "gan", "sample", str(out / "last.pt"), "-o", str(grid), "-n", "6"])
    assert result.exit_code == 0 and grid.is_file(), result.output
    bad = runner.invoke(main, ["zoo", "gan", "sample", str(grid), "-o", str(grid)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


# ---- the measures ----------------------------------------------------------------------------------------


def test_frechet_distance_by_hand_in_one_dimension():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (500, 1)), rng.normal(2, 3, (500, 1))
    sx, sy = x.std(ddof=1), y.std(ddof=1)
    expected = (x.mean() - y.mean()) ** 2 + sx ** 2 + sy ** 2 - 2 * sx * sy
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_nearest_neighbours_find_the_copy():
    pool = gan_images("att", 16)[:50]
    index, distance = nearest_neighbours(pool[[7, 30]], pool)
    assert index.tolist() == [7, 30] and np.allclose(distance, 0, atol=1e-3)
    index, distance = nearest_neighbours(pool[:10], pool, exclude_self=True)
    assert (index != np.arange(10)).all() and (distance > 0).all()


def test_classifier_features_from_a_zoo_checkpoint(tmp_path, mnist_digits):
    from facerec.zoo import get_arch
    from facerec.zoo.transfer import Checkpoint, save_checkpoint

    model = get_arch("lenet5-relu")
    state = {k: v.detach() for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "c.pt", Checkpoint("lenet5-relu", tuple("0123456789"), 1, (32, 32), {},
                                                  (0.1,), (0.3,), state))
    features = ClassifierFeatures.from_checkpoint(tmp_path / "c.pt")
    feats, logits = features(mnist_digits[:20])
    assert feats.shape == (20, 84) and logits.shape == (20, 10)
    assert label_counts(logits, 10).sum() == 20

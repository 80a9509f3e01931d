"""Train a DCGAN: alternating Adam steps on D and G, a sample grid and a checkpoint after each epoch.

Data: ``mnist`` (the 60k training digits, zero-padded to 32 x 32 as LeNet-5 has them), ``att``,
``yale`` (the bundled Yale B subset), or a folder of images; several joined with commas
(``att,yale``). Faces are cropped to a centred square and resized to ``size`` x ``size`` grey.

>>> result = train_gan(GanConfig(data="mnist", epochs=5, limit=20000))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facerec.errors import DatasetError, FaceRecError
from facerec.progress import tqdm
from facerec.zoo.data import data_root, load_data, read_folder_tree
from facerec.zoo.dcgan import dcgan, discriminator_loss, generator_loss, sample, save_gan, save_grid

__all__ = ["GanConfig", "GanEpoch", "GanResult", "gan_images", "gan_step", "train_gan"]


@dataclass(frozen=True)
class GanConfig:
    """One DCGAN run. Adam with beta1 = 0.5 and lr 2e-4, batch 64 (the paper's settings; it used 128)."""

    data: str
    size: int = 32
    epochs: int = 5
    batch_size: int = 64
    limit: int | None = None
    latent: int = 100
    width: int = 64
    lr: float = 2e-4
    flip: bool = False
    seed: int = 0
    out_dir: str = "runs/gan"
    progress: bool = True


@dataclass(frozen=True)
class GanEpoch:
    """Mean losses of an epoch and D's mean output probability on real and generated images."""

    epoch: int
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    seconds: float


@dataclass(frozen=True)
class GanResult:
    config: GanConfig
    history: tuple[GanEpoch, ...]
    images: int
    out_dir: str
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def gan_images(data: str, size: int) -> Tensor:
    """The training images of ``data`` as uint8 N x 1 x size x size (see the module docstring)."""
    parts = []
    for source in (s.strip() for s in data.split(",") if s.strip()):
        if source == "mnist":
            parts.append(load_data("mnist", size=(size, size)).train_x)  # 28 x 28 zero-padded to 32, as LeNet-5
        else:
            folder = {"att": data_root() / "att_faces", "yale": data_root() / "yale_b_dev"}.get(source, Path(source))
            images, _, _ = read_folder_tree(folder)
            parts.append(_square(images, size))
    if not parts:
        raise DatasetError("no training data given")
    return torch.cat(parts)


def _square(images: np.ndarray, size: int) -> Tensor:
    """Centre-crop N x C x H x W to a square, average to grey, resize to ``size``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    h, w = x.shape[2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[:, :, top : top + side, left : left + side].mean(1, keepdim=True)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)


def train_gan(config: GanConfig) -> GanResult:
    """Train on ``config.data``; write ``samples_epochNNN.png``, ``epochNNN.pt``, ``last.pt``, ``losses.json``."""
    if config.epochs < 1 or config.batch_size < 2:
        raise FaceRecError("a GAN needs at least 1 epoch and batches of at least 2 images")
    started = time.perf_counter()
    images = gan_images(config.data, config.size)
    rng = np.random.default_rng(config.seed)
    if config.limit:
        images = images[torch.from_numpy(np.sort(rng.permutation(len(images))[: config.limit]))]
    torch.manual_seed(config.seed)
    generator, discriminator = dcgan(size=config.size, channels=1, latent=config.latent, width=config.width)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(0.5, 0.999))
    batches = torch.Generator().manual_seed(config.seed)
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history: list[GanEpoch] = []
    for epoch in range(1, config.epochs + 1):
        tic = time.perf_counter()
        sums = np.zeros(4)
        steps = 0
        order = torch.randperm(len(images), generator=batches)
        bar = tqdm(range(0, len(images) - config.batch_size + 1, config.batch_size), leave=False, unit="batch",
                   desc=f"epoch {epoch}/{config.epochs}", disable=not config.progress)
        for start in bar:
            real = images[order[start : start + config.batch_size]].float().div(127.5).sub(1)
            if config.flip:
                mirror = torch.rand(len(real), generator=batches) < 0.5
                real[mirror] = real[mirror].flip(-1)
            sums += gan_step(generator, discriminator, opt_g, opt_d, real, batches)
            steps += 1
            bar.set_postfix(d=f"{sums[0] / steps:.3f}", g=f"{sums[1] / steps:.3f}")
        means = sums / max(1, steps)
        d_loss, g_loss, d_real, d_fake = (float(v) for v in means)
        history.append(GanEpoch(epoch, d_loss, g_loss, d_real, d_fake, time.perf_counter() - tic))
        save_grid(sample(generator, 64, seed=config.seed), out / f"samples_epoch{epoch:03d}.png", scale=2)
        save_gan(out / f"epoch{epoch:03d}.pt", generator, discriminator, epoch=epoch)
        save_gan(out / "last.pt", generator, discriminator, epoch=epoch)
        if config.progress:
            h = history[-1]
            tqdm.write(f"epoch {epoch}: D {h.d_loss:.3f}  G {h.g_loss:.3f}  D(x) {h.d_real:.2f}  "
                       f"D(G(z)) {h.d_fake:.2f}  ({h.seconds:.0f}s)")
    result = GanResult(config, tuple(history), len(images), str(out), time.perf_counter() - started)
    (out / "losses.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def gan_step(generator, discriminator, opt_g, opt_d, real: Tensor, noise_source: torch.Generator) -> np.ndarray:
    """One D step then one G step on a batch of real images in [-1, 1].

    Returns (D loss, G loss, mean D(x), mean D(G(z))).
    """
    z = torch.randn(len(real), generator.shape.latent, generator=noise_source)
    fake = generator(z)
    real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    g_loss = generator_loss(discriminator(fake))
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return np.array([d_loss.item(), g_loss.item(), torch.sigmoid(real_logits).mean().item(),
                     torch.sigmoid(fake_logits).mean().item()])

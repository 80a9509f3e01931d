"""DCGAN (Radford, Metz & Chintala 2016): a generator of transpose convolutions against a discriminator
of strided convolutions.

As the paper puts them: no pooling and no fully connected hidden layers; batch norm in every layer
except the generator's output and the discriminator's input; ReLU in the generator (tanh at its
output), leaky ReLU (slope 0.2) in the discriminator; weights drawn from N(0, 0.02). Images are
``size`` x ``size`` with ``size`` a power of two from 16 up (32 for MNIST, 64 for faces), pixels in
[-1, 1]. The losses are the non-saturating ones of Goodfellow et al.: D minimises
``-log D(x) - log(1 - D(G(z)))``, G minimises ``-log D(G(z))``.

>>> g, d = dcgan(size=32, channels=1, latent=100, width=32)
>>> import torch
>>> tuple(g(torch.randn(2, 100)).shape), tuple(d(g(torch.randn(2, 100))).shape)
((2, 1, 32, 32), (2,))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facerec.errors import FaceRecError
from facerec.fileio import atomic_path

__all__ = ["Discriminator", "GanShape", "Generator", "dcgan", "discriminator_loss", "generator_loss", "load_gan",
           "sample", "save_gan", "save_grid"]

FORMAT = "facerec-dcgan/1"


@dataclass(frozen=True)
class GanShape:
    """What both networks are built from: image side and channels, noise size, base width."""

    size: int = 32
    channels: int = 1
    latent: int = 100
    width: int = 64

    @property
    def stages(self) -> int:
        """Doublings between the 4 x 4 seed and the image: 3 for 32 x 32, 4 for 64 x 64."""
        return self.size.bit_length() - 3


def _check(shape: GanShape) -> None:
    if shape.size < 16 or shape.size & (shape.size - 1):
        raise FaceRecError(f"the DCGAN image size must be a power of two of at least 16, not {shape.size}")
    if shape.channels not in (1, 3) or shape.latent < 1 or shape.width < 1:
        raise FaceRecError("channels must be 1 or 3, latent and width at least 1")


class Generator(nn.Module):
    """z (N x latent) -> 4 x 4 x (width * 2^(stages-1)) -> ... -> size x size x channels in [-1, 1]."""

    def __init__(self, shape: GanShape) -> None:
        super().__init__()
        _check(shape)
        self.shape = shape
        channels = shape.width * 2 ** (shape.stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(shape.latent, channels, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU(True)]
        for _ in range(shape.stages - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), nn.ReLU(True)]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, shape.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """size x size x channels in [-1, 1] -> one logit per image (the sigmoid lives in the loss)."""

    def __init__(self, shape: GanShape) -> None:
        super().__init__()
        _check(shape)
        self.shape = shape
        channels = shape.width
        layers: list[nn.Module] = [nn.Conv2d(shape.channels, channels, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]
        for _ in range(shape.stages - 1):
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(channels * 2),
                       nn.LeakyReLU(0.2, True)]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, 4, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten()


def _init(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def dcgan(*, size: int = 32, channels: int = 1, latent: int = 100, width: int = 64) -> tuple[Generator, Discriminator]:
    """An untrained (generator, discriminator) pair."""
    shape = GanShape(size, channels, latent, width)
    return Generator(shape), Discriminator(shape)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``-log D(x) - log(1 - D(G(z)))``, averaged over each batch."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_loss(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss ``-log D(G(z))`` (strong gradients while D wins)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def sample(generator: Generator, count: int, *, seed: int = 0, batch_size: int = 500) -> Tensor:
    """``count`` images from ``generator`` (eval mode) as uint8 N x C x H x W; the noise is seeded."""
    noise = torch.randn(count, generator.shape.latent, generator=torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    with torch.inference_mode():
        images = torch.cat([generator(chunk.to(device)).cpu() for chunk in noise.split(batch_size)])
    generator.train(was_training)
    return to_uint8(images)


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats to uint8 pixels."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_grid(images: Tensor, path: str | Path, *, nrow: int = 8, scale: int = 1, padding: int = 2) -> Path:
    """uint8 N x C x H x W images as one PNG grid (``nrow`` per row), enlarged ``scale`` times."""
    from PIL import Image

    n, c, h, w = images.shape
    rows = -(-n // nrow)
    canvas = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), 255, dtype=torch.uint8)
    for i, image in enumerate(images):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        canvas[:, top : top + h, left : left + w] = image
    array = canvas.permute(1, 2, 0).squeeze(2).numpy()
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
    return Path(path)


def save_gan(path: str | Path, generator: Generator, discriminator: Discriminator, **extra: object) -> Path:
    """Both networks, their shape and ``extra`` metadata, written atomically."""
    payload = {"format": FORMAT, "shape": asdict(generator.shape), "generator": generator.state_dict(),
               "discriminator": discriminator.state_dict(), "extra": extra}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)
    return Path(path)


def load_gan(path: str | Path) -> tuple[Generator, Discriminator]:
    """The (generator, discriminator) saved by :func:`save_gan`, in eval mode."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise FaceRecError(f"cannot read GAN checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FaceRecError(f"{path} is not a facerec DCGAN checkpoint")
    generator, discriminator = dcgan(**payload["shape"])
    generator.load_state_dict(payload["generator"])
    discriminator.load_state_dict(payload["discriminator"])
    return generator.eval(), discriminator.eval()

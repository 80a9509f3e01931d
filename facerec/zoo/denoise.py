"""Training DnCNN on patches of grayscale photos with Gaussian noise, whole people held out.

Photos come from LFW (``lfw``, one folder per person) or any folder of images (one sub-folder per
person, or loose files). People are split by a seeded hash of their name, so no face of a test
person is ever seen in training. Each step crops random patches from random training photos, flips
and rotates them, and adds noise of one ``sigma`` or of a ``sigma_range`` (blind denoising).

>>> result = train_denoiser(DenoiseConfig(out_dir="runs/dncnn"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from PIL import Image
from torch import nn

from facerec.errors import DatasetError
from facerec.io import IMAGE_SUFFIXES
from facerec.progress import tqdm
from facerec.zoo.data import data_root
from facerec.zoo.dense_checkpoint import save_dense
from facerec.zoo.dncnn import add_noise, dncnn

__all__ = ["DenoiseConfig", "DenoiseResult", "load_photos", "sample_patches", "train_denoiser"]


class _DnCNNOptions(TypedDict):
    """The :func:`dncnn` options a checkpoint stores."""

    depth: int
    width: float
    in_channels: int


@dataclass(frozen=True)
class DenoiseConfig:
    """One DnCNN training run; ``sigma_range`` (low, high) overrides ``sigma`` for blind training."""

    data: str = "lfw"
    depth: int = 17
    width: float = 1.0
    loss: str = "mse"
    sigma: float = 25.0
    sigma_range: tuple[float, float] | None = None
    patch: int = 40
    batch_size: int = 64
    steps: int = 2000
    lr: float = 1e-3
    train_photos: int = 800
    seed: int = 0
    init: str | None = None
    out_dir: str = "runs/dncnn"
    log_every: int = 100
    progress: bool = True  # a step bar on stderr with the running loss


@dataclass(frozen=True)
class DenoiseResult:
    """Loss every ``log_every`` steps, the held-out PSNR at the training sigma(s), the checkpoint."""

    config: DenoiseConfig
    losses: tuple[float, ...]
    val_psnr_noisy: float
    val_psnr_denoised: float
    params: int
    seconds: float
    checkpoint: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def load_photos(source: str = "lfw", *, split: str = "train", limit: int | None = None, seed: int = 0,
                test_share: float = 0.2) -> list[np.ndarray]:
    """Grayscale photos (float32 H x W, 0-1) of the ``train`` or ``test`` people of ``source``.

    A person is a test person when the seeded hash of their folder name falls in the first
    ``test_share`` of the range; with loose files, each file is its own "person".
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = data_root() / "lfw_dev" / "images" if source == "lfw" else Path(source)
    if not folder.is_dir():
        raise DatasetError(f"photo folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"no images in {folder}")

    def is_test(path: Path) -> bool:
        who = path.parent.name if path.parent != folder else path.name
        digest = hashlib.sha256(f"{seed}:{who}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < test_share

    chosen = [p for p in files if is_test(p) == (split == "test")]
    chosen = [chosen[i] for i in np.random.default_rng(seed).permutation(len(chosen))][:limit]
    if not chosen:
        raise DatasetError(f"no {split} photos in {folder}")
    return [np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255.0 for p in chosen]


def sample_patches(photos: list[np.ndarray], count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` patches (N x 1 x size x size), randomly flipped and rotated."""
    patches = np.empty((count, size, size), dtype=np.float32)
    for n in range(count):
        photo = photos[rng.integers(len(photos))]
        if min(photo.shape) < size:
            raise DatasetError(f"a photo of {photo.shape} is smaller than the {size}px patches")
        y, x = rng.integers(photo.shape[0] - size + 1), rng.integers(photo.shape[1] - size + 1)
        patch = np.rot90(photo[y : y + size, x : x + size], k=int(rng.integers(4)))
        patches[n] = patch[:, ::-1] if rng.random() < 0.5 else patch
    return torch.from_numpy(patches)[:, None]


def train_denoiser(config: DenoiseConfig) -> DenoiseResult:
    """Train DnCNN (residual learning, MSE or MAE on the noise) and save ``dncnn.pt`` and ``result.json``."""
    if config.loss not in ("mse", "mae"):
        raise ValueError(f"loss must be 'mse' or 'mae', got {config.loss!r}")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_photos = load_photos(config.data, split="train", limit=config.train_photos, seed=config.seed)
    val_photos = load_photos(config.data, split="test", limit=16, seed=config.seed)
    options: _DnCNNOptions = {"depth": config.depth, "width": config.width, "in_channels": 1}
    model = dncnn(**options)
    if config.init:
        model.load_state_dict(_init_weights(config.init, options))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    criterion: nn.Module = nn.MSELoss() if config.loss == "mse" else nn.L1Loss()
    losses, running = [], 0.0
    model.train()
    bar = tqdm(total=config.steps, desc="DnCNN", unit="step", disable=not config.progress)
    for step in range(1, config.steps + 1):
        clean = sample_patches(train_photos, config.batch_size, config.patch, rng)
        noisy = add_noise(clean, _sigmas(config, rng))
        loss = criterion(model.noise(noisy), noisy - clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running += loss.item()
        if step % config.log_every == 0 or step == config.steps:
            losses.append(running / (config.log_every if step % config.log_every == 0 else step % config.log_every))
            running = 0.0
            bar.set_postfix(loss=f"{losses[-1]:.5f}")
        bar.update()
    bar.close()
    noisy_db, denoised_db = _validate(model, val_photos, config)
    out = Path(config.out_dir)
    sigma = list(config.sigma_range) if config.sigma_range else config.sigma
    checkpoint = save_dense(out / "dncnn.pt", "dncnn", options, model, sigma=sigma, data=config.data,
                            seed=config.seed)
    result = DenoiseResult(config, tuple(losses), noisy_db, denoised_db,
                           sum(p.numel() for p in model.parameters()), time.perf_counter() - started, str(checkpoint))
    (out / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _init_weights(path: str, options: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """The weights of an earlier dncnn.pt of the same shape, to fine-tune (e.g. a blind model to one sigma)."""
    from facerec.zoo.dense_checkpoint import DenseCheckpointError, load_dense

    model, facts = load_dense(path, kinds=("dncnn",))
    if facts["options"] != options:
        raise DenseCheckpointError(f"{path} is a DnCNN with {facts['options']}, not {options}")
    return model.state_dict()


def _sigmas(config: DenoiseConfig, rng: np.random.Generator) -> torch.Tensor:
    if config.sigma_range is None:
        return torch.full((config.batch_size,), float(config.sigma))
    low, high = config.sigma_range
    return torch.from_numpy(rng.uniform(low, high, config.batch_size).astype(np.float32))


def _validate(model: nn.Module, photos: list[np.ndarray], config: DenoiseConfig) -> tuple[float, float]:
    """Mean PSNR of noisy and denoised held-out 96x96 centre crops at the training sigma (mid-range if blind)."""
    from facerec.zoo.dncnn import psnr

    sigma = sum(config.sigma_range) / 2 if config.sigma_range else config.sigma
    generator = torch.Generator().manual_seed(config.seed + 1)
    crops = torch.stack([torch.from_numpy(_centre(p, 96)) for p in photos])[:, None]
    noisy = add_noise(crops, sigma, generator=generator)
    model.eval()
    with torch.inference_mode():
        denoised = model(noisy)
    clean = crops.numpy()
    return (float(np.mean([psnr(c, n) for c, n in zip(clean, noisy.numpy())])),
            float(np.mean([psnr(c, d) for c, d in zip(clean, denoised.numpy())])))


def _centre(photo: np.ndarray, size: int) -> np.ndarray:
    y, x = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    return photo[y : y + size, x : x + size]

"""PSNR and SSIM of DnCNN beside classical denoisers, on photos of people it never saw.

Every method is told the true noise level, as BM3D needs it: non-local means uses scikit-image's
recommended ``h = 0.8 sigma``; the Gaussian filter's width is chosen per noise level on training
photos (never on the measured ones). Noise is seeded per photo and level, so every method denoises
the very same noisy images.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from facerec.errors import FaceRecError
from facerec.zoo.denoise import load_photos
from facerec.zoo.dense_checkpoint import load_dense
from facerec.zoo.dncnn import add_noise, denoise_image, psnr

__all__ = ["METHODS", "bench_denoisers", "classical_denoiser"]

METHODS = ("noisy", "gaussian", "nlm", "bm3d", "dncnn")
_GAUSSIAN_WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)

Denoiser = Callable[[np.ndarray, float], np.ndarray]


def classical_denoiser(name: str, *, gaussian_width: dict[float, float] | None = None) -> Denoiser:
    """``f(noisy, sigma)`` for ``gaussian``, ``nlm`` (scikit-image) or ``bm3d`` (the bm3d package)."""
    if name == "gaussian":
        from scipy.ndimage import gaussian_filter

        widths = gaussian_width or {}
        return lambda noisy, sigma: gaussian_filter(noisy, widths.get(sigma, 1.0))
    if name == "nlm":
        from skimage.restoration import denoise_nl_means

        return lambda noisy, sigma: denoise_nl_means(noisy, h=0.8 * sigma / 255, sigma=sigma / 255, fast_mode=True,
                                                     patch_size=5, patch_distance=6)
    if name == "bm3d":
        try:
            import bm3d
        except ImportError:
            raise FaceRecError("bm3d is not installed (pip install bm3d)") from None
        return lambda noisy, sigma: np.asarray(bm3d.bm3d(noisy, sigma_psd=sigma / 255), dtype=np.float32)
    raise FaceRecError(f"unknown denoiser {name!r}; known: {', '.join(METHODS)}")


def bench_denoisers(checkpoint: str, *, sigmas: tuple[float, ...] = (15.0, 25.0, 50.0), photos: int = 12,
                    crop: int = 128, methods: tuple[str, ...] = ("gaussian", "nlm", "bm3d", "dncnn"),
                    seed: int | None = None) -> dict[str, object]:
    """Mean PSNR (dB) and SSIM per method and noise level, seconds per image, and the table as text.

    The photos are the test people of the checkpoint's own split (its data and seed).
    """
    model, facts = load_dense(checkpoint, kinds=("dncnn",))
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        raise FaceRecError("the denoising benchmark needs scikit-image: pip install 'facerec[dense]'") from None
    seed = int(facts.get("seed", 0)) if seed is None else seed
    data = str(facts.get("data", "lfw"))
    clean = [_centre(p, crop) for p in load_photos(data, split="test", limit=photos, seed=seed)]
    widths = _tune_gaussian(load_photos(data, split="train", limit=4, seed=seed), sigmas, crop, seed)
    runners: dict[str, Denoiser] = {"noisy": lambda noisy, sigma: noisy}
    for name in methods:
        if name == "dncnn":
            runners[name] = lambda noisy, sigma: denoise_image(model, noisy)
        elif name != "noisy":
            runners[name] = classical_denoiser(name, gaussian_width=widths)
    rows: dict[str, dict[str, dict[str, float]]] = {name: {} for name in runners}
    for sigma in sigmas:
        noisy = [_noisy(image, sigma, seed + 1000 + i) for i, image in enumerate(clean)]
        for name, run in runners.items():
            started = time.perf_counter()
            estimates = [np.asarray(run(n, sigma), dtype=np.float32) for n in noisy]
            seconds = (time.perf_counter() - started) / len(noisy)
            rows[name][str(int(sigma))] = {
                "psnr": float(np.mean([psnr(c, e) for c, e in zip(clean, estimates)])),
                "ssim": float(np.mean([structural_similarity(c, np.clip(e, 0, 1), data_range=1.0)
                                       for c, e in zip(clean, estimates)])),
                "seconds_per_image": seconds,
            }
    report: dict[str, object] = {"checkpoint": checkpoint, "photos": len(clean), "crop": crop, "seed": seed,
                                 "gaussian_widths": {str(int(k)): v for k, v in widths.items()}, "results": rows}
    report["table"] = _table(rows, sigmas, len(clean), crop)
    return report


def _tune_gaussian(photos: list[np.ndarray], sigmas: tuple[float, ...], crop: int, seed: int) -> dict[float, float]:
    """The Gaussian filter width with the best PSNR on a few training photos, per noise level."""
    from scipy.ndimage import gaussian_filter

    images = [_centre(p, crop) for p in photos]
    best = {}
    for sigma in sigmas:
        noisy = [_noisy(image, sigma, seed + 500 + i) for i, image in enumerate(images)]
        scores = {w: np.mean([psnr(c, gaussian_filter(n, w)) for c, n in zip(images, noisy)])
                  for w in _GAUSSIAN_WIDTHS}
        best[sigma] = max(scores, key=lambda w: scores[w])
    return best


def _noisy(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    return add_noise(torch.from_numpy(image), sigma, generator=generator).numpy()


def _centre(photo: np.ndarray, size: int) -> np.ndarray:
    if size <= 0 or min(photo.shape) <= size:
        return photo
    y, x = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    return photo[y : y + size, x : x + size]


def _table(rows: dict[str, dict[str, dict[str, float]]], sigmas: tuple[float, ...], count: int, crop: int) -> str:
    header = "| method | " + " | ".join(f"σ={int(s)} PSNR / SSIM" for s in sigmas) + " | s/image (σ=25) |"
    lines = [f"{count} held-out photos ({crop}x{crop} centre crops, grayscale)", header,
             "|" + "---|" * (len(sigmas) + 2)]
    for name, by_sigma in rows.items():
        cells = [f"{by_sigma[str(int(s))]['psnr']:.2f} / {by_sigma[str(int(s))]['ssim']:.3f}" for s in sigmas]
        speed = by_sigma.get("25", next(iter(by_sigma.values())))["seconds_per_image"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {speed:.3f} |")
    return "\n".join(lines)

"""The embedder registry: ``model_file(name)`` (what runs), ``get_model(name)`` (PyTorch) and ``list_models()``.

Each model has weights entries (:class:`~facerec.models.weights.Weights`) carrying URL,
sha256, alignment, normalisation, embedding size and a calibrated threshold. A model is run as an ONNX file
(:class:`~facerec.models.embedders.onnx.OnnxEmbedder`), whichever way it came: a built-in model's published
ONNX file, its PyTorch network exported once (with the torch extra), or an ONNX file the user added
(:mod:`facerec.models.embedders.custom`), which the registry finds by name like a built-in one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from facerec.alignment import Alignment
from facerec.errors import UnknownModelError, WeightsHashError, WeightsNotFoundError
from facerec.models.embedders.int8 import Precision
from facerec.models.embedders.onnx import ModelFile, OnnxEmbedder
from facerec.models.weights import IMAGENET_MEAN, IMAGENET_STD, Weights, WeightsFile, resolve_weights, sha256_file

if TYPE_CHECKING:
    from torch import nn

    from facerec.models.embedders.embedder import FaceEmbedder

__all__ = ["FaceEmbedder", "ModelFile", "ModelSpec", "Weights", "get_model", "get_weights", "is_builtin",
           "list_models", "load_embedder", "list_weights", "model_file", "register_model"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its weights entries and, for a PyTorch model, how to build its network (``build``,
    which only ``get_model``, the torch backend and exports use; None for a model that is an ONNX file only)."""

    name: str
    build: Callable[[Weights], nn.Module] | None
    weights: dict[str, Weights]
    default: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Add an embedder to the registry; a name already registered is refused."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def list_models() -> list[str]:
    """Names accepted by :func:`model_file` (built-in and added by the user), sorted."""
    from facerec.models.embedders.custom import list_custom_models

    return sorted({*_REGISTRY, *list_custom_models()})


def is_builtin(name: str) -> bool:
    """Whether ``name`` is a model facerec ships (not one the user added)."""
    return name in _REGISTRY


def list_weights() -> list[tuple[Weights, bool]]:
    """Every weights entry of every model, with whether it is its model's default (an added model whose spec
    cannot be read is left out: asking for it by name says why)."""
    from facerec.errors import FaceRecError

    rows = []
    for name in list_models():
        try:
            spec = _spec(name)
        except FaceRecError:
            continue
        rows += [(weights, tag == spec.default) for tag, weights in spec.weights.items()]
    return rows


def get_weights(name: str, tag: str | None = None) -> Weights:
    """The weights entry ``tag`` (default: the model's default) of model ``name``."""
    spec = _spec(name)
    tag = tag or spec.default
    if tag not in spec.weights:
        raise UnknownModelError(f"model {name!r} has no weights {tag!r}; known: {', '.join(spec.weights)}")
    return spec.weights[tag]


def get_model(
    name: str = "mobilefacenet", *, tag: str | None = None, weights_path: str | Path | None = None,
    pretrained: bool = True,
) -> FaceEmbedder:
    """Build model ``name`` with its weights loaded, ready to embed aligned faces (imports torch).

    >>> model = get_model("mobilefacenet")  # doctest: +SKIP
    >>> model.weights.embedding_size  # doctest: +SKIP
    128
    """
    if pretrained:
        file = model_file(name, tag=tag, weights_path=weights_path)
        if file.load is None:
            raise UnknownModelError(f"{file.weights.key} is an ONNX file: it has no PyTorch network (--backend onnx)")
        return file.load()
    from facerec.models.embedders.embedder import FaceEmbedder

    entry = get_weights(name, tag)
    return FaceEmbedder(_build(_spec(name), entry), entry).eval()


def load_embedder(name: str = "mobilefacenet", *, tag: str | None = None, weights_path: str | Path | None = None,
                  precision: Precision = "fp32", threads: int | None = None) -> OnnxEmbedder:
    """Any registered model, built-in or added, as the one kind of object the pipeline runs: an ONNX file in
    onnxruntime that turns aligned crops into unit embeddings (``.embed(crops)``, ``.weights``: its spec).

    >>> embedder = load_embedder("mobilefacenet")  # doctest: +SKIP
    >>> embedder.embed(crops).shape  # doctest: +SKIP
    (2, 128)
    """
    return OnnxEmbedder(model_file(name, tag=tag, weights_path=weights_path), threads=threads, precision=precision)


def model_file(name: str = "mobilefacenet", *, tag: str | None = None,
               weights_path: str | Path | None = None) -> ModelFile[FaceEmbedder]:
    """What runs model ``name``, found and identified by sha256 without building anything (no torch).

    By name: a built-in model's published ONNX file where it is found (``FACEREC_WEIGHTS_DIR``, the cache, a
    checked download), else its PyTorch weights file (exported once, with the torch extra); an added model's
    own ONNX file. ``weights_path`` is the user's own file (``.onnx``, or PyTorch weights): unless it is the
    published one, its key names its content. ``.load()`` builds the PyTorch network as :func:`get_model` does.
    """
    spec = _spec(name)
    entry = get_weights(name, tag)
    if spec.build is None:  # an ONNX file and its spec
        from facerec.models.embedders.custom import custom_model_path

        path = resolve_weights(entry, weights_path if weights_path is not None else custom_model_path(name))
        digest = sha256_file(path)
        if digest != entry.sha256:
            if weights_path is None:
                raise WeightsHashError(f"{path} is not the file added as model {name!r} (its sha256 differs from "
                                       f"{(entry.sha256 or '')[:12]}...); add it again with `facerec models add`")
            entry = _file_weights(entry, digest)
        return ModelFile(entry, None, onnx=path, normalise=True)
    if weights_path is not None:
        path = resolve_weights(entry, weights_path)
        digest = sha256_file(path)
        if path.suffix.lower() == ".onnx":  # an export by facerec's recipe (`facerec models export`)
            published = entry.onnx is not None and digest == entry.onnx.sha256
            return ModelFile(entry if published else _file_weights(entry, digest), None, onnx=path)
        entry = _file_weights(entry, digest)
        return ModelFile(entry, functools.partial(_load, spec, entry, path))
    onnx = _published_onnx(entry)
    if onnx is None:
        path = resolve_weights(entry)  # the PyTorch weights, checked against entry.sha256
        return ModelFile(entry, functools.partial(_load, spec, entry, path))
    return ModelFile(entry, functools.partial(_load_found, spec, entry), onnx=onnx)


def _published_onnx(entry: Weights) -> Path | None:
    """The published ONNX file of ``entry`` where it is found here (checked by sha256), else None."""
    if entry.onnx is None:
        return None
    try:
        return resolve_weights(entry.onnx)
    except WeightsNotFoundError:
        return None


def _load_found(spec: ModelSpec, entry: Weights) -> FaceEmbedder:
    """The network of ``spec`` with its weights file, found by name (only when PyTorch is asked for)."""
    return _load(spec, entry, resolve_weights(entry))


def _load(spec: ModelSpec, entry: Weights, path: Path) -> FaceEmbedder:
    """The network of ``spec`` with the weights file ``path`` loaded into it."""
    from facerec.models.embedders.embedder import FaceEmbedder
    from facerec.models.state import load_state

    net = _build(spec, entry)
    load_state(net, path.read_bytes(), source=str(path), model=spec.name)
    return FaceEmbedder(net, entry).eval()


def _build(spec: ModelSpec, entry: Weights) -> nn.Module:
    if spec.build is None:
        raise UnknownModelError(f"{entry.key} is an ONNX file: it has no PyTorch network (--backend onnx)")
    from facerec.runtime import import_torch

    import_torch(f"the PyTorch network of {spec.name}")
    return spec.build(entry)


def _file_weights(entry: Weights, digest: str) -> Weights:
    """``entry`` for a user's weights file of sha256 ``digest``: unless it is the published file,
    its key names its content, so galleries and caches never mix its embeddings with the registry's."""
    if digest == entry.sha256:
        return entry
    return replace(entry, tag=f"{entry.tag}+file-{digest[:12]}", url=None, sha256=digest, onnx=None)


def _spec(name: str) -> ModelSpec:
    """The registered model ``name``, or the one the user added under that name (read from its spec)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    from facerec.models.embedders.custom import custom_weights

    entry = custom_weights(name)
    if entry is None:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(list_models())} "
                                "(`facerec models add` adds an ONNX model)")
    return ModelSpec(name=name, build=None, weights={entry.tag: entry}, default=entry.tag)


def _builder(module: str, function: str) -> Callable[..., nn.Module]:
    """The builder ``function`` of ``facerec.models.embedders.<module>``, imported (with torch) when a network
    is built, not when the registry is read."""
    import importlib

    return getattr(importlib.import_module(f"facerec.models.embedders.{module}"), function)


def __getattr__(name: str) -> Any:
    """``FaceEmbedder`` (PyTorch) from :mod:`facerec.models.embedders.embedder`, imported when asked for."""
    if name == "FaceEmbedder":
        from facerec.models.embedders.embedder import FaceEmbedder

        return FaceEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FOAMLIU = "https://github.com/foamliu/MobileFaceNet/raw/a6cc9032a659b615f477833e1a70b5e7931bcccc/weights"
_FACENET_PT = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9"
_FACENET_STD = (0.5, 0.5, 0.5), (128 / 255, 128 / 255, 128 / 255)  # (x - 127.5) / 128

register_model(
    ModelSpec(
        name="mobilefacenet",
        build=lambda w: _builder("mobilefacenet", "mobilefacenet")(embedding_size=w.embedding_size),
        default="foamliu",
        weights={
            "foamliu": Weights(
                model="mobilefacenet",
                tag="foamliu",
                filename="mobilefacenet.pt",
                url=f"{_FOAMLIU}/mobilefacenet.pt",
                sha256="90a00ba1d8b0b688af3deb731ed53dca582e6106805d1bc3cfdef55f570493f4",
                alignment=Alignment(size=112, method="landmarks"),
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                embedding_size=128,
                # measured, with the command, in docs/results/verification.md: the best-accuracy threshold of
                # the default pipeline over the pairs (0.2775); the identification floor is the FAR=1e-3 point
                # of the impostor tail below (0.3395)
                threshold=0.278,
                identify_threshold=0.340,
                license="Apache-2.0",
                note="foamliu/MobileFaceNet, trained on MS1M (ArcFace loss); published LFW 99.48%",
                # `python scripts/calibrate_open_set.py`: all 14.4M pairs of LFW dev images of two
                # different people (5,373 images, 2,086 people). A gallery of N people uses FAR 1%/N.
                impostor_tail=((1e-2, 0.2573), (1e-3, 0.3395), (1e-4, 0.4055), (1e-5, 0.4613), (1e-6, 0.5157)),
                # the same network as the .pt, exported by `facerec models export` (torch.onnx, opset 17): what
                # a torch-free install runs; found in FACEREC_WEIGHTS_DIR (or its onnx/ folder) or the cache
                onnx=WeightsFile(model="mobilefacenet", tag="foamliu-onnx",
                                 filename="mobilefacenet-foamliu-opset17.onnx", url=None, folder="onnx",
                                 license="Apache-2.0",
                                 sha256="06332a45fe76eb4bdae6716825e4440d2b2d03dc5ac9e827c56e01b94c48388e",
                                 note="MobileFaceNet (foamliu) in ONNX: RGB pixels in [0, 1] in, raw 128-d out"),
            )
        },
    )
)

register_model(
    ModelSpec(
        name="inception_resnet_v1",
        build=lambda w: _builder("inception_resnet", "inception_resnet_v1")(
            num_classes={"vggface2": 8631, "casia-webface": 10575}[w.tag]),
        default="vggface2",
        weights={
            tag: Weights(
                model="inception_resnet_v1",
                tag=tag,
                filename=filename,
                url=f"{_FACENET_PT}/{filename}",
                sha256=None,
                alignment=Alignment(size=160, method="box", margin=0.0),
                mean=_FACENET_STD[0],
                std=_FACENET_STD[1],
                embedding_size=512,
                # Not calibrated here (the weights are not available offline): the LFW
                # distance threshold 1.1 that facenet (davidsandberg) reports, as cosine
                # similarity 1 - 1.1**2 / 2. Calibrate with `facerec eval pairs`.
                threshold=0.395,
                identify_threshold=0.395,
                license="MIT",
                note=f"facenet-pytorch InceptionResnetV1 trained on {tag}",
            )
            for tag, filename in (
                ("vggface2", "20180402-114759-vggface2.pt"),
                ("casia-webface", "20180408-102900-casia-webface.pt"),
            )
        },
    )
)

# ResNet embedders have no published face weights: url=None, trained with `facerec train` and
# loaded with --weights (the input size travels inside the checkpoint as a buffer).
def _resnet_builder(name: str) -> Callable[[Weights], nn.Module]:
    return lambda w: _builder("resnet", name)(embedding_size=w.embedding_size)


for _name in ("resnet18", "resnet50"):
    register_model(
        ModelSpec(
            name=_name,
            build=_resnet_builder(_name),
            default="user",
            weights={
                "user": Weights(
                    model=_name,
                    tag="user",
                    filename=f"{_name}.pt",
                    url=None,
                    sha256=None,
                    alignment=Alignment(size=112, method="landmarks"),
                    mean=(0.5, 0.5, 0.5),
                    std=(0.5, 0.5, 0.5),
                    embedding_size=128,
                    # Not calibrated: user-trained weights differ run to run. Pass --threshold, or
                    # calibrate it with `facerec eval pairs --model resnet18 --weights ...`.
                    threshold=0.5,
                    identify_threshold=0.6,
                    note=f"{_name} face embedder trained by the user with `facerec train`; no public weights",
                )
            },
        )
    )

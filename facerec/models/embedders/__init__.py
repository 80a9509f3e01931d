"""The embedder registry: ``get_model(name)`` and ``list_models()``.

Each model has weights entries (:class:`~facerec.models.weights.Weights`) carrying URL,
sha256, alignment, normalisation, embedding size and a calibrated threshold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from facerec.alignment import Alignment
from facerec.errors import UnknownModelError
from facerec.models.embedders.onnx import ModelFile
from facerec.models.weights import IMAGENET_MEAN, IMAGENET_STD, Weights, resolve_weights, sha256_file

if TYPE_CHECKING:
    from torch import nn

    from facerec.models.embedders.embedder import FaceEmbedder

__all__ = ["FaceEmbedder", "ModelFile", "ModelSpec", "Weights", "get_model", "get_weights", "list_models",
           "list_weights", "model_file", "register_model"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and which weights it has."""

    name: str
    build: Callable[[Weights], nn.Module]
    weights: dict[str, Weights]
    default: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Add an embedder to the registry; a name already registered is refused."""
    if spec.name in _REGISTRY:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`, sorted."""
    return sorted(_REGISTRY)


def list_weights() -> list[tuple[Weights, bool]]:
    """Every weights entry of every model, with whether it is its model's default."""
    return [(weights, tag == spec.default) for name in list_models()
            for spec in [_REGISTRY[name]] for tag, weights in spec.weights.items()]


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
        return model_file(name, tag=tag, weights_path=weights_path).load()
    from facerec.models.embedders.embedder import FaceEmbedder

    entry = get_weights(name, tag)
    return FaceEmbedder(_spec(name).build(entry), entry).eval()


def model_file(name: str = "mobilefacenet", *, tag: str | None = None,
               weights_path: str | Path | None = None) -> ModelFile:
    """Model ``name``'s weights file, found and identified by its sha256, without building the network (no
    torch): what an ONNX export is looked up by. ``.load()`` builds the network as :func:`get_model` does.
    """
    entry = get_weights(name, tag)
    path = resolve_weights(entry, weights_path)
    if weights_path is None and entry.sha256:
        digest = entry.sha256  # resolve_weights has checked a file found by name against it
    else:
        digest = sha256_file(path)
    entry = _file_weights(entry, digest) if weights_path is not None else replace(entry, sha256=digest)
    return ModelFile(entry, functools.partial(_load, _spec(name), entry, path))


def _load(spec: ModelSpec, entry: Weights, path: Path) -> FaceEmbedder:
    """The network of ``spec`` with the weights file ``path`` loaded into it."""
    from facerec.models.embedders.embedder import FaceEmbedder
    from facerec.models.state import load_state

    net = spec.build(entry)
    load_state(net, path.read_bytes(), source=str(path), model=spec.name)
    return FaceEmbedder(net, entry).eval()


def _file_weights(entry: Weights, digest: str) -> Weights:
    """``entry`` for a user's weights file of sha256 ``digest``: unless it is the published file,
    its key names its content, so galleries and caches never mix its embeddings with the registry's."""
    if digest == entry.sha256:
        return entry
    return replace(entry, tag=f"{entry.tag}+file-{digest[:12]}", url=None, sha256=digest)


def _spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


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
                # `facerec eval pairs --pairs ../shared/data/lfw_dev/pairs_dev.txt --root
                # ../shared/data/lfw_dev/images` (LFW View 2 folds 1-5, grayscale, flip TTA, the default
                # pipeline: yunet,retinaface with MTCNN's landmarks): the best-accuracy threshold over all
                # 3,000 pairs (0.2775). The identification floor is the FAR=1e-3 point of the impostor
                # tail below (0.3395; the pairs file's 1,500 impostor pairs are too few for it).
                threshold=0.278,
                identify_threshold=0.340,
                license="Apache-2.0",
                note="foamliu/MobileFaceNet, trained on MS1M (ArcFace loss); published LFW 99.48%",
                # `python scripts/calibrate_open_set.py`: all 14.4M pairs of LFW dev images of two
                # different people (5,373 images, 2,086 people). A gallery of N people uses FAR 1%/N.
                impostor_tail=((1e-2, 0.2573), (1e-3, 0.3395), (1e-4, 0.4055), (1e-5, 0.4613), (1e-6, 0.5157)),
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

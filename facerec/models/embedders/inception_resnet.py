"""InceptionResnetV1 from facenet-pytorch, built without touching the network."""

from __future__ import annotations

from torch import nn

__all__ = ["inception_resnet_v1"]


def inception_resnet_v1(*, num_classes: int | None = None) -> nn.Module:
    """Build facenet-pytorch's InceptionResnetV1 with no weights downloaded.

    ``num_classes`` adds the ``logits`` layer that the published state_dicts carry
    (8631 for VGGFace2, 10575 for CASIA-WebFace) so they load with ``strict=True``;
    the layer is not used for embeddings.
    """
    from facenet_pytorch import InceptionResnetV1

    return InceptionResnetV1(pretrained=None, classify=False, num_classes=num_classes)

"""MobileFaceNet (the face embedder's architecture) with a linear classification head.

The backbone is :class:`facerec.models.embedders.mobilefacenet.MobileFaceNet`; built here untrained, so that the
face network can be trained from scratch like any other zoo member and compared with the pretrained one.
"""

from __future__ import annotations

from torch import Tensor, nn

from facerec.models.embedders.mobilefacenet import MobileFaceNet
from facerec.zoo.torchvision_archs import set_in_channels

__all__ = ["FaceClassifier", "mobilefacenet_classifier"]


class FaceClassifier(nn.Module):
    """112x112 face -> 128-d embedding (``backbone``) -> dropout -> linear ``fc`` over the classes."""

    def __init__(self, num_classes: int, embedding_size: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbone = MobileFaceNet(embedding_size=embedding_size)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(embedding_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.dropout(self.backbone(x)))


def mobilefacenet_classifier(*, num_classes: int = 1000, in_channels: int = 3,
                             dropout: float = 0.0) -> FaceClassifier:
    """Build an untrained MobileFaceNet classifier for 112x112 inputs."""
    model = FaceClassifier(num_classes, dropout=dropout)
    set_in_channels(model, "backbone.conv1.0", in_channels)
    return model

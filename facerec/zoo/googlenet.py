"""GoogLeNet / Inception v1 (Szegedy et al. 2014) with its two auxiliary classifiers, and its loss.

In training mode the network returns the main logits and both auxiliary logits; the total loss is the
main cross-entropy plus 0.3 times each auxiliary one (the paper's "discount weight"). In evaluation
mode only the main logits come out and the auxiliary heads are not run.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models
from torchvision.models.googlenet import GoogLeNetOutputs

from facerec.zoo.torchvision_archs import set_in_channels

__all__ = ["AUX_WEIGHT", "GoogLeNetOutputs", "classification_loss", "googlenet", "googlenet_loss", "main_logits"]

AUX_WEIGHT = 0.3


def googlenet(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2) -> nn.Module:
    """torchvision's GoogLeNet with ``aux_logits=True`` (13.0 M parameters, 6.6 M without the aux heads)."""
    model = models.googlenet(num_classes=num_classes, aux_logits=True, init_weights=True, dropout=dropout)
    return set_in_channels(model, "conv1.conv", in_channels)


def googlenet_loss(outputs: GoogLeNetOutputs, targets: Tensor, aux_weight: float = AUX_WEIGHT) -> Tensor:
    """Cross-entropy of the main head plus ``aux_weight`` times that of each auxiliary head."""
    loss = F.cross_entropy(outputs.logits, targets)
    for aux in (outputs.aux_logits1, outputs.aux_logits2):
        if aux is not None:
            loss = loss + aux_weight * F.cross_entropy(aux, targets)
    return loss


def classification_loss(outputs: Tensor | GoogLeNetOutputs, targets: Tensor) -> Tensor:
    """Cross-entropy for any zoo network: the weighted total loss when auxiliary logits come out."""
    if isinstance(outputs, GoogLeNetOutputs):
        return googlenet_loss(outputs, targets)
    return F.cross_entropy(outputs, targets)


def main_logits(outputs: Tensor | GoogLeNetOutputs) -> Tensor:
    """The main head's logits, whatever the network returned."""
    return outputs.logits if isinstance(outputs, GoogLeNetOutputs) else outputs

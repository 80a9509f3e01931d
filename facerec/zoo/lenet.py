"""LeNet-5 (LeCun et al. 1998) as taught: two 5x5 convolutions, two 2x2 pools, three dense layers.

On a 32x32x3 input the layers have the textbook shapes and parameter counts: CONV1 (28,28,6) 456,
POOL1 (14,14,6), CONV2 (10,10,16) 2,416, POOL2 (5,5,16), FC3 120 with 48,120, FC4 84 with 10,164 and
the softmax layer ``fc5`` 10 with 850 (the softmax itself lives in the loss).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

__all__ = ["LeNet5", "lenet5", "lenet5_relu"]


class LeNet5(nn.Module):
    """LeNet-5 for ``in_channels`` x 32 x 32 inputs.

    ``activation="tanh", pool="avg"`` is the 1998 network (without its sparse C3 connection table);
    ``"relu", "max"`` is the common modern variant. Same shapes and parameter counts either way.
    """

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, *, activation: Literal["tanh", "relu"] = "tanh",
        pool: Literal["avg", "max"] = "avg", dropout: float = 0.0,
    ) -> None:
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        pooling = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}[pool]
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.act1 = act()
        self.pool1 = pooling(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.act2 = act()
        self.pool2 = pooling(2)
        self.flatten = nn.Flatten()
        self.fc3 = nn.Linear(16 * 5 * 5, 120)
        self.act3 = act()
        self.drop3 = nn.Dropout(dropout)
        self.fc4 = nn.Linear(120, 84)
        self.act4 = act()
        self.drop4 = nn.Dropout(dropout)
        self.fc5 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.flatten(self.pool2(self.act2(self.conv2(x))))
        x = self.drop3(self.act3(self.fc3(x)))
        x = self.drop4(self.act4(self.fc4(x)))
        return self.fc5(x)


def lenet5(*, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.0) -> LeNet5:
    """The classic LeNet-5: tanh activations, average pooling."""
    return LeNet5(num_classes, in_channels, activation="tanh", pool="avg", dropout=dropout)


def lenet5_relu(*, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.0) -> LeNet5:
    """LeNet-5 with ReLU and max pooling, the usual modern variant."""
    return LeNet5(num_classes, in_channels, activation="relu", pool="max", dropout=dropout)

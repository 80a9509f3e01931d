"""The small Keras-style exercise net (the Keras "simple MNIST convnet").

Conv 32 3x3 -> MaxPool 2 -> Conv 64 3x3 -> MaxPool 2 -> Flatten -> Dropout -> Dense. On 28x28x1 the
convolutions have 320 and 18,496 parameters and the whole net 34,826.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ExerciseNet", "exercise_net"]


class ExerciseNet(nn.Module):
    """Two ReLU convolutions with max pooling and one dense softmax layer, for 28x28 inputs."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, *, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(64 * 5 * 5, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.dropout(self.flatten(x)))


def exercise_net(*, num_classes: int = 10, in_channels: int = 1, dropout: float = 0.5) -> ExerciseNet:
    """Build the exercise net (dropout 0.5 before the dense layer, as in the Keras example)."""
    return ExerciseNet(num_classes, in_channels, dropout=dropout)

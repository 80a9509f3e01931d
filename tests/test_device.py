"""Choosing the torch device from a --device value."""

from __future__ import annotations

import pytest
import torch

from facerec.device import resolve_device
from facerec.errors import FaceRecError


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(FaceRecError, match="sees no GPU"):
        resolve_device("cuda")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(FaceRecError, match="use auto, cpu or cuda"):
        resolve_device("tpu")

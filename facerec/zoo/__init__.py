"""The classic CNN zoo: LeNet-5 to MobileNet, summarised, trained and transferred from one place.

>>> from facerec.zoo import get_arch, summarize
>>> table = summarize(get_arch("lenet5", in_channels=3), (32, 32, 3))
>>> [row.params for row in table.rows if row.params]
[456, 2416, 48120, 10164, 850]
"""

from __future__ import annotations

from facerec.zoo.registry import ArchSpec, get_arch, get_spec, list_archs
from facerec.zoo.summary import Summary, conv_output_size, summarize, transpose_output_size

__all__ = ["ArchSpec", "Summary", "conv_output_size", "get_arch", "get_spec", "list_archs", "summarize",
           "transpose_output_size"]

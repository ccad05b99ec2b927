"""TensorProtos from event files as numpy arrays, once their declared size is backed by their bytes.

A TensorProto declares its shape separately from its values, and TensorBoard's ``make_ndarray``
fills a shape given with a single value: a 73-byte record declaring [2**23, 3] becomes a 200 MB
array. Event files are data from anywhere, so a tensor is checked before it is materialised: its
values must be all there (or one value for a small fill) and it must hold at most
``MAX_ELEMENTS`` values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tensorboard.util import tensor_util

MAX_ELEMENTS = 1 << 20  # values in one summary tensor (a 350k-bucket histogram; real ones have ~30)
MAX_FILL_ELEMENTS = 1 << 12  # values one repeated value may be filled out to (zeros of a histogram)

# dtype enum -> (the repeated field holding its values, numbers per value, bytes per value in
# tensor_content; 0 for strings, which never use tensor_content)
_LAYOUT: dict[int, tuple[str, int, int]] = {
    1: ("float_val", 1, 4),
    2: ("double_val", 1, 8),
    3: ("int_val", 1, 4),
    4: ("int_val", 1, 1),
    5: ("int_val", 1, 2),
    6: ("int_val", 1, 1),
    7: ("string_val", 1, 0),
    8: ("scomplex_val", 2, 8),
    9: ("int64_val", 1, 8),
    10: ("bool_val", 1, 1),
    17: ("int_val", 1, 2),
    18: ("dcomplex_val", 2, 16),
    19: ("half_val", 1, 2),
}


class DamagedTensor(ValueError):
    """A tensor whose declared shape its values do not back, or that is too large to read."""


def to_ndarray(tensor: Any) -> np.ndarray:
    """``tensor`` as an array, or ``DamagedTensor`` saying why it is not read."""
    layout = _LAYOUT.get(tensor.dtype)
    if layout is None:
        raise DamagedTensor(f"tensor of unsupported dtype {tensor.dtype}")
    field, per_value, itemsize = layout
    dims = [d.size for d in tensor.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise DamagedTensor(f"tensor shape {dims} has an unknown or negative size")
    count = math.prod(dims)  # a Python int: no overflow, unlike make_ndarray's int64 product
    if count > MAX_ELEMENTS:
        raise DamagedTensor(f"tensor declares {count:,} values; at most {MAX_ELEMENTS:,} are read")
    if tensor.tensor_content and itemsize:
        held = len(tensor.tensor_content) / itemsize
    else:
        held = len(getattr(tensor, field)) / per_value
    if held != count and not (held == 1 and count <= MAX_FILL_ELEMENTS):
        raise DamagedTensor(f"tensor declares {count:,} values but holds {held:g}")
    try:
        return tensor_util.make_ndarray(tensor)
    except (TypeError, ValueError) as exc:
        raise DamagedTensor(f"tensor cannot be read ({exc})") from None

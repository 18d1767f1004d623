"""The frame stamp: capture time written into the picture (docs/protocol.md section 4).

The top 16 rows hold 48 cells of 16x16 pixels; cell i is white when bit i (least significant
first) of the capture time in integer milliseconds since the Unix epoch is 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CELL = 16
BITS = 48
STAMP_WIDTH = CELL * BITS
WHITE = 255
BLACK = 0


def paint(luma: npt.NDArray[np.uint8], capture_ms: int) -> None:
    """Write `capture_ms` into the top rows of an 8-bit luma (or grey) plane, in place."""
    if luma.shape[1] < STAMP_WIDTH or luma.shape[0] < CELL:
        raise ValueError(f"a stamped frame needs at least {STAMP_WIDTH}x{CELL} pixels")
    if not 0 <= capture_ms < 1 << BITS:
        raise ValueError(f"capture time {capture_ms} does not fit in {BITS} bits")
    bits = (capture_ms >> np.arange(BITS, dtype=np.uint64)) & 1
    row = np.repeat(np.where(bits == 1, WHITE, BLACK).astype(np.uint8), CELL)
    luma[:CELL, :STAMP_WIDTH] = row


def read(luma: npt.NDArray[np.uint8]) -> int:
    """Read the capture time back from a luma plane, sampling the middle 8x8 of each cell."""
    middle = luma[4:12, :STAMP_WIDTH].astype(np.float32).reshape(8, BITS, CELL)[:, :, 4:12]
    bits = middle.mean(axis=(0, 2)) >= 128
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))

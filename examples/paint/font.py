"""A 3x5 pixel font (capitals, digits, a little punctuation), for drawing text with numpy only.

Accented Latin letters are drawn as their base letter (`é` as `E`); any other character as a box,
so that every typed character shows.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import numpy.typing as npt

# fmt: off
_GLYPHS = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
    "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111", "0": "111101101101111", "1": "010110010010111",
    "2": "110001010100111", "3": "110001010001110", "4": "101101111001001", "5": "111100110001110",
    "6": "011100111101111", "7": "111001010010010", "8": "111101111101111", "9": "111101111001110",
    " ": "000000000000000", ".": "000000000000010", "!": "010010010000010", "?": "110001010000010",
    "-": "000000111000000", ":": "000010000010000", ",": "000000000010100", "'": "010010000000000",
}
# fmt: on
_UNKNOWN = "111101101101111"

GLYPH_W, GLYPH_H = 3, 5


def glyph(char: str) -> npt.NDArray[np.bool_]:
    """The 5x3 mask of `char` (lower case drawn as capitals, accents dropped; unknown characters as a box)."""
    base = unicodedata.normalize("NFKD", char)[:1].upper() or char
    bits = _GLYPHS.get(base, _UNKNOWN)
    return np.array([bit == "1" for bit in bits], dtype=bool).reshape(GLYPH_H, GLYPH_W)


def draw_text(
    image: npt.NDArray[np.uint8], text: str, x: int, y: int, scale: int, colour: tuple[int, int, int]
) -> None:
    """Draw `text` into an RGB image with its top left at (x, y); what does not fit is cut off."""
    step = (GLYPH_W + 1) * scale
    height, width = image.shape[:2]
    for i, char in enumerate(text):
        left = x + i * step
        if left + GLYPH_W * scale > width or y + GLYPH_H * scale > height:
            return
        mask = np.kron(glyph(char), np.ones((scale, scale), dtype=bool))
        image[y : y + GLYPH_H * scale, left : left + GLYPH_W * scale][mask] = colour

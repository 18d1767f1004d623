"""Turning what an app hands us (numpy arrays or PyAV frames) into video frames the encoder takes."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

# Pixel layouts accepted for numpy frames, with their channel count.
PIXEL_FORMATS = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4}

VideoInput = npt.NDArray[np.uint8] | av.VideoFrame


def to_video_frame(image: VideoInput, pixel_format: str = "rgb24") -> av.VideoFrame:
    """A copy of `image` as an `av.VideoFrame`, after checking it can be encoded.

    numpy input is HxWxC `uint8` in `pixel_format` (`rgb24`, `bgr24`, `rgba` or `bgra`); PyAV
    frames are taken as they are. Both need an even width and height (4:2:0 chroma subsampling).
    Raises `ValueError` with the reason otherwise.
    """
    if isinstance(image, av.VideoFrame):
        _check_size(image.width, image.height)
        return image
    if not isinstance(image, np.ndarray):
        raise TypeError(f"a video frame must be a numpy array or av.VideoFrame, not {type(image).__name__}")
    channels = PIXEL_FORMATS.get(pixel_format)
    if channels is None:
        raise ValueError(f"pixel format {pixel_format!r} is not one of {', '.join(PIXEL_FORMATS)}")
    if image.dtype != np.uint8:
        raise ValueError(f"a video frame must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != channels:
        raise ValueError(f"a {pixel_format} frame must be HxWx{channels}, got shape {image.shape}")
    height, width = image.shape[:2]
    _check_size(width, height)
    # from_ndarray copies, so the app may reuse its buffer as soon as push() returns.
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=pixel_format)


def _check_size(width: int, height: int) -> None:
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"frame size {width}x{height} must be even in both dimensions (4:2:0 video)")
    if width > 7680 or height > 4320:
        raise ValueError(f"frame size {width}x{height} is larger than 7680x4320")

"""Turning what an app hands us (numpy arrays, PyAV frames, read-back pixel buffers) into video frames."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt

# Pixel layouts accepted for numpy frames, with their channel count.
PIXEL_FORMATS = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4}

VideoInput = npt.NDArray[np.uint8] | av.VideoFrame
PixelBuffer = bytes | bytearray | memoryview | npt.NDArray[np.uint8]
"""Packed pixels as a GPU read-back gives them: `width * height * channels` bytes, rows without padding."""


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


def frame_from_buffer(
    data: PixelBuffer, width: int, height: int, pixel_format: str = "rgba", *, bottom_up: bool = False
) -> av.VideoFrame:
    """An `av.VideoFrame` over packed pixels read back from a renderer (`glReadPixels`, `fbo.read()`).

    `pixel_format` is `rgba` (default), `bgra`, `rgb24` or `bgr24` (`width * height * channels`
    bytes, rows unpadded), or `yuv420p`: a packed I420 frame (`width * height * 3/2` bytes: the Y
    plane, then U, then V), for a renderer that converts on the GPU; the encoder then has nothing
    left to convert.

    Top-down rows (the default) are wrapped without copying: the frame shares `data`, so the app
    must not write into that buffer again until the frame has been encoded; give each frame a fresh
    buffer, or read back into one (`fbo.read_into`) the encoder is done with. `bottom_up=True` is
    OpenGL's own row order (origin bottom left, RGB formats only): the rows are flipped in one copy
    into a new frame, and `data` may be reused at once. Flipping the projection instead (render
    upside down, read top-down) saves that copy. Raises `ValueError` with the reason for a size,
    format or length that does not fit.
    """
    channels = PIXEL_FORMATS.get(pixel_format)
    if channels is None and pixel_format != "yuv420p":
        raise ValueError(f"pixel format {pixel_format!r} is not one of {', '.join(PIXEL_FORMATS)}, yuv420p")
    _check_size(width, height)
    if isinstance(data, np.ndarray) and not data.flags.c_contiguous:
        raise ValueError("a pixel buffer must be contiguous (packed rows); pass np.ascontiguousarray(...) of it")
    pixels = np.frombuffer(data, np.uint8)  # a view: no copy, whatever the buffer type
    shape: tuple[int, ...]
    if channels is None:
        if bottom_up:
            raise ValueError("bottom_up applies to RGB formats; write yuv420p planes top-down")
        expected, shape = width * height * 3 // 2, (height * 3 // 2, width)
        layout = f"{width}*{height}*3/2, Y then U then V"
    else:
        expected, shape = width * height * channels, (height, width, channels)
        layout = f"{width}*{height}*{channels}, rows unpadded"
    if pixels.size != expected:
        raise ValueError(
            f"a {width}x{height} {pixel_format} buffer must hold {expected} bytes ({layout}), got {pixels.size}"
        )
    image = pixels.reshape(shape)
    if not bottom_up:
        return av.VideoFrame.from_numpy_buffer(image, format=pixel_format)
    assert channels is not None
    frame = av.VideoFrame(width, height, pixel_format)
    plane = frame.planes[0]
    # The frame's rows may be padded (line_size >= width * channels); copy into the visible part.
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(height, plane.line_size)[:, : width * channels]
    np.copyto(rows.reshape(height, width, channels), image[::-1])
    return frame

"""The 3D scene, drawn with moderngl into an offscreen framebuffer and read back for the encoder.

A checker-textured ground plane and five lit cubes under a directional light, against a sky
colour. The picture is read back either as RGBA (`read_into`), which the encoder converts to
yuv420p on the CPU, or converted to yuv420p by a shader pass first (`read_yuv420p_into`), which
reads back 1.5 bytes a pixel instead of 4 and leaves the CPU only the encoding. `Scene` owns an
OpenGL context, and an OpenGL context belongs to the thread that made it:
make the scene, draw with it and close it from one thread (`orbit.py` keeps a thread for that).
"""

from __future__ import annotations

import moderngl
import numpy as np
import numpy.typing as npt

from examples.orbit.camera import Matrix

Image = npt.NDArray[np.uint8]

SKY = (0.53, 0.70, 0.92)
# (x, z, edge length, colour) of each cube standing on the ground.
CUBES = (
    (0.0, 0.0, 2.0, (0.90, 0.25, 0.20)),
    (4.0, -2.0, 1.2, (0.20, 0.70, 0.30)),
    (-3.5, 2.5, 1.5, (0.25, 0.40, 0.90)),
    (-4.0, -4.0, 1.0, (0.95, 0.80, 0.20)),
    (3.0, 4.0, 1.8, (0.80, 0.35, 0.85)),
)
GROUND_HALF = 12.0
# Debian's packages for EGL without a GPU driver: libglvnd's dispatcher, Mesa's EGL, llvmpipe.
EGL_PACKAGES = ("libegl1", "libegl-mesa0", "libgl1-mesa-dri")
LIGHT = (0.4, 1.0, 0.6)  # towards the light

_VERTEX = """
#version 330
uniform mat4 view_projection;
uniform vec4 placement;  // x, y, z of the centre, edge length
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
out vec3 v_normal;
out vec2 v_uv;
void main() {
    gl_Position = view_projection * vec4(placement.xyz + in_position * placement.w, 1.0);
    v_normal = in_normal;
    v_uv = in_uv;
}
"""
_FRAGMENT = """
#version 330
uniform vec3 colour;
uniform float textured;
uniform vec3 light;
uniform sampler2D checker;
in vec3 v_normal;
in vec2 v_uv;
out vec4 f_colour;
void main() {
    vec3 base = colour * mix(vec3(1.0), texture(checker, v_uv).rgb, textured);
    float diffuse = max(dot(normalize(v_normal), normalize(light)), 0.0);
    f_colour = vec4(base * (0.3 + 0.7 * diffuse), 1.0);
}
"""


# yuv420p from the picture, one output byte per fragment, in the memory order of a packed I420
# frame: rows 0..h-1 the Y plane; then h/4 rows of U and h/4 of V, each holding two chroma rows of
# w/2 samples side by side. Chroma is the mean of its 2x2 pixels. BT.601 limited range, what
# swscale produces from RGB by default (and what the browser assumes for our H.264).
_FULL_PICTURE = """
#version 330
void main() {
    vec2 corner = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1));
    gl_Position = vec4(corner, 0.0, 1.0);  // one triangle covering the whole target
}
"""
_TO_YUV420P = """
#version 330
uniform sampler2D picture;
uniform ivec2 size;
out float f_value;
vec3 rgb(ivec2 at) { return texelFetch(picture, at, 0).rgb; }
void main() {
    ivec2 at = ivec2(gl_FragCoord.xy);
    if (at.y < size.y) {
        f_value = (16.0 + dot(rgb(at), vec3(65.481, 128.553, 24.966))) / 255.0;
        return;
    }
    int row = at.y - size.y;
    bool v_plane = row >= size.y / 4;
    row -= v_plane ? size.y / 4 : 0;
    int half_width = size.x / 2;
    bool second = at.x >= half_width;
    ivec2 pixel = 2 * ivec2(at.x - (second ? half_width : 0), 2 * row + (second ? 1 : 0));
    vec3 c = 0.25 * (rgb(pixel) + rgb(pixel + ivec2(1, 0)) + rgb(pixel + ivec2(0, 1)) + rgb(pixel + ivec2(1, 1)));
    vec3 weights = v_plane ? vec3(112.0, -93.786, -18.214) : vec3(-37.797, -74.203, 112.0);
    f_value = (128.0 + dot(c, weights)) / 255.0;
}
"""


def create_context() -> moderngl.Context:
    """A headless OpenGL 3.3+ context over EGL: Mesa's llvmpipe without a GPU, the GPU's driver with one.

    Raises `RuntimeError` naming what to install when EGL cannot give one.
    """
    try:
        # moderngl's stub types its **settings as dicts; backend is a string in its documentation.
        return moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
    except Exception as exc:  # glcontext raises bare Exceptions for a missing library or display
        raise RuntimeError(
            f"no headless OpenGL context over EGL ({exc}); install {', '.join(EGL_PACKAGES)} (Mesa's software"
            " renderer), or run with a GPU driver that provides EGL"
        ) from exc


class _Targets:
    """What is drawn into, at one size: the picture (a texture, so the conversion can read it),
    its depth buffer, and the yuv420p target (h * 3/2 rows of w bytes)."""

    def __init__(self, context: moderngl.Context, width: int, height: int) -> None:
        self.picture = context.texture((width, height), 4)
        self.depth = context.depth_renderbuffer((width, height))
        self.framebuffer = context.framebuffer([self.picture], self.depth)
        self.yuv = context.texture((width, height * 3 // 2), 1)
        self.yuv_framebuffer = context.framebuffer([self.yuv])

    def release(self) -> None:
        for resource in (self.framebuffer, self.yuv_framebuffer, self.picture, self.depth, self.yuv):
            resource.release()


class Scene:
    """The scene's GPU resources and the offscreen targets of the picture's size."""

    def __init__(self, context: moderngl.Context, width: int, height: int) -> None:
        self.context = context
        self.program = context.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.view_projection, self.placement, self.colour, self.textured, light, checker = (
            _uniform(self.program, name)
            for name in ("view_projection", "placement", "colour", "textured", "light", "checker")
        )
        light.value = LIGHT
        checker.value = 0  # texture unit 0
        self.cube = context.vertex_array(
            self.program, [(context.buffer(_cube_vertices()), "3f 3f 2f", "in_position", "in_normal", "in_uv")]
        )
        self.ground = context.vertex_array(
            self.program, [(context.buffer(_ground_vertices()), "3f 3f 2f", "in_position", "in_normal", "in_uv")]
        )
        self.checker = context.texture((64, 64), 3, _checker_texels())
        self.checker.build_mipmaps()
        self.checker.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self.converter = context.program(vertex_shader=_FULL_PICTURE, fragment_shader=_TO_YUV420P)
        self.converter_size = _uniform(self.converter, "size")
        _uniform(self.converter, "picture").value = 1  # texture unit 1
        self.full_picture = context.vertex_array(self.converter, [])
        self.width = self.height = 0
        self.targets: _Targets | None = None
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        """Draw at `width` x `height` from now on (a no-op for the current size). Both must be
        even; the yuv420p read-back also needs a height divisible by 4."""
        if (width, height) == (self.width, self.height):
            return
        if self.targets is not None:
            self.targets.release()
        self.targets = _Targets(self.context, width, height)
        self.width, self.height = width, height

    @property
    def framebuffer(self) -> moderngl.Framebuffer:
        """The framebuffer the picture is drawn into (RGBA, with depth)."""
        assert self.targets is not None
        return self.targets.framebuffer

    def draw(self, view_projection: Matrix) -> None:
        """Draw the scene seen through `view_projection` (row-major) into the framebuffer."""
        self.framebuffer.use()
        self.context.enable(moderngl.DEPTH_TEST)
        self.context.clear(*SKY, 1.0, depth=1.0)
        # GLSL reads matrices column by column: a row-major matrix's bytes transposed.
        self.view_projection.write(np.ascontiguousarray(view_projection.T).tobytes())
        self.checker.use(0)
        self.textured.value = 1.0
        self.colour.value = (1.0, 1.0, 1.0)
        self.placement.value = (0.0, 0.0, 0.0, 1.0)
        self.ground.render(moderngl.TRIANGLES)
        self.textured.value = 0.0
        for x, z, edge, colour in CUBES:
            self.colour.value = colour
            self.placement.value = (x, edge / 2, z, edge)
            self.cube.render(moderngl.TRIANGLES)

    def read_into(self, pixels: Image) -> None:
        """Copy the picture's RGBA pixels into `pixels` (height x width x 4 `uint8`), rows as stored."""
        self.framebuffer.read_into(pixels, components=4, alignment=1)

    def convert_to_yuv420p(self) -> None:
        """Convert the drawn picture to yuv420p on the GPU (into the yuv target), rows as stored."""
        assert self.targets is not None
        if self.height % 4:
            raise ValueError(f"the yuv420p read-back needs a height divisible by 4, not {self.height}")
        self.targets.yuv_framebuffer.use()
        self.context.disable(moderngl.DEPTH_TEST)
        self.targets.picture.use(1)
        self.converter_size.value = (self.width, self.height)
        self.full_picture.render(moderngl.TRIANGLES, vertices=3)

    def read_yuv420p_into(self, planes: Image) -> None:
        """Copy the converted picture into `planes`: height * 3/2 x width `uint8`, a packed I420
        frame (Y, then U, then V). Call `convert_to_yuv420p` after drawing, first."""
        assert self.targets is not None
        self.targets.yuv_framebuffer.read_into(planes, components=1, alignment=1)

    def release(self) -> None:
        """Free the GPU resources (the context stays with its owner)."""
        for resource in (self.cube, self.ground, self.checker, self.program, self.full_picture, self.converter):
            resource.release()
        if self.targets is not None:
            self.targets.release()


def _uniform(program: moderngl.Program, name: str) -> moderngl.Uniform:
    member = program[name]
    if not isinstance(member, moderngl.Uniform):
        raise TypeError(f"the scene's shader has no uniform {name!r}")
    return member


def _cube_vertices() -> bytes:
    """36 vertices (12 triangles) of a unit cube centred on the origin: position, normal, uv."""
    rows = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            normal = np.zeros(3)
            normal[axis] = sign
            u_axis, v_axis = np.roll(np.eye(3), 1, axis=0)[axis], np.roll(np.eye(3), 2, axis=0)[axis]
            corners = [normal / 2 + (a * u_axis + b * v_axis) / 2 for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            for index in (0, 1, 2, 0, 2, 3):
                a, b = ((0, 0), (1, 0), (1, 1), (0, 1))[index]
                rows.append([*corners[index], *normal, a, b])
    return np.array(rows, np.float32).tobytes()


def _ground_vertices() -> bytes:
    """Two triangles of the ground (y = 0), the checker repeated 6 times across."""
    h, repeat = GROUND_HALF, 6.0
    corners = [(-h, -h, 0, 0), (h, -h, repeat, 0), (h, h, repeat, repeat), (-h, h, 0, repeat)]
    rows = [[x, 0.0, z, 0.0, 1.0, 0.0, u, v] for x, z, u, v in (corners[i] for i in (0, 1, 2, 0, 2, 3))]
    return np.array(rows, np.float32).tobytes()


def _checker_texels() -> bytes:
    """A 64x64 RGB checker of 8x8 squares, light and dark grey-green."""
    squares = (np.indices((64, 64)) // 8).sum(axis=0) % 2
    light, dark = np.array([200, 210, 190], np.uint8), np.array([90, 110, 80], np.uint8)
    return np.where(squares[..., None] == 1, light, dark).astype(np.uint8).tobytes()

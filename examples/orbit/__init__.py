"""Orbit: a 3D scene rendered headless with moderngl over EGL. Run `stream-app --app examples.orbit:make_app`."""

from examples.orbit.orbit import OrbitRenderer, OrbitStreamApp, make_app

__all__ = ["OrbitRenderer", "OrbitStreamApp", "make_app"]

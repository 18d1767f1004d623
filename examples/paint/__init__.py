"""Paint: an interactive example app. Run it with `stream-app --app examples.paint:make_app`."""

from examples.paint.paint import PaintApp, PaintStreamApp, make_app

__all__ = ["PaintApp", "PaintStreamApp", "make_app"]

"""What happens to each datagram on an impaired leg: pure, seeded and deterministic.

An `Impairment` describes one direction of a link (fixed delay, uniform jitter, random loss,
Gilbert-Elliott burst loss, reordering); an `Impairer` applies it datagram by datagram and answers
"drop" (None) or "deliver at time t". The relay (`relay.py`) is the thin I/O shell around it. A
`Timeline` says how a link changes over a scenario: rate caps (applied with `tc`, `namespace.py`)
and impairments (applied by the relay), each step from a time on.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


class ImpairmentError(ValueError):
    """An impairment or timeline that cannot be used; the message names the field."""


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ImpairmentError(f"{name} {value} is not a probability (0-1)")


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ImpairmentError(f"{name} {value} must not be negative")


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state burst loss: ``p`` good->bad and ``r`` bad->good per datagram, loss ``loss_bad`` in the
    bad state and ``loss_good`` in the good one. Mean loss = loss_bad * p / (p + r) (with loss_good 0);
    mean burst length about 1 / r datagrams."""

    p: float
    r: float
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_bad", "loss_good"):
            _probability(f"gilbert-elliott {name}", getattr(self, name))
        if self.r == 0 and self.p > 0:
            raise ImpairmentError("gilbert-elliott r 0 would never leave the bad state")

    @property
    def mean_loss(self) -> float:
        """The long-run share of datagrams lost."""
        if self.p + self.r == 0:
            return self.loss_good
        bad = self.p / (self.p + self.r)
        return bad * self.loss_bad + (1 - bad) * self.loss_good


@dataclass(frozen=True)
class Impairment:
    """One direction of a leg. Delays in milliseconds, probabilities 0-1.

    Jitter is uniform in ±``jitter_ms`` around ``delay_ms``; datagrams keep their order (one that
    would overtake the one before waits for it) unless ``reorder`` is set, which holds a share of
    datagrams back by an extra ``reorder_ms`` so that later ones pass them.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    burst: GilbertElliott | None = None
    reorder: float = 0.0
    reorder_ms: float = 10.0

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms", "reorder_ms"):
            _non_negative(name, getattr(self, name))
        _probability("loss", self.loss)
        _probability("reorder", self.reorder)
        if self.jitter_ms > self.delay_ms:
            raise ImpairmentError(
                f"jitter_ms {self.jitter_ms} exceeds delay_ms {self.delay_ms}: delays would be negative"
            )

    @property
    def is_none(self) -> bool:
        """Whether every datagram goes straight through."""
        return self == Impairment()

    def to_json(self) -> dict[str, Any]:
        """The JSON object `from_json` reads (the relay's control lines carry these)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Impairment:
        """An impairment from a JSON object with any of the fields; unknown fields are refused."""
        if not isinstance(data, dict):
            raise ImpairmentError("an impairment must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ImpairmentError(f"unknown impairment field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        burst = values.pop("burst", None)
        try:
            numbers = {k: float(v) for k, v in values.items()}
            ge = None
            if burst is not None:
                if not isinstance(burst, dict):
                    raise ImpairmentError("burst must be a JSON object with p, r, loss_bad, loss_good")
                ge = GilbertElliott(**{k: float(v) for k, v in burst.items()})
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ImpairmentError):
                raise
            raise ImpairmentError(f"impairment fields must be numbers: {exc}") from None
        defaults = cls()
        return cls(
            delay_ms=numbers.get("delay_ms", defaults.delay_ms),
            jitter_ms=numbers.get("jitter_ms", defaults.jitter_ms),
            loss=numbers.get("loss", defaults.loss),
            burst=ge,
            reorder=numbers.get("reorder", defaults.reorder),
            reorder_ms=numbers.get("reorder_ms", defaults.reorder_ms),
        )


class Impairer:
    """Applies an `Impairment` to a sequence of datagrams; the same seed gives the same decisions.

    `decide(now)` for a datagram arriving at `now` (seconds) returns when to deliver it, or None to
    drop it. The impairment can be swapped while running (`set`); the burst-loss state and the
    ordering carry over.
    """

    def __init__(self, impairment: Impairment, seed: int = 0) -> None:
        self._impairment = impairment
        self._random = random.Random(seed)
        self._bad = False
        self._last_delivery = float("-inf")

    @property
    def impairment(self) -> Impairment:
        """What is applied now."""
        return self._impairment

    def set(self, impairment: Impairment) -> None:
        """Apply `impairment` to datagrams from now on."""
        self._impairment = impairment
        if impairment.burst is None:
            self._bad = False

    def decide(self, now: float) -> float | None:
        """Delivery time (seconds, same clock as `now`) or None for a dropped datagram."""
        imp = self._impairment
        if imp.is_none:
            # Still behind any datagram in flight from before a change: a path does not reorder.
            self._last_delivery = max(self._last_delivery, now)
            return self._last_delivery
        rng = self._random
        if imp.burst is not None:
            ge = imp.burst
            self._bad = (rng.random() >= ge.r) if self._bad else (rng.random() < ge.p)
            if rng.random() < (ge.loss_bad if self._bad else ge.loss_good):
                return None
        if imp.loss and rng.random() < imp.loss:
            return None
        delay = imp.delay_ms
        if imp.jitter_ms:
            delay += rng.uniform(-imp.jitter_ms, imp.jitter_ms)
        at = now + delay / 1000
        if imp.reorder and rng.random() < imp.reorder:
            # Held back without moving the ordering mark, so the datagrams after it may pass it.
            return at + imp.reorder_ms / 1000
        at = max(at, self._last_delivery)
        self._last_delivery = at
        return at


@dataclass(frozen=True)
class LinkState:
    """The whole lab link at one moment: the access link's rate cap (bit/s, None: uncapped) and the
    impairment of each direction of the browser's leg (``down``: towards the browser)."""

    rate_bps: int | None = None
    up: Impairment = field(default_factory=Impairment)
    down: Impairment = field(default_factory=Impairment)

    def __post_init__(self) -> None:
        if self.rate_bps is not None and self.rate_bps < 8_000:
            raise ImpairmentError(f"rate_bps {self.rate_bps} is below 8 kbit/s")


@dataclass(frozen=True)
class Step:
    """From `at_s` seconds into the measured part of a session on, the link is `state`."""

    at_s: float
    state: LinkState


@dataclass(frozen=True)
class Timeline:
    """A scenario's link over time: steps in time order; the first (at 0) also holds during warm-up."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0].at_s != 0:
            raise ImpairmentError("a timeline starts with a step at 0 s")
        times = [s.at_s for s in self.steps]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ImpairmentError("timeline steps must be in strictly increasing time order")

    @classmethod
    def constant(cls, state: LinkState) -> Timeline:
        """The same link all along."""
        return cls((Step(0.0, state),))

    def at(self, t: float) -> LinkState:
        """The link at `t` seconds (before 0: the first step's)."""
        current = self.steps[0].state
        for step in self.steps:
            if step.at_s <= t:
                current = step.state
        return current

    def changes(self, until_s: float) -> list[Step]:
        """The steps after the first that fall before `until_s`, in order."""
        return [s for s in self.steps[1:] if s.at_s < until_s]

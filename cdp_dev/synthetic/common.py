"""Small shared pieces: the batch calendar, seeded random streams, unique identifiers."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np


@dataclass(frozen=True)
class Calendar:
    """Maps day indexes to dates: day 0 is the first batch date, ``days - 1`` the last.

    Negative indexes are days before the period (when older records were created).
    """

    start: date
    days: int

    @classmethod
    def ending(cls, end: date, days: int) -> Calendar:
        """The ``days`` batch dates that end with ``end`` (inclusive)."""
        return cls(end - timedelta(days=days - 1), days)

    def date(self, day: int) -> date:
        """The calendar date of a day index."""
        return self.start + timedelta(days=day)

    def ts(self, day: int, second: int, zulu: bool = True) -> str:
        """ISO-8601 timestamp of a second within a day, e.g. ``2026-11-24T14:03:09Z``."""
        second = min(max(second, 0), 86399)
        hh, rest = divmod(second, 3600)
        mm, ss = divmod(rest, 60)
        suffix = "Z" if zulu else ""
        return f"{self.date(day).isoformat()}T{hh:02d}:{mm:02d}:{ss:02d}{suffix}"


class Streams:
    """Independent, reproducible random streams derived from one seed.

    Each component draws from its own stream, so adding a draw in one place does not shift
    every random choice downstream of it (which would make diffs between versions useless).
    """

    def __init__(self, seed: int):
        self.seed = seed

    def _entropy(self, name: str) -> list[int]:
        # Not hash(): string hashing is salted per process and would break reproducibility.
        return [self.seed, *name.encode("utf-8")]

    def py(self, name: str) -> random.Random:
        """A ``random.Random`` for the named component."""
        seq = np.random.SeedSequence(self._entropy(name))
        return random.Random(int(seq.generate_state(2, dtype=np.uint64)[0]))

    def np(self, name: str) -> np.random.Generator:
        """A numpy Generator for the named component."""
        return np.random.default_rng(np.random.SeedSequence(self._entropy(name)))

    def int(self, name: str) -> int:
        """A 31-bit integer seed for libraries that take one (Faker)."""
        seq = np.random.SeedSequence(self._entropy(name))
        return int(seq.generate_state(1, dtype=np.uint32)[0] >> 1)


class UniqueIds:
    """Draws random identifiers of a fixed shape that never repeat within a run."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.taken: set[str] = set()

    def digits(self, prefix: str, width: int) -> str:
        """``prefix`` followed by ``width`` random digits (no leading zero after the prefix)."""
        low, high = 10 ** (width - 1), 10**width - 1
        while True:
            value = f"{prefix}{self.rng.randint(low, high)}"
            if value not in self.taken:
                self.taken.add(value)
                return value

    def hex(self, prefix: str, width: int) -> str:
        """``prefix`` followed by ``width`` random lowercase hex digits."""
        while True:
            value = f"{prefix}{self.rng.getrandbits(4 * width):0{width}x}"
            if value not in self.taken:
                self.taken.add(value)
                return value


class Weighted:
    """Repeated weighted choice: cumulative weights once, one bisect per draw.

    ``random.choices`` rebuilds the cumulative weights on every call, which shows up in
    profiles when it runs once per receipt line or web session.
    """

    def __init__(self, items: Sequence, weights: Iterable[float]):
        self.items = tuple(items)
        self.cum = list(itertools.accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random):
        """One item, drawn with probability proportional to its weight."""
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def uuid4_text(rng: random.Random) -> str:
    """A random version-4 UUID string from ``rng`` (uuid.uuid4 would read os.urandom)."""
    v = rng.getrandbits(128)
    v = (v & ~(0xF000 << 64)) | (0x4000 << 64)  # version nibble
    v = (v & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant bits
    h = f"{v:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def lapse_days(streams: Streams, persons: int, days: int, share: float) -> np.ndarray:
    """Per person, the last day (0-based) they shop or browse: ``days`` for those who stay,
    a uniform day for the ``share`` who lapse. One stream, so stores and web agree."""
    rng = streams.np("lapse")
    lapses = rng.random(persons) < share
    day = rng.integers(0, max(days, 1), size=persons)
    return np.where(lapses, day, days)


def poisson_days(rng: random.Random, rate_per_year: float, days: int) -> list[int]:
    """Days (0-based, sorted) on which a Poisson process with the given yearly rate fires."""
    out: list[int] = []
    if rate_per_year <= 0 or days <= 0:
        return out
    lam = 365.0 / rate_per_year  # mean days between events
    t = rng.expovariate(1.0 / lam)
    while t < days:
        out.append(int(t))
        t += rng.expovariate(1.0 / lam)
    return out


def chance(rate_per_year: float, days: int) -> float:
    """Probability that a yearly-rate event happens at least once within ``days`` days."""
    return 1.0 - float(np.exp(-rate_per_year * days / 365.0))

"""Machinery shared by the two master-data systems (CRM and loyalty).

A master system holds one mutable record per key. Its extract on the first batch date is a
full dump of the records that exist by the end of that day; on later dates it is a delta of
the records created or changed that day, each in its end-of-day state.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from cdp_dev.synthetic.common import Calendar
from cdp_dev.synthetic.population import Person


@dataclass(eq=False)
class MasterRecord:
    """One row of a master system, as it stands now."""

    key: str
    person: Person
    created_day: int
    created_second: int
    fields: dict[str, str] = field(default_factory=dict)
    # Heavy noise profile only: an extra record of a person who already has one, and what
    # heavy_noise.py did to the record's values (``_truth/corruptions.csv``).
    is_duplicate: bool = False
    corruptions: list[str] = field(default_factory=list)

    def stamp(self, ts: str) -> None:
        """Move updated_at forward to ``ts`` (never backwards)."""
        if ts > self.fields.get("updated_at", ""):
            self.fields["updated_at"] = ts


Apply = Callable[[MasterRecord, str], None]


class MasterSystem:
    """Records plus the schedule of in-period changes; emits full and delta extracts."""

    columns: tuple[str, ...] = ()

    def __init__(self, calendar: Calendar):
        self.calendar = calendar
        self.records: list[MasterRecord] = []
        self._scheduled: dict[int, list[tuple[int, int, MasterRecord, Apply]]] = {}
        self._dirty: dict[int, dict[str, MasterRecord]] = {}
        self._seq = 0
        self._created_on: dict[int, list[MasterRecord]] | None = None

    def schedule(self, day: int, second: int, record: MasterRecord, apply: Apply) -> None:
        """Apply ``apply`` to ``record`` at that moment, if the moment is inside the period."""
        if not 0 <= day < self.calendar.days:
            return
        if day == record.created_day and second <= record.created_second:
            second = min(record.created_second + 60, 86399)
        if day < record.created_day:
            return
        self._seq += 1  # keeps same-second changes in the order they were planned
        self._scheduled.setdefault(day, []).append((second, self._seq, record, apply))

    def change_now(self, day: int, second: int, record: MasterRecord, apply: Apply) -> None:
        """Apply a change driven by another source (a purchase earns points) right away."""
        apply(record, self.calendar.ts(day, second))
        self._dirty.setdefault(day, {})[record.key] = record

    def rows_for_day(self, day: int) -> list[list[str]]:
        """The extract of ``day``: everything on day 0, created or changed records after."""
        dirty = self._dirty.setdefault(day, {})
        for second, _, record, apply in sorted(self._scheduled.pop(day, []), key=_by_time):
            apply(record, self.calendar.ts(day, second))
            dirty[record.key] = record
        if self._created_on is None:  # records are final once extracts start
            self._created_on = {}
            for r in self.records:
                self._created_on.setdefault(max(r.created_day, 0), []).append(r)
        created = self._created_on.get(day, [])
        if day == 0:
            chosen = created
        else:
            chosen = [r for r in created if r.key not in dirty] + list(dirty.values())
        del self._dirty[day]
        return [[r.fields[c] for c in self.columns] for r in chosen]


def _by_time(item: tuple[int, int, MasterRecord, Apply]) -> tuple[int, int]:
    return item[0], item[1]


def flip_consent(value: str, rng: random.Random) -> str:
    """A consent answer after the customer changed their mind (or first answered)."""
    if value == "y":
        return "n"
    if value == "n":
        return "y"
    return rng.choice(("y", "n"))

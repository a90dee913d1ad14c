"""The loyalty programme: members, cards, points and tiers.

A member's card can be closed and re-issued under a new loyalty_id (one person, two cards).
Points move with every purchase the card is swiped for, so active members show up in the
daily delta often. Stores keep a "default" card at the till for walk-in customers; those
cards are not members and never appear in the loyalty extract, only on receipts.

Under the heavy noise profile every member record is also corrupted by
``heavy_noise.HeavyNoise`` and some members enrolled again, forgot about it and never use the
extra cards (1..9 of them, mostly one); with ``person_identifiers="none"`` member records
carry no email or phone.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdp_dev.synthetic.common import Calendar, Streams, UniqueIds, chance, poisson_days
from cdp_dev.synthetic.heavy_noise import HeavyNoise
from cdp_dev.synthetic.master import MasterRecord, MasterSystem, flip_consent
from cdp_dev.synthetic.noise import Noise
from cdp_dev.synthetic.population import Person, Population
from cdp_dev.synthetic.settings import GeneratorSettings
from schemas.landing import LOYALTY

# The landing contract (CONTRACTS.md section 1) is defined once, in schemas/landing.py.
LOYALTY_COLUMNS = LOYALTY.columns

TIERS = (("platinum", 6000), ("gold", 2000), ("silver", 500), ("bronze", 0))
_TIER_RANK = {"bronze": 0, "silver": 1, "gold": 2, "platinum": 3}


def tier_for(points: int) -> str:
    """The tier a points balance qualifies for."""
    return next(name for name, floor in TIERS if points >= floor)


@dataclass(eq=False)
class LoyaltyCard(MasterRecord):
    """A loyalty member record; ``closed_day`` is None while the card is active."""

    closed_day: int | None = None
    points: int = 0

    def active(self, day: int) -> bool:
        """True when the card can be swiped on ``day``."""
        return self.created_day <= day and (self.closed_day is None or day < self.closed_day)


class LoyaltyProgram(MasterSystem):
    """Plans every member's card(s) and their changes; turns purchases into points."""

    columns = LOYALTY_COLUMNS

    def __init__(
        self,
        streams: Streams,
        settings: GeneratorSettings,
        calendar: Calendar,
        population: Population,
    ):
        super().__init__(calendar)
        self.rng = streams.py("loyalty")
        self.noise = Noise(streams.py("loyalty-noise"), settings.noise, settings.noise_level)
        self.ids = UniqueIds(streams.py("loyalty-ids"))
        # Its own stream, so the default profile draws exactly what it drew before.
        self.heavy = (
            HeavyNoise(streams.py("loyalty-heavy"), settings.heavy_noise)
            if settings.heavy
            else None
        )
        self.settings = settings
        self.population = population
        self.cards_of: dict[int, list[LoyaltyCard]] = {}

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> None:
        """Draw every member's enrolment, closure, re-issue and in-period changes."""
        rng = self.rng
        s = self.settings
        days = self.calendar.days
        p_new = min(0.5, chance(s.loyalty_new_per_year, days))
        p_close = chance(s.loyalty_close_per_year, days)
        drafts: list[tuple[int, int, Person, int | None, bool]] = []
        for person in self.population.persons:
            if not person.has_loyalty:
                continue
            earliest = min(person.first_day_as_customer(self.calendar), days - 1)
            if rng.random() < p_new or earliest >= 0:
                enrolled = rng.randint(max(earliest, 0), days - 1)
            else:
                enrolled = -rng.randint(1, min(6 * 365, -earliest))
            closed = None
            if days > 1 and enrolled < days - 2 and rng.random() < p_close:
                closed = rng.randint(max(enrolled + 1, 1), days - 1)
            elif enrolled < -60 and rng.random() < 0.03:
                closed = rng.randint(enrolled + 30, -1)
            drafts.append((enrolled, rng.randint(8 * 3600, 20 * 3600), person, closed, False))
            if closed is not None and rng.random() < s.loyalty_reissue_share:
                reissue = closed + rng.choice((0, 0, 1, 2, 5))
                if reissue < days:
                    drafts.append((reissue, rng.randint(8 * 3600, 20 * 3600), person, None, False))
            if self.heavy is not None:
                for _ in range(self.heavy.duplicates(s.heavy_noise.loyalty_duplicate_share)):
                    if earliest >= 0 or rng.random() < 0.3:
                        day = rng.randint(max(earliest, 0), days - 1)
                    else:
                        day = -rng.randint(1, min(6 * 365, -earliest))
                    drafts.append((day, rng.randint(8 * 3600, 20 * 3600), person, None, True))
        drafts.sort(key=lambda d: (d[0], d[1], d[2].index))
        for enrolled, second, person, closed, duplicate in drafts:
            card = self._new_card(person, enrolled, second, closed, duplicate)
            self.records.append(card)
            if not duplicate:  # a forgotten extra card is never swiped nor linked
                self.cards_of.setdefault(person.index, []).append(card)
        for card in self.records:
            self._plan_changes(card)

    def _new_card(
        self, person: Person, day: int, second: int, closed: int | None, duplicate: bool = False
    ) -> LoyaltyCard:
        rng = self.rng
        nz = self.noise
        hh = person.household
        card = LoyaltyCard(
            key=self.ids.digits("6", 9),
            person=person,
            created_day=day,
            created_second=second,
            closed_day=closed,
            is_duplicate=duplicate,
        )
        first, last = nz.name(person.first_name, person.last_name)
        if not self.settings.with_identifiers:
            email = phone = ""  # person_identifiers="none": names, birth date, address only
        elif person.crm_loyalty_unlinked:
            # Must share no identifier with the person's CRM rows (which use own email and
            # mobile): no email at all, and the landline or nothing as phone.
            email = ""
            phone = nz.phone(hh.landline) if hh.landline and rng.random() < 0.5 else ""
        else:
            use_family = hh.family_email and rng.random() < 0.2
            email = nz.email(hh.family_email if use_family else person.email_at(day))
            roll = rng.random()
            if roll < 0.75 or not hh.landline:
                phone = nz.phone(person.mobile)
            elif roll < 0.9:
                phone = nz.phone(hh.landline)
            else:
                phone = ""
        a = hh.address_at(day)
        street, postal, city, region, country = nz.address(
            a.street, a.postal_code, a.city, a.region, a.country
        )
        enrolled_at = self.calendar.ts(day, second)
        if day < 0:
            # Long-standing members: points accrued over their tenure.
            card.points = int(rng.gammavariate(1.3, 1.0) * min(-day, 1500) * 1.2)
        card.fields = {
            "loyalty_id": card.key,
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "street": street,
            "postal_code": postal,
            "city": city,
            "region": region,
            "country": country,
            "birth_date": nz.birth_date(person.birth_date),
            "tier": tier_for(card.points),
            "points_balance": str(card.points),
            "status": "active",
            "enrolled_at": enrolled_at,
            "updated_at": enrolled_at,
            "consent_email": rng.choices(("y", "n", ""), (0.6, 0.3, 0.1))[0],
            "consent_sms": rng.choices(("y", "n", ""), (0.3, 0.5, 0.2))[0],
            "consent_updated_at": enrolled_at,
        }
        if self.heavy is not None:
            card.corruptions = self.heavy.corrupt(card.fields, duplicate=duplicate)
        return card

    def _plan_changes(self, card: LoyaltyCard) -> None:
        rng = self.rng
        s = self.settings
        cal = self.calendar
        days = cal.days
        person = card.person
        hh = person.household
        last_day = days if card.closed_day is None else card.closed_day

        def at(day: int) -> tuple[int, int]:
            return day, rng.randint(7 * 3600, 22 * 3600)

        # Before the period: changes are folded into the state the full extract shows.
        for move in hh.move_days():
            if card.created_day < move < min(0, last_day) and rng.random() < 0.5:
                self._set_address(card, move)(card, cal.ts(*at(move)))
        if card.closed_day is not None and card.closed_day <= 0:
            _close(card, cal.ts(*at(card.closed_day)))
        # During the period.
        for move in hh.move_days():
            if move >= max(card.created_day, 1) and rng.random() < 0.5:
                day = move + rng.choice((0, 3, 10, 30, 60))
                if day < last_day:
                    self.schedule(*at(day), card, self._set_address(card, move))
        if s.with_identifiers and not person.crm_loyalty_unlinked and len(person.emails) > 1:
            switch = person.emails[-1][0]
            if switch >= max(card.created_day, 1) and rng.random() < 0.4:
                new_email = self.noise.email(person.emails[-1][1], allow_missing=False)
                day = switch + rng.randint(0, 20)
                if day < last_day:
                    self.schedule(*at(day), card, _set_field("email", new_email))
        for day in poisson_days(rng, s.consent_change_per_year * 0.5, days):
            if card.created_day <= day < last_day:
                which = "consent_email" if rng.random() < 0.7 else "consent_sms"
                self.schedule(*at(day), card, self._change_consent(which))
        if card.closed_day is not None and card.closed_day > 0:
            self.schedule(*at(card.closed_day), card, _close)

    def _set_address(self, card: LoyaltyCard, move_day: int):
        a = card.person.household.address_at(move_day)
        parts = self.noise.address(a.street, a.postal_code, a.city, a.region, a.country)
        if self.heavy is not None:
            parts = (*self.heavy.corrupt_address(*parts[:3]), *parts[3:])

        def apply(record: MasterRecord, ts: str) -> None:
            f = record.fields
            f["street"], f["postal_code"], f["city"], f["region"], f["country"] = parts
            record.stamp(ts)

        return apply

    def _change_consent(self, which: str):
        rng = self.rng

        def apply(record: MasterRecord, ts: str) -> None:
            record.fields[which] = flip_consent(record.fields[which], rng)
            record.fields["consent_updated_at"] = ts
            record.stamp(ts)

        return apply

    # -- used by the POS simulation ------------------------------------------------------
    def active_card(self, person: Person, day: int) -> LoyaltyCard | None:
        """The person's card that can be swiped on ``day``, if any."""
        for card in reversed(self.cards_of.get(person.index, ())):
            if card.active(day):
                return card
        return None

    def earn(self, card: LoyaltyCard, day: int, second: int, amount_eur: float) -> None:
        """Credit (or, for a return, debit) points for a purchase; tiers only go up."""

        def apply(record: MasterRecord, ts: str) -> None:
            assert isinstance(record, LoyaltyCard)
            record.points = max(0, record.points + int(round(amount_eur)))
            f = record.fields
            f["points_balance"] = str(record.points)
            new_tier = tier_for(record.points)
            if _TIER_RANK[new_tier] > _TIER_RANK[f["tier"]]:
                f["tier"] = new_tier
            record.stamp(ts)

        self.change_now(day, second, card, apply)


def _set_field(name: str, value: str):
    def apply(record: MasterRecord, ts: str) -> None:
        record.fields[name] = value
        record.stamp(ts)

    return apply


def _close(record: MasterRecord, ts: str) -> None:
    record.fields["status"] = "closed"
    record.stamp(ts)

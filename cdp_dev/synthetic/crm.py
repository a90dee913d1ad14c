"""The CRM: customer records, their changes over time, duplicates and consent history.

Most customers were created years ago; some join during the period, many of them by signing
up on the web shop (the web simulation emits the matching ``signup`` event). A few customers
have two CRM records (created at different times, typed differently). Records follow their
person only partly: a move or a new email reaches the CRM late or never.

Under the heavy noise profile every record is also corrupted by ``heavy_noise.HeavyNoise`` and
customers have 1..9 duplicate records; with ``person_identifiers="none"`` records carry no
email, phone or loyalty_id.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdp_dev.synthetic.common import Calendar, Streams, chance, poisson_days
from cdp_dev.synthetic.heavy_noise import HeavyNoise
from cdp_dev.synthetic.loyalty import LoyaltyProgram
from cdp_dev.synthetic.master import MasterRecord, MasterSystem, flip_consent
from cdp_dev.synthetic.noise import Noise
from cdp_dev.synthetic.population import Person, Population
from cdp_dev.synthetic.settings import GeneratorSettings
from schemas.landing import CRM

# The landing contract (CONTRACTS.md section 1) is defined once, in schemas/landing.py.
CRM_COLUMNS = CRM.columns

CONSENTS = ("consent_email", "consent_sms", "consent_personalization", "consent_ad_sharing")
# How often customers say yes / no / nothing to each purpose when they sign up.
_CONSENT_PRIORS = {
    "consent_email": (0.55, 0.30, 0.15),
    "consent_sms": (0.35, 0.45, 0.20),
    "consent_personalization": (0.50, 0.30, 0.20),
    "consent_ad_sharing": (0.25, 0.55, 0.20),
}
# Which purpose a customer changes: mostly unsubscribing from or joining the newsletter.
_CONSENT_CHANGE_WEIGHTS = (0.5, 0.2, 0.15, 0.15)


@dataclass(eq=False)
class CrmRecord(MasterRecord):
    """A CRM customer record; ``web_account`` marks the one the person logs in with."""

    origin: str = "store"
    web_account: bool = False
    uses_family_email: bool = False


@dataclass(frozen=True)
class Signup:
    """A web signup that created a CRM record (the web simulation emits the event)."""

    person: Person
    crm_id: str
    day: int
    second: int


class CrmSystem(MasterSystem):
    """Plans every CRM record and its changes."""

    columns = CRM_COLUMNS

    def __init__(
        self,
        streams: Streams,
        settings: GeneratorSettings,
        calendar: Calendar,
        population: Population,
        loyalty: LoyaltyProgram,
    ):
        super().__init__(calendar)
        self.rng = streams.py("crm")
        self.noise = Noise(streams.py("crm-noise"), settings.noise, settings.noise_level)
        # Its own stream, so the default profile draws exactly what it drew before.
        self.heavy = (
            HeavyNoise(streams.py("crm-heavy"), settings.heavy_noise) if settings.heavy else None
        )
        self.settings = settings
        self.population = population
        self.loyalty = loyalty
        self.account: dict[int, CrmRecord] = {}  # person index -> record they log in with
        self.signups: list[Signup] = []
        self.links_loyalty: dict[int, bool] = {}

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> None:
        """Draw every record's creation, initial state and in-period changes."""
        rng = self.rng
        s = self.settings
        days = self.calendar.days
        p_new = min(0.5, chance(s.crm_new_per_year, days))
        drafts: list[tuple[int, int, Person, bool]] = []
        for person in self.population.persons:
            if not person.has_crm:
                continue
            self.links_loyalty[person.index] = (
                person.has_loyalty
                and not person.crm_loyalty_unlinked
                and rng.random() < s.crm_links_loyalty
            )
            earliest = min(person.first_day_as_customer(self.calendar), days - 1)
            if rng.random() < p_new or earliest >= 0:
                created = rng.randint(max(earliest, 0), days - 1)
            else:
                created = -rng.randint(1, min(8 * 365, -earliest))
            drafts.append((created, rng.randint(6 * 3600, 23 * 3600), person, True))
            if self.heavy is not None:
                # Heavy profile: 1..9 extra records per person (Zipf) instead of the few below.
                for _ in range(self.heavy.duplicates(s.heavy_noise.crm_duplicate_share)):
                    dup = self._duplicate_day(created)
                    drafts.append((dup, rng.randint(6 * 3600, 23 * 3600), person, False))
            elif rng.random() < s.crm_duplicate_rate:
                dup = self._duplicate_day(created)
                drafts.append((dup, rng.randint(6 * 3600, 23 * 3600), person, False))
        drafts.sort(key=lambda d: (d[0], d[1], d[2].index, not d[3]))
        for i, (day, second, person, primary) in enumerate(drafts):
            record = self._new_record(f"C{100001 + i:07d}", person, day, second, primary)
            self.records.append(record)
            if primary:
                self.account[person.index] = record
                if record.origin == "web":
                    self.signups.append(Signup(person, record.key, day, second))
        for record in self.records:
            assert isinstance(record, CrmRecord)
            self._plan_changes(record)

    def _duplicate_day(self, created: int) -> int:
        """Creation day of a duplicate: mostly a forgotten older record, else a new one."""
        rng = self.rng
        days = self.calendar.days
        if created < 0 and rng.random() < 0.7:
            return rng.randint(created, -1)
        return rng.randint(max(created, 0), days - 1) if days > 0 else created

    def _new_record(
        self, crm_id: str, person: Person, day: int, second: int, primary: bool
    ) -> CrmRecord:
        rng = self.rng
        nz = self.noise
        hh = person.household
        origin = "import" if day < 0 else "store"
        if primary and day >= 0 and rng.random() < self.settings.crm_web_signup_share:
            origin = "web"
        record = CrmRecord(
            key=crm_id,
            person=person,
            created_day=day,
            created_second=second,
            origin=origin,
            web_account=primary,
            is_duplicate=not primary,
        )
        first, last = nz.name(person.first_name, person.last_name)
        unlinked = person.crm_loyalty_unlinked
        ids = self.settings.with_identifiers
        if ids:
            record.uses_family_email = bool(hh.family_email) and not unlinked and rng.random() < 0.3
        if not ids:
            email = phone = ""  # person_identifiers="none": names, birth date, address only
        elif record.uses_family_email:
            email = nz.email(hh.family_email)
        elif not primary and len(person.emails) > 1 and rng.random() < 0.5:
            email = nz.email(person.emails[0][1])  # the duplicate was typed from an old email
        else:
            # Web signups need an email to log in with; the form validates it.
            email = nz.email(person.email_at(day), allow_missing=origin != "web")
        if ids:
            roll = rng.random()
            if (roll < 0.82 or not hh.landline or unlinked) and person.mobile:
                phone = nz.phone(person.mobile)
            elif roll < 0.95 and hh.landline and not unlinked:
                phone = nz.phone(hh.landline)
            else:
                phone = ""
        a = hh.address_at(day)
        street, postal, city, region, country = nz.address(
            a.street, a.postal_code, a.city, a.region, a.country
        )
        card = self.loyalty.active_card(person, day)
        linked = self.links_loyalty.get(person.index, False) and primary and ids
        created_at = self.calendar.ts(day, second)
        record.fields = {
            "crm_id": crm_id,
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
            "loyalty_id": card.key if (card is not None and linked) else "",
            "consent_updated_at": created_at,
            "created_at": created_at,
            "updated_at": created_at,
        }
        for purpose in CONSENTS:
            record.fields[purpose] = rng.choices(("y", "n", ""), _CONSENT_PRIORS[purpose])[0]
        if self.heavy is not None:
            record.corruptions = self.heavy.corrupt(record.fields, duplicate=not primary)
        return record

    def _plan_changes(self, record: CrmRecord) -> None:
        rng = self.rng
        s = self.settings
        cal = self.calendar
        days = cal.days
        person = record.person
        hh = person.household
        created = record.created_day

        def at(day: int) -> tuple[int, int]:
            return day, rng.randint(6 * 3600, 23 * 3600)

        def lag(day: int) -> int:
            return day + (0 if rng.random() < 0.4 else rng.randint(1, 25))

        # Only the record the person uses (not a forgotten duplicate, not the family
        # address) learns about a new email.
        ids = s.with_identifiers
        switch = person.emails[-1][0]
        follows_email = (
            ids and len(person.emails) > 1 and not record.uses_family_email and record.web_account
        )

        # Before the period: folded into the state the full extract shows.
        if created < 0:
            for move in hh.move_days():
                if created < move < 0 and rng.random() < 0.8:
                    day = lag(move)
                    if day < 0:
                        self._set_address(record, move)(record, cal.ts(*at(day)))
            if follows_email and created < switch < 0 and rng.random() < 0.6:
                email = self.noise.email(person.emails[-1][1], allow_missing=False)
                _set_field("email", email)(record, cal.ts(*at(switch)))
            if rng.random() < 0.4:
                self._change_consent(record)(record, cal.ts(*at(rng.randint(created, -1))))
            if rng.random() < 0.5:
                record.stamp(cal.ts(*at(rng.randint(created, -1))))  # an untracked edit
        # Loyalty cards enrolled (or re-issued) after the record was created.
        if ids and self.links_loyalty.get(person.index) and record.web_account:
            for card in self.loyalty.cards_of.get(person.index, ()):
                if card.created_day > created and rng.random() < 0.85:
                    day = card.created_day + rng.choice((0, 0, 1, 3, 14))
                    if day < 0:
                        _set_field("loyalty_id", card.key)(record, cal.ts(*at(day)))
                    else:
                        self.schedule(*at(day), record, _set_field("loyalty_id", card.key))
        # During the period.
        for move in hh.move_days():
            if move >= max(created, 1) and rng.random() < 0.75:
                self.schedule(*at(lag(move)), record, self._set_address(record, move))
        if follows_email and switch >= max(created, 1) and rng.random() < 0.6:
            email = self.noise.email(person.emails[-1][1], allow_missing=False)
            self.schedule(*at(lag(switch)), record, _set_field("email", email))
        for day in poisson_days(rng, s.consent_change_per_year, days):
            self.schedule(*at(day), record, self._change_consent(record))
        for day in poisson_days(rng, 0.05, days) if ids else ():
            phone = self.noise.phone(person.mobile) if person.mobile else ""
            self.schedule(*at(day), record, _set_field("phone", phone))
        for day in poisson_days(rng, 0.10, days):
            self.schedule(*at(day), record, lambda r, ts: r.stamp(ts))

    def _set_address(self, record: CrmRecord, move_day: int):
        a = record.person.household.address_at(move_day)
        parts = self.noise.address(a.street, a.postal_code, a.city, a.region, a.country)
        if self.heavy is not None:
            parts = (*self.heavy.corrupt_address(*parts[:3]), *parts[3:])

        def apply(r: MasterRecord, ts: str) -> None:
            f = r.fields
            f["street"], f["postal_code"], f["city"], f["region"], f["country"] = parts
            r.stamp(ts)

        return apply

    def _change_consent(self, record: CrmRecord):
        rng = self.rng
        which = rng.choices(CONSENTS, _CONSENT_CHANGE_WEIGHTS)[0]

        def apply(r: MasterRecord, ts: str) -> None:
            r.fields[which] = flip_consent(r.fields[which], rng)
            r.fields["consent_updated_at"] = ts
            r.stamp(ts)

        return apply

    # -- used by the web simulation ------------------------------------------------------
    def login_id(self, person: Person, day: int, second: int = 86399) -> str:
        """The crm_id the person can log in with at that moment, or "" without an account."""
        record = self.account.get(person.index)
        if record is None:
            return ""
        if record.created_day < day or (
            record.created_day == day and record.created_second <= second
        ):
            return record.key
        return ""


def _set_field(name: str, value: str):
    def apply(record: MasterRecord, ts: str) -> None:
        record.fields[name] = value
        record.stamp(ts)

    return apply

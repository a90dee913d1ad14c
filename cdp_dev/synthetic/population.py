"""The true world behind the sources: persons, households, their addresses, emails, phones.

Everything here is ground truth. The source simulators (crm, loyalty, pos, web) only ever see
a person through ``noise.Noise`` and write what they saw; ``_truth/`` is written from here.

``households="heavy"`` (``settings.HeavyHouseholds``) draws the people identity resolution
most easily merges by mistake: most persons live in families, many of them with twins (some
named one letter apart, Juhani / Juhana), sons named after their fathers at the same address,
and siblings with look-alike names (Johan / Johanna).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import phonenumbers
from phonenumbers import PhoneNumberType

from cdp_dev.synthetic.common import Calendar, Streams, chance
from cdp_dev.synthetic.noise import slug
from cdp_dev.synthetic.pools import LocalePool, street_address
from cdp_dev.synthetic.settings import GLOBAL_EMAIL_DOMAINS, LOCALES, GeneratorSettings

# A day index earlier than any event; "valid since forever".
BEFORE_TIME = -(10**6)


@dataclass(frozen=True)
class Address:
    """One postal address, as the post office would write it."""

    street: str
    postal_code: str
    city: str
    region: str
    country: str


@dataclass(eq=False)
class Household:
    """People sharing an address (and maybe a landline, a family email, a home IP)."""

    household_id: str
    locale: str
    country: str
    addresses: list[tuple[int, Address]]  # (valid from day, address), ascending
    landline: str  # E.164, or "" when the household has none
    family_email: str
    home_ip: str
    members: list[Person] = field(default_factory=list)

    def address_at(self, day: int) -> Address:
        """The address the household lived at on ``day``."""
        current = self.addresses[0][1]
        for since, address in self.addresses:
            if since <= day:
                current = address
        return current

    def move_days(self) -> list[int]:
        """Days on which the household moved (negative = before the period)."""
        return [since for since, _ in self.addresses[1:]]


@dataclass(eq=False)
class Person:
    """One real human being, plus which systems know them (decided up front)."""

    index: int
    person_id: str
    household: Household
    first_name: str
    last_name: str
    gender: str
    birth_date: date
    emails: list[tuple[int, str]]  # (in use from day, email), ascending
    mobile: str  # E.164, or "" when the person has none
    twin_person_id: str = ""
    has_crm: bool = False
    has_loyalty: bool = False
    crm_loyalty_unlinked: bool = False  # CRM and loyalty rows share no identifier
    card_tokens: list[str] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return self.household.locale

    @property
    def country(self) -> str:
        return self.household.country

    def first_day_as_customer(self, calendar: Calendar) -> int:
        """Day index of the person's 16th birthday: no system knows them before that."""
        return (self.birth_date + timedelta(days=16 * 365 + 4) - calendar.start).days

    def email_at(self, day: int) -> str:
        """The email the person gave out on ``day``."""
        current = self.emails[0][1]
        for since, email in self.emails:
            if since <= day:
                current = email
        return current


@dataclass
class Population:
    """All persons and households of a run."""

    persons: list[Person]
    households: list[Household]


class PhoneFactory:
    """Valid, unique phone numbers per country, in E.164.

    Random digits behind a real mobile or area prefix are validated with ``phonenumbers``;
    templates (prefix, length) are vetted once so that nearly every draw is valid.
    """

    _MOBILE = {
        "SE": ("70", "72", "73", "76", "79"),
        "NO": ("4", "9"),
        "DK": ("2", "3", "4", "5", "6", "7"),
        "FI": ("40", "41", "44", "45", "50"),
        "DE": ("151", "152", "157", "160", "170", "171", "172", "176", "177", "179"),
        "GB": ("74", "75", "77", "78", "79"),
        "NL": ("6",),
        "FR": ("6", "7"),
        "ES": ("6",),
        "US": ("212", "312", "415", "617", "206", "512", "303", "404", "305", "702"),
    }
    _FIXED = {
        "SE": ("8", "31", "40", "18", "13"),
        "NO": ("2", "3", "5", "6", "7"),
        "DK": ("3", "4", "8", "9"),
        "FI": ("9", "2", "3", "13", "14", "17"),
        "DE": ("30", "40", "89", "69", "221", "211"),
        "GB": ("20", "121", "131", "161", "113"),
        "NL": ("10", "20", "30", "40", "70"),
        "FR": ("1", "2", "3", "4", "5"),
        "ES": ("91", "93", "95", "96"),
        "US": ("212", "312", "415", "617", "206", "512", "303", "404", "305", "702"),
    }

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.taken: set[str] = set()
        self._templates: dict[tuple[str, bool], list[tuple[str, int]]] = {}

    def _vet(self, region: str, mobile: bool) -> list[tuple[str, int]]:
        key = (region, mobile)
        if key in self._templates:
            return self._templates[key]
        kind = PhoneNumberType.MOBILE if mobile else PhoneNumberType.FIXED_LINE
        example = phonenumbers.example_number_for_type(region, kind)
        length = len(phonenumbers.national_significant_number(example))
        prefixes = (self._MOBILE if mobile else self._FIXED)[region]
        good = []
        for prefix in prefixes:
            for n in (length - 1, length, length + 1):
                hits = sum(self._valid(region, self._digits(prefix, n), kind) for _ in range(25))
                if hits >= 23:
                    good.append((prefix, n))
        if not good:  # the example number's own shape is always valid
            nsn = phonenumbers.national_significant_number(example)
            good.append((nsn[:3], length))
        self._templates[key] = good
        return good

    def _digits(self, prefix: str, length: int) -> str:
        return prefix + "".join(str(self.rng.randrange(10)) for _ in range(length - len(prefix)))

    @staticmethod
    def _number(region: str, nsn: str) -> phonenumbers.PhoneNumber:
        code = phonenumbers.country_code_for_region(region)
        return phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn))

    def _valid(self, region: str, nsn: str, kind) -> bool:
        number = self._number(region, nsn)
        if not phonenumbers.is_valid_number(number):
            return False
        return phonenumbers.number_type(number) in (kind, PhoneNumberType.FIXED_LINE_OR_MOBILE)

    def new(self, region: str, mobile: bool = True) -> str:
        """A fresh valid number for ``region`` in E.164."""
        templates = self._vet(region, mobile)
        code = phonenumbers.country_code_for_region(region)
        for _ in range(50):
            prefix, length = self.rng.choice(templates)
            nsn = self._digits(prefix, length)
            e164 = f"+{code}{nsn}"
            if e164 in self.taken:
                continue
            if phonenumbers.is_valid_number(self._number(region, nsn)):
                self.taken.add(e164)
                return e164
        raise RuntimeError(f"could not draw a valid phone number for {region}")


def _mailbox(email: str) -> str:
    """The mailbox an address delivers to: Gmail ignores dots in the local part, so
    anna.berg@gmail.com and annaberg@gmail.com are one mailbox and can belong to one person."""
    local, _, domain = email.lower().rpartition("@")
    return f"{local.replace('.', '')}@{domain}" if domain == "gmail.com" else f"{local}@{domain}"


def _email_for(
    rng: random.Random, first: str, last: str, birth_year: int, locale: str, taken: set[str]
) -> str:
    f, surname = slug(first) or "x", slug(last.split(" ")[0]) or "y"
    yy = f"{birth_year % 100:02d}"
    roll = rng.random()
    domain_roll = rng.random()
    if domain_roll < 0.45:
        domain = "gmail.com"
    elif domain_roll < 0.70:
        domain = rng.choice(GLOBAL_EMAIL_DOMAINS[1:])
    else:
        domain = rng.choice(LOCALES[locale].email_domains)
    if roll < 0.30:
        local = f"{f}.{surname}"
    elif roll < 0.45:
        local = f"{f}{surname}"
    elif roll < 0.55:
        local = f"{f[0]}{surname}"
    elif roll < 0.60:
        local = f"{f}_{surname}"
    elif roll < 0.70:
        local = f"{f}.{surname}{yy}"
    elif roll < 0.78:
        local = f"{f}{yy}"
    elif roll < 0.83:
        local = f"{surname}.{f}"
    elif roll < 0.93:
        local = f"{f}{surname}{rng.randint(1, 99)}"
    else:
        local = f"{f}.{surname[0]}"
    email = f"{local}@{domain}"
    while _mailbox(email) in taken:
        email = f"{local}{rng.randint(1, 999)}@{domain}"
    taken.add(_mailbox(email))
    return email


def _family_email(rng: random.Random, last: str, locale: str, taken: set[str]) -> str:
    surname = slug(last.split(" ")[0]) or "family"
    stem = {
        "sv_SE": f"familjen.{surname}",
        "no_NO": f"familien.{surname}",
        "da_DK": f"familien.{surname}",
        "de_DE": f"familie.{surname}",
        "nl_NL": f"fam.{surname}",
        "fi_FI": f"{surname}.perhe",
        "fr_FR": f"famille.{surname}",
        "es_ES": f"familia.{surname}",
    }.get(locale, f"the{surname}s")
    domain = rng.choice(("gmail.com", "hotmail.com", *LOCALES[locale].email_domains))
    email = f"{stem}@{domain}"
    while _mailbox(email) in taken:
        email = f"{stem}{rng.randint(1, 99)}@{domain}"
    taken.add(_mailbox(email))
    return email


def _ip(rng: random.Random) -> str:
    first = rng.choice((31, 46, 62, 77, 78, 80, 81, 83, 85, 87, 89, 90, 91, 94, 95, 109, 176, 185))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


class PopulationBuilder:
    """Draws households and their members until ``persons`` people exist."""

    def __init__(
        self,
        streams: Streams,
        settings: GeneratorSettings,
        pools: dict[str, LocalePool],
        calendar: Calendar,
    ):
        self.rng = streams.py("population")
        self.settings = settings
        self.pools = pools
        self.calendar = calendar
        self.phones = PhoneFactory(streams.py("phones"))
        self.emails_taken: set[str] = set()
        self.addresses_taken: set[tuple[str, str, str]] = set()
        self.end = calendar.date(calendar.days - 1)

    # -- pieces --------------------------------------------------------------------------
    def _first(self, pool: LocalePool, gender: str, avoid: str = "") -> str:
        names = pool.male_first if gender == "m" else pool.female_first
        for _ in range(20):
            name = self.rng.choice(names)
            if slug(name) != slug(avoid):  # Éric is no other name than Eric
                return name
        return name

    def _last(self, pool: LocalePool) -> str:
        last = self.rng.choice(pool.last)
        if pool.locale == "es_ES" and self.rng.random() < 0.7:
            last = f"{last} {self.rng.choice(pool.last)}"  # Spanish double surname
        return last

    def _birth(self, age: float) -> date:
        return self.end - timedelta(days=int(age * 365.25) + self.rng.randint(0, 364))

    def _address(self, pool: LocalePool) -> Address:
        country = LOCALES[pool.locale].country
        while True:
            street = street_address(self.rng, pool.locale, self.rng.choice(pool.streets))
            postal, city = self.rng.choice(pool.places)
            key = (country, street, postal)
            if key not in self.addresses_taken:
                self.addresses_taken.add(key)
                return Address(street, postal, city, self.rng.choice(pool.regions), country)

    def _near_name(self, pool: LocalePool, gender: str, name: str) -> str:
        """A real name one letter away from ``name`` (Juhani / Juhana, Jon / Jan): from the
        pool when it holds one, else from the locale's whole name list, else from another
        locale's; a name nobody is called (Hons beside Hans) would be no twin but a typo, so
        when no real name is that near, an unrelated name of the pool."""
        male = gender == "m"
        lists = [
            pool.male_first if male else pool.female_first,
            pool.named_male if male else pool.named_female,
            *(
                (other.named_male if male else other.named_female)
                for other in self.pools.values()
                if other.locale != pool.locale
            ),
        ]
        # Compared as written without accents and case: Éric beside Eric is one name.
        key = slug(name)
        for names in lists:
            near = sorted(
                {
                    n
                    for n in names
                    if len(k := slug(n)) == len(key)
                    and sum(a != b for a, b in zip(k, key, strict=True)) == 1
                }
            )
            if near:
                return self.rng.choice(near)
        return self._first(pool, gender, avoid=name)

    def _similar_name(self, pool: LocalePool, gender: str, name: str) -> str:
        """A sibling's look-alike name: sharing the first four (or three) letters (Johan /
        Johanna, Emil / Emilia) when the pool holds one, else a real name one letter away
        (``_near_name``), else an unrelated one."""
        names = pool.male_first if gender == "m" else pool.female_first
        for width, spread in ((4, 3), (3, 2)):
            stem = name[:width].lower()
            similar = sorted(
                {
                    n
                    for n in names
                    if n != name
                    and n.lower().startswith(stem)
                    and abs(len(n) - len(name)) <= spread
                }
            )
            if len(stem) == width and similar:
                return self.rng.choice(similar)
        return self._near_name(pool, gender, name)

    def _members(self, kind: str) -> list[tuple[str, float, bool, bool]]:
        """(gender, age, shares household surname, twin of previous) for a household kind."""
        rng = self.rng
        heavy = self.settings.heavy_households if self.settings.households == "heavy" else None

        def g() -> str:
            return rng.choice("mf")

        if kind == "single":
            return [(g(), rng.triangular(18, 90, 34), True, False)]
        if kind == "couple":
            age = rng.triangular(22, 88, 40)
            first = g()
            second = ("f" if first == "m" else "m") if rng.random() < 0.92 else first
            age2 = max(18.0, age + rng.uniform(-6, 6))
            return [(first, age, True, False), (second, age2, rng.random() < 0.7, False)]
        if kind == "family":
            age = rng.uniform(40, 62)
            members = [("m", age, True, False), ("f", age + rng.uniform(-5, 3), True, False)]
            if heavy is None:
                n_kids = rng.choice((1, 1, 2, 2, 3))
                twins = n_kids >= 2 and rng.random() < self.settings.twin_share_of_families
            else:
                n_kids = rng.choice(heavy.children_choices)
                twins = n_kids >= 2 and rng.random() < heavy.twin_share_of_families
            for k in range(n_kids):
                kid_age = rng.uniform(16, min(30.0, age - 20))
                members.append((g(), kid_age, True, twins and k == 1))
            return members
        n = rng.choice((2, 2, 3))
        return [(g(), rng.uniform(19, 35), False, False) for _ in range(n)]

    # -- build ---------------------------------------------------------------------------
    def build(self, n_persons: int) -> Population:
        """Draw households until ``n_persons`` persons exist; ensures at least one twin pair."""
        rng = self.rng
        s = self.settings
        locales = [loc for loc, _ in s.locale_weights]
        locale_w = [w for _, w in s.locale_weights]
        kinds = ("single", "couple", "family", "flat")
        kind_w = (
            s.heavy_households.household_weights if s.households == "heavy" else s.household_weights
        )
        persons: list[Person] = []
        households: list[Household] = []
        while len(persons) < n_persons:
            locale = rng.choices(locales, locale_w)[0]
            kind = rng.choices(kinds, kind_w)[0]
            hh_id = f"H{len(households) + 1:07d}"
            households.append(self._household(hh_id, locale, kind, persons, n_persons))
        self._ensure_twins(persons)
        self._assign_sources(persons)
        return Population(persons, households)

    def _household(
        self, household_id: str, locale: str, kind: str, persons: list[Person], cap: int
    ) -> Household:
        rng = self.rng
        s = self.settings
        pool = self.pools[locale]
        spec = LOCALES[locale]
        days = self.calendar.days
        hh = Household(
            household_id=household_id,
            locale=locale,
            country=spec.country,
            addresses=[(BEFORE_TIME, self._address(pool))],
            landline="",
            family_email="",
            home_ip=_ip(rng),
        )
        if rng.random() < s.past_move_share:
            hh.addresses.append((-rng.randint(1, 3 * 365), self._address(pool)))
        if days > 1 and rng.random() < chance(s.move_rate_per_year, days):
            hh.addresses.append((rng.randint(1, days - 1), self._address(pool)))
        surname = self._last(pool)
        if rng.random() < s.landline_share:
            hh.landline = self.phones.new(spec.country, mobile=False)
        members = self._members(kind)[: cap - len(persons)]
        if len(members) > 1 and rng.random() < s.family_email_share:
            hh.family_email = _family_email(rng, surname, locale, self.emails_taken)
        # Heavy households: which son is named after his father, which child after the
        # previous one (drawn only then, so the default population stays as it was).
        heavy = s.heavy_households if s.households == "heavy" else None
        namesake = similar = -1
        if heavy is not None and kind == "family":
            sons = [i for i, m in enumerate(members) if i >= 2 and m[0] == "m" and not m[3]]
            if sons and rng.random() < heavy.namesake_share_of_families:
                namesake = rng.choice(sons)
            younger = [i for i, m in enumerate(members) if i >= 3 and not m[3] and i != namesake]
            if younger and rng.random() < heavy.similar_sibling_share:
                similar = rng.choice(younger)
        previous: Person | None = None
        for i, (gender, age, shares_surname, twin) in enumerate(members):
            last = surname if shares_surname else self._last(pool)
            if twin and previous is not None:
                if heavy is not None and rng.random() < heavy.twin_near_name_share:
                    first = self._near_name(pool, gender, previous.first_name)
                else:
                    first = self._first(pool, gender, avoid=previous.first_name)
                birth = previous.birth_date
            else:
                if i == namesake:
                    first = hh.members[0].first_name  # the father
                elif i == similar and previous is not None:
                    first = self._similar_name(pool, gender, previous.first_name)
                else:
                    first = self._first(pool, gender)
                birth = self._birth(age)
            person = self._person(len(persons), hh, first, last, gender, birth)
            if twin and previous is not None:
                person.twin_person_id = previous.person_id
                previous.twin_person_id = person.person_id
            persons.append(person)
            hh.members.append(person)
            previous = person
        return hh

    def _person(
        self, index: int, hh: Household, first: str, last: str, gender: str, birth: date
    ) -> Person:
        rng = self.rng
        s = self.settings
        days = self.calendar.days
        current = _email_for(rng, first, last, birth.year, hh.locale, self.emails_taken)
        emails = [(BEFORE_TIME, current)]
        if rng.random() < s.old_email_share:
            old = _email_for(rng, first, last, birth.year, hh.locale, self.emails_taken)
            in_period = days > 1 and rng.random() < 0.4
            switch = rng.randint(1, days - 1) if in_period else -rng.randint(30, 6 * 365)
            emails = [(BEFORE_TIME, old), (switch, current)]
        mobile = self.phones.new(hh.country) if rng.random() < s.mobile_share else ""
        return Person(
            index=index,
            person_id=f"P{index + 1:07d}",
            household=hh,
            first_name=first,
            last_name=last,
            gender=gender,
            birth_date=birth,
            emails=emails,
            mobile=mobile,
        )

    def _ensure_twins(self, persons: list[Person]) -> None:
        # Tiny runs may draw no twins at all; twins are a case every run must show.
        if len(persons) < 2 or any(p.twin_person_id for p in persons):
            return
        households = {}
        for p in persons:
            households.setdefault(p.household.household_id, []).append(p)
        members = next((m for m in households.values() if len(m) >= 2), None)
        if members is None:
            # Everybody lives alone: move the second person in with the first as a twin.
            a, b = persons[0], persons[1]
            b.household.members.remove(b)
            b.household = a.household
            a.household.members.append(b)
        else:
            a, b = members[-2], members[-1]
        pool = self.pools[a.locale]
        b.last_name = a.last_name
        b.birth_date = a.birth_date
        if b.first_name == a.first_name:
            b.first_name = self._first(pool, b.gender, avoid=a.first_name)
        a.twin_person_id, b.twin_person_id = b.person_id, a.person_id

    def _assign_sources(self, persons: list[Person]) -> None:
        rng = self.rng
        s = self.settings
        tokens: set[str] = set()

        def token() -> str:
            while True:
                t = f"tok_{rng.getrandbits(96):024x}"
                if t not in tokens:
                    tokens.add(t)
                    return t

        for p in persons:
            p.has_crm = rng.random() < s.crm_share
            share = s.loyalty_share_with_crm if p.has_crm else s.loyalty_share_without_crm
            p.has_loyalty = rng.random() < share
            p.crm_loyalty_unlinked = (
                p.has_crm and p.has_loyalty and rng.random() < s.crm_loyalty_no_shared_id
            )
            roll = rng.random()
            if roll < 0.95:  # a few people never pay by card
                p.card_tokens.append(token())
                if rng.random() < s.second_card_share:
                    p.card_tokens.append(token())
        # Couples sometimes pay with one shared card: the same token for two people.
        for p in persons:
            hh = p.household
            if len(hh.members) >= 2 and hh.members[0] is p and rng.random() < s.shared_card_share:
                partner = hh.members[1]
                if p.card_tokens:
                    partner.card_tokens.append(p.card_tokens[0])

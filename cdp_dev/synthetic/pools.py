"""Per-locale pools of names and address parts, drawn from Faker once per run.

Faker is far too slow to call per record at 100k persons, so each locale's pool is drawn once
and then sampled with ``random.Random``. Pools keep Faker's duplicates on purpose: drawing
uniformly from them reproduces Faker's name frequencies (many Anderssons, few Löfs).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

from cdp_dev.synthetic.common import Streams
from cdp_dev.synthetic.settings import LOCALES

# Faker has no administrative units for Norway; these are the counties (fylker) since 2024.
_NO_REGIONS = (
    "Oslo",
    "Akershus",
    "Buskerud",
    "Østfold",
    "Innlandet",
    "Vestfold",
    "Telemark",
    "Agder",
    "Rogaland",
    "Vestland",
    "Møre og Romsdal",
    "Trøndelag",
    "Nordland",
    "Troms",
    "Finnmark",
)


@dataclass(frozen=True)
class LocalePool:
    """Name and address material for one locale."""

    locale: str
    male_first: tuple[str, ...]
    female_first: tuple[str, ...]
    last: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[tuple[str, str], ...]  # (postal_code, city)
    regions: tuple[str, ...]
    # Every given name the locale's Faker lists (the pools above are a sample of them): where
    # a twin's name one letter from the other's is looked for, so that it is a real name.
    named_male: tuple[str, ...] = ()
    named_female: tuple[str, ...] = ()


def _listed_first_names(fake: Faker, attr: str) -> tuple[str, ...]:
    """The locale's whole list of given names (``first_names_male`` or ``_female``)."""
    for provider in fake.providers:
        listed = getattr(provider, attr, None)
        if listed is not None and "person" in type(provider).__module__:
            return tuple(sorted(set(listed)))
    return ()


def _postal(locale: str, code: str) -> str:
    # Canonical national formats; noise.py later strips or adds the space as people do.
    if locale == "sv_SE" and len(code) == 5:
        return f"{code[:3]} {code[3:]}"
    if locale == "nl_NL":
        digits, letters = code[:4], code[4:].strip()
        return f"{digits} {letters}"
    return code


def _regions(fake: Faker, locale: str, n: int) -> tuple[str, ...]:
    if locale == "no_NO":
        return _NO_REGIONS
    if locale == "en_US":
        return tuple(fake.state_abbr() for _ in range(n))
    return tuple(fake.administrative_unit() for _ in range(n))


def build_pools(streams: Streams, persons: int) -> dict[str, LocalePool]:
    """Draw the pools of every locale; pool sizes grow with the population up to a cap."""
    n_names = min(2500, max(300, persons // 4))
    n_places = min(1200, max(100, persons // 20))
    pools: dict[str, LocalePool] = {}
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(streams.int(f"faker:{locale}"))
        pools[locale] = LocalePool(
            locale=locale,
            male_first=tuple(fake.first_name_male() for _ in range(n_names)),
            female_first=tuple(fake.first_name_female() for _ in range(n_names)),
            last=tuple(fake.last_name() for _ in range(n_names)),
            streets=tuple(fake.street_name() for _ in range(n_names)),
            places=tuple((_postal(locale, fake.postcode()), fake.city()) for _ in range(n_places)),
            regions=_regions(fake, locale, 60),
            named_male=_listed_first_names(fake, "first_names_male"),
            named_female=_listed_first_names(fake, "first_names_female"),
        )
    return pools


def street_address(rng: random.Random, locale: str, street: str) -> str:
    """A street line in the locale's usual order, with a house number and maybe a flat."""
    # Most houses have low numbers; long streets reach into the hundreds.
    number = str(rng.randint(1, 40) if rng.random() < 0.7 else rng.randint(1, 180))
    if locale in ("sv_SE", "no_NO", "da_DK", "fi_FI") and rng.random() < 0.12:
        number += rng.choice("ABC")
    if locale in ("en_US", "en_GB", "fr_FR"):
        line = f"{number} {street}"
    elif locale == "es_ES":
        line = f"{street}, {number}"
    else:
        line = f"{street} {number}"
    flat = rng.random()
    if locale == "sv_SE" and flat < 0.25:
        line += f" lgh {rng.randint(10, 16)}{rng.randint(1, 9):02d}"
    elif locale == "en_US" and flat < 0.15:
        line += f" Apt {rng.randint(1, 30)}{rng.choice('ABCD')}"
    elif locale == "en_GB" and flat < 0.10:
        line = f"Flat {rng.randint(1, 20)}, {line}"
    elif locale == "da_DK" and flat < 0.25:
        line += f", {rng.randint(1, 5)}. {rng.choice(['th', 'tv', 'mf'])}"
    elif locale == "es_ES" and flat < 0.40:
        line += f", {rng.randint(1, 9)}º {rng.choice('ABCD')}"
    return line

"""Typed knobs of the synthetic source-data generator.

Every rate is a probability per record (or per person, or per year where the name says so).
The defaults aim at what a mid-sized Nordic/European retailer's systems look like: roughly
5-15 % of records carry some defect. ``noise_level`` scales every defect rate at once, so a
test can ask for clean data (0.0) or a stress run (2.0) without touching the individual rates.

Three profiles switch on harder data for evaluating identity resolution (``generator_settings``
builds and checks them): ``noise_profile="heavy"`` corrupts CRM and loyalty person records the
way registry-like test data does (``HeavyNoiseRates``) and gives people several duplicate
records; ``person_identifiers="none"`` leaves those records without email, phone or loyalty_id;
``households="heavy"`` fills the population with families, twins and look-alike names
(``HeavyHouseholds``). The defaults reproduce the generator's earlier output byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date

# A fixed default, not "yesterday": the generator must be reproducible from its arguments alone.
DEFAULT_END_DATE = date(2026, 11, 24)


@dataclass(frozen=True)
class LocaleSpec:
    """What one market looks like: Faker locale, ISO country, currency, mail providers."""

    locale: str
    country: str
    country_name: str
    currency: str
    email_domains: tuple[str, ...]


# Faker has no nb_NO; no_NO is its Norwegian (Bokmål) locale.
LOCALES: dict[str, LocaleSpec] = {
    spec.locale: spec
    for spec in (
        LocaleSpec("sv_SE", "SE", "Sweden", "SEK", ("telia.com", "hotmail.se", "bredband.net")),
        LocaleSpec("no_NO", "NO", "Norway", "NOK", ("online.no", "hotmail.no", "getmail.no")),
        LocaleSpec("da_DK", "DK", "Denmark", "DKK", ("mail.dk", "hotmail.dk", "jubii.dk")),
        LocaleSpec("fi_FI", "FI", "Finland", "EUR", ("elisanet.fi", "luukku.com", "suomi24.fi")),
        LocaleSpec("de_DE", "DE", "Germany", "EUR", ("gmx.de", "web.de", "t-online.de")),
        LocaleSpec("en_GB", "GB", "United Kingdom", "GBP", ("btinternet.com", "hotmail.co.uk")),
        LocaleSpec("nl_NL", "NL", "Netherlands", "EUR", ("ziggo.nl", "kpnmail.nl", "hotmail.nl")),
        LocaleSpec("fr_FR", "FR", "France", "EUR", ("orange.fr", "free.fr", "laposte.net")),
        LocaleSpec("es_ES", "ES", "Spain", "EUR", ("yahoo.es", "hotmail.es", "telefonica.net")),
        LocaleSpec("en_US", "US", "United States", "USD", ("yahoo.com", "aol.com", "comcast.net")),
    )
}

# Mail providers used in every market; gmail matters most because it ignores dots and +tags.
GLOBAL_EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "icloud.com", "yahoo.com")

# Euro exchange rates used to price the catalogue and to convert spend into loyalty points.
EUR_RATES = {"EUR": 1.0, "SEK": 11.2, "NOK": 11.6, "DKK": 7.46, "GBP": 0.85, "USD": 1.08}


@dataclass(frozen=True)
class NoiseRates:
    """Per-field defect probabilities at noise_level 1.0 (see noise.py for what each does)."""

    name_typo: float = 0.04
    name_nickname: float = 0.08  # applied only when the first name has a known nickname
    name_swapped: float = 0.015
    name_case: float = 0.03
    name_ascii_folded: float = 0.10  # applied only to names with letters outside ASCII
    name_missing: float = 0.015
    email_missing: float = 0.05
    email_junk: float = 0.015
    email_case: float = 0.07
    email_gmail_variant: float = 0.12  # dots / +tag, applied only to gmail addresses
    email_plus_tag: float = 0.02
    email_domain_typo: float = 0.01
    email_malformed: float = 0.015
    email_whitespace: float = 0.02
    phone_missing: float = 0.06
    phone_junk: float = 0.015
    birth_date_missing: float = 0.06
    birth_date_compact: float = 0.05  # YYYYMMDD
    birth_date_invalid: float = 0.015
    birth_date_default: float = 0.004  # 1900-01-01, the classic "unknown" placeholder
    birth_date_day_month_swapped: float = 0.006
    address_abbreviated: float = 0.08
    address_case: float = 0.04
    address_typo: float = 0.02
    address_postal_format: float = 0.10
    address_missing_part: float = 0.03
    country_not_iso: float = 0.04  # blank, lower case or the country's English name


@dataclass(frozen=True)
class HeavyNoiseRates:
    """The ``noise_profile="heavy"`` corruption of CRM and loyalty person records.

    Modelled on Christen & Pudjijono (2009), "Accurate synthetic generation of realistic
    personal information", and their GeCo generator: a person's first record has each field
    corrupted at the per-field rates below; each person gets 1..``duplicates_max`` extra
    records (a Zipf draw, so most get one or two) and each of those 1..4 corruptions whose kind
    is drawn from ``kind_weights``. heavy_noise.py says what every kind does. These rates apply
    on top of ``NoiseRates`` (case, formats, nicknames); ``noise_level`` does not scale them.
    """

    # First records: probability that the field gets one corruption of a kind that fits it.
    first_name: float = 0.15
    last_name: float = 0.12
    birth_date: float = 0.10
    street: float = 0.15
    postal_code: float = 0.08
    city: float = 0.08
    name_swapped: float = 0.04  # given name and surname exchanged
    # A typing corruption (keyboard, edit) makes a second edit in the same value this often.
    second_edit: float = 0.25
    # Duplicates: the share of persons with any, and how many (P(k) ~ k^-exponent, 1..max).
    crm_duplicate_share: float = 1.0
    loyalty_duplicate_share: float = 0.4
    duplicates_max: int = 9
    duplicates_zipf_exponent: float = 2.0
    corruptions_per_duplicate: tuple[int, int] = (1, 4)  # uniform, inclusive
    kind_weights: tuple[tuple[str, float], ...] = (
        ("keyboard", 0.14),
        ("edit", 0.14),
        ("ocr", 0.06),
        ("phonetic", 0.10),
        ("name_variant", 0.12),
        ("missing", 0.10),
        ("name_swap", 0.04),
        ("birth_date", 0.12),
        ("postcode", 0.07),
        ("house_number", 0.05),
        ("street_format", 0.06),
    )


@dataclass(frozen=True)
class HeavyHouseholds:
    """The ``households="heavy"`` population: people whom only a birth date tells apart."""

    # single, couple, family, flat-sharers: most people live with family.
    household_weights: tuple[float, float, float, float] = (0.08, 0.20, 0.62, 0.10)
    children_choices: tuple[int, ...] = (2, 2, 3, 3, 4)
    twin_share_of_families: float = 0.45
    # Twins named one letter apart (Juhani / Juhana), when a real name is that near.
    twin_near_name_share: float = 0.80
    namesake_share_of_families: float = 0.30  # a son with his father's first name
    similar_sibling_share: float = 0.30  # a younger sibling with a look-alike name


NOISE_PROFILES = ("default", "heavy")
PERSON_IDENTIFIERS = ("all", "none")
HOUSEHOLD_PROFILES = ("default", "heavy")


class SettingError(ValueError):
    """A bad value for one generator option; ``option`` is its Python name."""

    def __init__(self, option: str, detail: str):
        super().__init__(f"{option}: {detail}")
        self.option = option
        self.detail = detail


def _check_choice(option: str, value: object, known: tuple[str, ...]) -> None:
    if value not in known:
        raise SettingError(option, f"unknown value {value!r} (known: {', '.join(known)})")


@dataclass(frozen=True)
class GeneratorSettings:
    """All knobs of one generator run; ``to_dict`` is logged in ``_truth/manifest.json``."""

    noise_level: float = 1.0
    noise: NoiseRates = field(default_factory=NoiseRates)
    locale_weights: tuple[tuple[str, float], ...] = (
        ("sv_SE", 0.25),
        ("no_NO", 0.10),
        ("da_DK", 0.10),
        ("fi_FI", 0.10),
        ("de_DE", 0.10),
        ("en_GB", 0.10),
        ("nl_NL", 0.07),
        ("fr_FR", 0.06),
        ("es_ES", 0.06),
        ("en_US", 0.06),
    )
    # Household make-up: single, couple, family with grown-up children, flat-sharers.
    household_weights: tuple[float, float, float, float] = (0.40, 0.32, 0.22, 0.06)
    twin_share_of_families: float = 0.15
    move_rate_per_year: float = 0.10
    past_move_share: float = 0.20
    old_email_share: float = 0.25
    family_email_share: float = 0.12
    landline_share: float = 0.30
    mobile_share: float = 0.95

    crm_share: float = 0.70
    loyalty_share_with_crm: float = 0.60
    loyalty_share_without_crm: float = 0.27
    crm_new_per_year: float = 0.15
    crm_duplicate_rate: float = 0.03
    crm_web_signup_share: float = 0.55
    crm_links_loyalty: float = 0.85  # CRM row carries the loyalty_id (when the pair is linked)
    crm_loyalty_no_shared_id: float = 0.10  # pairs that share no identifier at all
    consent_change_per_year: float = 0.30
    loyalty_new_per_year: float = 0.15
    loyalty_close_per_year: float = 0.04
    loyalty_reissue_share: float = 0.60

    receipts_per_year: float = 5.5
    # Customers drift away: this share stops shopping and browsing for good on a day drawn
    # uniformly over the period (so recent behaviour says more than lifetime totals).
    lapse_share: float = 0.30
    persons_per_store: int = 3000
    cash_share: float = 0.25
    second_card_share: float = 0.25
    shared_card_share: float = 0.04
    loyalty_swipe_share: float = 0.85
    household_card_share: float = 0.25  # no own card: swipe a household member's card
    store_card_rate: float = 0.12  # card-less customer: cashier swipes the store's own card
    return_rate: float = 0.08
    exchange_line_rate: float = 0.015

    web_active_share: float = 0.80
    app_user_share: float = 0.30
    sessions_per_year: float = 10.0
    # Share of a web user's store visits preceded by a browsing session, 1..research_max_days
    # days before.
    research_share: float = 0.6
    research_max_days: int = 14
    shared_device_share: float = 0.05
    junk_form_email_rate: float = 0.04

    split_file_rate: float = 0.10

    # Harder data for identity-resolution evaluation (see the module docstring).
    noise_profile: str = "default"
    heavy_noise: HeavyNoiseRates = field(default_factory=HeavyNoiseRates)
    person_identifiers: str = "all"
    households: str = "default"
    heavy_households: HeavyHouseholds = field(default_factory=HeavyHouseholds)

    def __post_init__(self) -> None:
        _check_choice("noise_profile", self.noise_profile, NOISE_PROFILES)
        _check_choice("person_identifiers", self.person_identifiers, PERSON_IDENTIFIERS)
        _check_choice("households", self.households, HOUSEHOLD_PROFILES)

    @property
    def heavy(self) -> bool:
        """True under ``noise_profile="heavy"``."""
        return self.noise_profile == "heavy"

    @property
    def with_identifiers(self) -> bool:
        """False under ``person_identifiers="none"``: person records carry no email/phone/id."""
        return self.person_identifiers == "all"

    def to_dict(self) -> dict:
        """JSON-serialisable form, so a run records exactly what it used.

        The rates of a heavy profile appear only when that profile is chosen: a default run's
        manifest should not list corruption rates it never applied.
        """
        out = asdict(self)
        if not self.heavy:
            del out["heavy_noise"]
        if self.households != "heavy":
            del out["heavy_households"]
        return out


def _locale_weights(value: Mapping[str, float] | Iterable[tuple[str, float]]):
    pairs = list(value.items() if isinstance(value, Mapping) else value)
    if not pairs:
        raise SettingError("locale_weights", "give at least one locale")
    out = []
    for pair in pairs:
        try:
            locale, weight = pair
            weight = float(weight)
        except (TypeError, ValueError):
            raise SettingError(
                "locale_weights", f"expected (locale, weight), got {pair!r}"
            ) from None
        if locale not in LOCALES:
            known = ", ".join(LOCALES)
            raise SettingError("locale_weights", f"unknown locale {locale!r} (known: {known})")
        if not math.isfinite(weight) or weight < 0:
            raise SettingError("locale_weights", f"bad weight {weight!r} for {locale}")
        out.append((locale, weight))
    if not any(w > 0 for _, w in out):
        raise SettingError("locale_weights", "at least one weight must be above 0")
    return tuple(out)


def generator_settings(
    noise_profile: str = "default",
    person_identifiers: str = "all",
    households: str = "default",
    locale_weights: Mapping[str, float] | Iterable[tuple[str, float]] | None = None,
    *,
    noise_level: float = 1.0,
) -> GeneratorSettings:
    """Settings for one of the generator's profiles; a bad value raises ``SettingError``
    (a ``ValueError``) naming the option.

    ``noise_profile``: "default" or "heavy" (GeCo-style corruption and 1..9 duplicates per
    person in CRM and loyalty). ``person_identifiers``: "all" or "none" (CRM and loyalty rows
    without email, phone and loyalty_id, so only names, birth date and address link them).
    ``households``: "default" or "heavy" (families, twins, namesakes, look-alike siblings).
    ``locale_weights``: {locale: weight} or (locale, weight) pairs; None keeps the default mix.
    """
    _check_choice("noise_profile", noise_profile, NOISE_PROFILES)
    _check_choice("person_identifiers", person_identifiers, PERSON_IDENTIFIERS)
    _check_choice("households", households, HOUSEHOLD_PROFILES)
    try:
        level = float(noise_level)
    except (TypeError, ValueError):
        raise SettingError("noise_level", f"expected a number, got {noise_level!r}") from None
    if not math.isfinite(level) or level < 0:
        raise SettingError("noise_level", f"expected a level of 0 or more, got {noise_level!r}")
    extra = {} if locale_weights is None else {"locale_weights": _locale_weights(locale_weights)}
    return GeneratorSettings(
        noise_level=level,
        noise_profile=noise_profile,
        person_identifiers=person_identifiers,
        households=households,
        **extra,
    )

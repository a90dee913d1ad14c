"""Typed knobs of the synthetic source-data generator.

Every rate is a probability per record (or per person, or per year where the name says so).
The defaults aim at what a mid-sized Nordic/European retailer's systems look like: roughly
5-15 % of records carry some defect. ``noise_level`` scales every defect rate at once, so a
test can ask for clean data (0.0) or a stress run (2.0) without touching the individual rates.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict:
        """JSON-serialisable form, so a run records exactly what it used."""
        return asdict(self)

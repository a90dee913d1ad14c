"""Field normalisers for the silver layer: pure Python, one value in, one value out.

The silver jobs wrap these in Spark pandas UDFs, so every function is total (any ``str`` or
``None`` in, never an exception out), deterministic and cheap. Functions that can find a
problem return ``(value, issue)``: ``issue`` is one of ``ISSUE_CODES`` or ``None``. Missing
input (``None``, blank, or a common null spelling such as ``"N/A"``) is not an issue; it
gives ``(None, None)``.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import unicodedata

import email_validator
import phonenumbers

INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"
INVALID_DATE = "invalid_date"
IMPLAUSIBLE_DATE = "implausible_date"
PLACEHOLDER_DATE = "placeholder_date"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_CONSENT = "invalid_consent"
INVALID_COUNTRY = "invalid_country"
INVALID_NUMBER = "invalid_number"

# normalise_email reports validity as a bool; the silver job turns False into INVALID_EMAIL,
# so the code is listed here for the data-quality tables to share one vocabulary.
ISSUE_CODES: frozenset[str] = frozenset(
    {
        INVALID_EMAIL,
        INVALID_PHONE,
        INVALID_DATE,
        IMPLAUSIBLE_DATE,
        PLACEHOLDER_DATE,
        INVALID_TIMESTAMP,
        INVALID_CONSENT,
        INVALID_COUNTRY,
        INVALID_NUMBER,
    }
)

DEFAULT_DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y")

# What spreadsheets, exports and pandas write for "no value".
# Not "nan": Nan is a first name. pandas hands a UDF real NaN floats, handled in _text.
_NULL_SPELLINGS = frozenset({"null", "none", "n/a", "#n/a", "-"})

# Invisible characters that copy-paste leaves in form data; they never carry meaning.
_INVISIBLE = "\u200b\u2060\ufeff\u00ad"
# Joiners matter inside some scripts' names but never inside an address, number or code.
_INVISIBLE_AND_JOINERS = _INVISIBLE + "\u200c\u200d"


def _drop(text: str, chars: str) -> str:
    # str.replace scans with memchr; str.translate with a dict costs a lookup per character,
    # which a pasted megabyte in one cell turns into a tenth of a second.
    for char in chars:
        if char in text:
            text = text.replace(char, "")
    return text


# Longer input than this is garbage for a code-like field; bailing out early keeps the UDFs
# fast on pathological rows (a whole file pasted into one cell).
_MAX_CODE_LENGTH = 100
_MAX_EMAIL_LENGTH = 320


def _text(raw: object) -> str | None:
    """The input as ``str``; ``None`` for None and float NaN (what pandas hands a UDF)."""
    if raw is None:
        return None
    if isinstance(raw, float) and math.isnan(raw):
        return None
    return raw if isinstance(raw, str) else str(raw)


def is_blank(raw: str | None) -> bool:
    """True for None, empty or whitespace-only text, and common null spellings."""
    text = _text(raw)
    if text is None:
        return True
    stripped = _drop(text, _INVISIBLE).strip()
    return not stripped or (len(stripped) <= 4 and stripped.casefold() in _NULL_SPELLINGS)


def _clean_code(raw: str | None, max_length: int | None = None) -> str | None:
    """Trimmed NFKC text without invisible characters, or None when blank.

    NFKC folds full-width digits and letters (typed with an East Asian input method) to ASCII.
    Text longer than ``max_length`` comes back un-normalised: the caller rejects it anyway.
    """
    if is_blank(raw):
        return None
    text = _drop(_text(raw), _INVISIBLE_AND_JOINERS).strip()
    if max_length is not None and len(text) > max_length:
        return text
    return unicodedata.normalize("NFKC", text).strip() or None


# --- email -----------------------------------------------------------------------------------

_EMAIL_WRAPPERS = "\"'<>"


def _unwrap_email(text: str) -> str:
    """Strip display names, angle brackets, ``mailto:``, quotes and list separators."""
    for _ in range(5):
        before = text
        if text.endswith(">") and "<" in text:
            # "Anna Berg <anna@example.com>": the address is inside the last brackets.
            text = text[text.rfind("<") + 1 : -1]
        if text[:7].lower() == "mailto:":
            text = text[7:].split("?", 1)[0]
        text = text.strip().rstrip(",;").strip(_EMAIL_WRAPPERS).strip()
        if text == before:
            break
    return text


def normalise_email(raw: str | None) -> tuple[str | None, bool | None]:
    """Trimmed, unwrapped, lower-case address and whether its syntax is valid.

    ``(None, None)`` when blank. Invalid addresses are still returned (normalised) so the silver
    row keeps them, flagged. Deliverability (DNS) is never checked: the job runs offline.
    """
    text = _clean_code(raw)
    if text is None:
        return None, None
    # NFKC again: lower-casing can leave a compatibility character behind.
    text = unicodedata.normalize("NFKC", _unwrap_email(text).lower())
    if is_blank(text):  # "<>", "'-'" and the like: wrapping around nothing
        return None, None
    if len(text) > _MAX_EMAIL_LENGTH or "@" not in text:
        return text, False
    try:
        validated = email_validator.validate_email(text, check_deliverability=False)
    except Exception:  # the library's own errors and any surprise alike mean invalid
        return text, False
    # The library's form has an NFC local part and a Unicode (not punycode) domain, so the two
    # spellings of an internationalised domain meet.
    return validated.normalized.lower(), True


_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# What staff type when a customer gives no address ("test@test.com", "kund@butiken.se"): valid
# syntax, but as an identity key it would merge every customer who "has" it.
_PLACEHOLDER_LOCAL_PARTS = frozenset(
    {"test", "none", "noemail", "nomail", "no", "noreply", "no-reply", "donotreply", "null"}
    | {"x", "xx", "xxx", "na", "unknown", "dummy", "fake", "customer", "kund", "kunde"}
)


def email_match_key(email: str | None) -> str | None:
    """Identity key of a valid address: no ``+tag``; for Gmail also no dots in the local part.

    None for blank, invalid and placeholder addresses, so neither links two people.
    """
    normalised, is_valid = normalise_email(email)
    if not is_valid or normalised is None:
        return None
    local, _, domain = normalised.rpartition("@")
    # Sub-addressing (RFC 5233) is delivered to the same mailbox by every large provider.
    untagged = local.split("+", 1)[0]
    local = untagged or local
    if local in _PLACEHOLDER_LOCAL_PARTS:
        return None
    if domain in _GMAIL_DOMAINS:
        # Gmail ignores dots in the local part and treats googlemail.com as an alias.
        domain = "gmail.com"
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


# --- phone -----------------------------------------------------------------------------------


def _valid_number(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except Exception:  # NumberParseException and any surprise mean "not this way"
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _phone_region(raw: str | None) -> str | None:
    """A region libphonenumber knows (ISO alpha-2, plus its AC and TA), from a code or name."""
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is not None and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    region, _ = normalise_country(text)
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def _is_placeholder(number: phonenumbers.PhoneNumber) -> bool:
    """One digit repeated or a straight run (123456789): typed when the customer gave none."""
    digits = phonenumbers.national_significant_number(number)
    return len(set(digits)) == 1 or digits in "01234567890" or digits in "9876543210"


def normalise_phone(raw: str | None, default_region: str | None) -> tuple[str | None, str | None]:
    """E.164 form of a phone number, reading national numbers in ``default_region``.

    Extensions are dropped. Numbers that libphonenumber's metadata does not accept as valid,
    and placeholders that it does (+46 123456789), give ``(None, "invalid_phone")``.
    """
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return None, None
    if len(text) > _MAX_CODE_LENGTH:
        return None, INVALID_PHONE
    region = _phone_region(default_region)
    candidates = [text]
    if text.startswith("00"):
        # 00 is the international prefix in most of the world but not everywhere (011 in North
        # America), so a leading 00 is read as "+" when the region's own prefix fails. Digits
        # without either stay national: guessing a country code would link strangers.
        candidates.append("+" + text[2:])
    for candidate in candidates:
        number = _valid_number(candidate, region)
        if number is not None and not _is_placeholder(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    return None, INVALID_PHONE


# --- names -----------------------------------------------------------------------------------

# Lower-case in the middle of a name ("Ludwig van Beethoven", "Anna von der Leyen") but
# capitalised when they open it, the Dutch and Flemish rule for a surname standing alone.
_NAME_PARTICLES = frozenset(
    {"af", "av", "da", "das", "de", "del", "della", "den", "der", "di", "do", "dos", "du"}
    | {"la", "le", "ten", "ter", "van", "von", "y", "zu", "zum", "zur"}
)
_APOSTROPHES = "'\u2019\u02bc`\u00b4"


def _is_stray(char: str) -> bool:
    """Punctuation, symbols (emoji), separators and controls: nothing a name ends with."""
    return unicodedata.category(char)[0] in "PSZC"


def _title_word(word: str, is_inner: bool) -> str:
    """Title case one lower-case, whitespace-free word: "anna-lena" -> "Anna-Lena"."""
    if is_inner and word in _NAME_PARTICLES:
        return word
    chars = list(word)
    for i, char in enumerate(chars):
        if i == 0:
            capitalise = True
        else:
            prev = chars[i - 1]
            if prev in _APOSTROPHES:
                # O'Brien, D'Angelo, but not Ng'ang'a: only after a one-letter prefix.
                capitalise = i == 2
            else:
                capitalise = not (prev.isalnum() or unicodedata.category(prev).startswith("M"))
        if capitalise:
            upper = char.title()
            # Keep letters without a one-character capital (ß -> "Ss") as written.
            if len(upper) == 1:
                chars[i] = upper
    if len(chars) > 2 and chars[0] == "M" and chars[1] == "c" and chars[2].isalpha():
        upper = chars[2].upper()
        if len(upper) == 1:
            chars[2] = upper
    return "".join(chars)


def normalise_name(raw: str | None) -> str | None:
    """Display form of a personal name: NFC, trimmed, single spaces, sensible capitals.

    Letters stay as written (Å, ø, ß, accents). Only ALL-CAPS and all-lower input is recased;
    mixed case ("McDonald", "DeShawn", "van Dijk") is kept as the person typed it.
    """
    if is_blank(raw):
        return None
    # Controls inside a name are paste damage; whitespace ones (tab, CR) separate words.
    text = _drop(_text(raw), _INVISIBLE)
    text = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    text = unicodedata.normalize("NFC", text)
    start, end = 0, len(text)
    while start < end and _is_stray(text[start]):
        start += 1
    while end > start and _is_stray(text[end - 1]):
        end -= 1
    words = text[start:end].split()
    if not words:
        return None
    text = " ".join(words)
    is_all_upper = text.upper() == text and text.lower() != text
    is_all_lower = text.lower() == text and text.upper() != text
    if not (is_all_upper or is_all_lower):
        return text
    # Turkish dotted capital I lower-cases to i + combining dot in Python; plain i is right.
    words = unicodedata.normalize("NFC", text.replace("\u0130", "i").lower()).split()
    last = len(words) - 1
    titled = [_title_word(word, 0 < i < last) for i, word in enumerate(words)]
    return unicodedata.normalize("NFC", " ".join(titled))


# Letters NFKD leaves whole (they are not base letter + accent) but people type without.
_NAME_FOLDS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i", "ħ": "h"}
)


def name_match_key(raw: str | None) -> str | None:
    """Comparison key for a name: ASCII-folded where possible, lower-case, letters only.

    "Åsa-Britt Øberg" -> "asa britt oberg"; "O'Brien" -> "obrien". None when nothing is left.
    """
    if is_blank(raw):
        return None
    text = _drop(_text(raw), _INVISIBLE_AND_JOINERS + _APOSTROPHES)
    text = unicodedata.normalize("NFKD", text).casefold().translate(_NAME_FOLDS)
    # Apostrophes again: NFKD turns some letters (ŉ) into apostrophe + letter.
    text = _drop(unicodedata.normalize("NFKD", text), _APOSTROPHES)
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category in ("Mn", "Me"):
            continue
        # Spacing marks (Mc) are vowel signs in Indic scripts: part of the word, not a gap.
        out.append(char if char.isalpha() or category == "Mc" else " ")
    key = " ".join("".join(out).split())
    return key or None


# --- dates and timestamps ----------------------------------------------------------------------

_REFERENCE_DATE = datetime.date(2000, 12, 31)
_UTC_SUFFIX = re.compile(r"\s*(?:UTC|GMT)$")


def _is_compact(fmt: str) -> bool:
    return not re.sub(r"%.", "", fmt)


def _iso_datetime(text: str) -> datetime.datetime | None:
    """``datetime.fromisoformat`` plus the spellings exports use: ``t``/``z``, " UTC"."""
    if len(text) > _MAX_CODE_LENGTH:
        return None
    text = _UTC_SUFFIX.sub("+00:00", text.upper())
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_date(
    raw: str | None,
    formats: tuple[str, ...] = DEFAULT_DATE_FORMATS,
    min_year: int = 1900,
    max_date: datetime.date | None = None,
) -> tuple[datetime.date | None, str | None]:
    """A calendar date from one of ``formats`` or an ISO timestamp (its date as written).

    Impossible dates give ``"invalid_date"``; dates before ``min_year`` or after ``max_date``
    (say, the batch date for a birth date) give ``"implausible_date"``.
    """
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return None, None
    if len(text) > _MAX_CODE_LENGTH:
        return None, INVALID_DATE
    parsed: datetime.date | None = None
    for fmt in formats:
        # strptime reads "1985031" as 1985-03-01; a separator-free format needs every digit.
        if _is_compact(fmt) and len(text) != len(_REFERENCE_DATE.strftime(fmt)):
            continue
        try:
            parsed = datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        break
    if parsed is None:
        stamp = _iso_datetime(text)
        if stamp is None:
            return None, INVALID_DATE
        # The date the source wrote down, not shifted to UTC: a birth date has no time zone.
        parsed = stamp.date()
    if isinstance(max_date, datetime.datetime):
        max_date = max_date.date()
    if parsed.year < min_year or (max_date is not None and parsed > max_date):
        return None, IMPLAUSIBLE_DATE
    return parsed, None


def parse_timestamp(raw: str | None) -> tuple[datetime.datetime | None, str | None]:
    """An ISO-8601 timestamp as a naive UTC datetime (offsets converted, none means UTC).

    Accepts ``Z``, ``+02:00``/``+0200``, a space for ``T``, missing seconds and date-only.
    """
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return None, None
    stamp = _iso_datetime(text)
    if stamp is None:
        return None, INVALID_TIMESTAMP
    if stamp.tzinfo is not None:
        try:
            stamp = stamp.astimezone(datetime.UTC).replace(tzinfo=None)
        except (OverflowError, ValueError):
            # 0001-01-01T00:00+01:00 is before datetime.min once in UTC.
            return None, INVALID_TIMESTAMP
    return stamp, None


# --- consent ---------------------------------------------------------------------------------

GRANTED = "granted"
DENIED = "denied"
UNKNOWN = "unknown"

_CONSENT_VALUES = {
    **dict.fromkeys(
        ("y", "yes", "true", "t", "1", "1.0", "granted", "optin", "optedin", "accepted", "ja"),
        GRANTED,
    ),
    **dict.fromkeys(
        ("n", "no", "false", "f", "0", "0.0", "denied", "optout", "optedout", "declined"),
        DENIED,
    ),
    # Nordic and German spellings turn up in hand-edited extracts.
    **dict.fromkeys(("nej", "nei", "nein"), DENIED),
}


def parse_consent(raw: str | None) -> tuple[str, str | None]:
    """``"granted"``, ``"denied"`` or ``"unknown"``; unreadable values are unknown and flagged.

    Unknown never counts as granted: a purpose needs an explicit yes.
    """
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return UNKNOWN, None
    if len(text) > _MAX_CODE_LENGTH:
        return UNKNOWN, INVALID_CONSENT
    # "opt in", "opt_in", "Opt-In" are one word; "-1" keeps its minus (and is not a yes).
    key = re.sub(r"(?<=[a-z])[\s_-]+(?=[a-z])", "", text.casefold())
    value = _CONSENT_VALUES.get(key)
    if value is None:
        return UNKNOWN, INVALID_CONSENT
    return value, None


# --- country and postal code -------------------------------------------------------------------

# Every officially assigned ISO 3166-1 alpha-2 code (249), plus XK (Kosovo), which the EU and
# most data providers use although ISO has not assigned it.
_ALPHA2_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW XK
"""
_ALPHA2 = frozenset(_ALPHA2_CODES.split())

# alpha-2, alpha-3, then names (English and the country's own) as customers type them.
_COUNTRIES: tuple[tuple[str, ...], ...] = (
    ("US", "USA", "United States", "United States of America", "America"),
    ("GB", "GBR", "United Kingdom", "UK", "Great Britain", "Britain", "England", "Scotland")
    + ("Wales", "Northern Ireland"),
    ("SE", "SWE", "Sweden", "Sverige"),
    ("NO", "NOR", "Norway", "Norge", "Noreg"),
    ("DK", "DNK", "Denmark", "Danmark"),
    ("FI", "FIN", "Finland", "Suomi"),
    ("IS", "ISL", "Iceland", "Ísland"),
    ("DE", "DEU", "Germany", "Deutschland"),
    ("FR", "FRA", "France"),
    ("ES", "ESP", "Spain", "España"),
    ("NL", "NLD", "Netherlands", "The Netherlands", "Holland", "Nederland"),
    ("BE", "BEL", "Belgium", "België", "Belgique"),
    ("LU", "LUX", "Luxembourg"),
    ("IE", "IRL", "Ireland", "Republic of Ireland", "Éire"),
    ("IT", "ITA", "Italy", "Italia"),
    ("PL", "POL", "Poland", "Polska"),
    ("PT", "PRT", "Portugal"),
    ("AT", "AUT", "Austria", "Österreich"),
    ("CH", "CHE", "Switzerland", "Schweiz", "Suisse", "Svizzera"),
    ("EE", "EST", "Estonia", "Eesti"),
    ("LV", "LVA", "Latvia", "Latvija"),
    ("LT", "LTU", "Lithuania", "Lietuva"),
    ("CZ", "CZE", "Czechia", "Czech Republic"),
    ("SK", "SVK", "Slovakia"),
    ("HU", "HUN", "Hungary"),
    ("RO", "ROU", "Romania"),
    ("BG", "BGR", "Bulgaria"),
    ("GR", "GRC", "Greece", "EL"),
    ("HR", "HRV", "Croatia"),
    ("SI", "SVN", "Slovenia"),
    ("RS", "SRB", "Serbia"),
    ("CY", "CYP", "Cyprus"),
    ("MT", "MLT", "Malta"),
    ("UA", "UKR", "Ukraine"),
    ("RU", "RUS", "Russia", "Russian Federation"),
    ("TR", "TUR", "Turkey", "Türkiye"),
    ("GL", "GRL", "Greenland"),
    ("FO", "FRO", "Faroe Islands"),
    ("AX", "ALA", "Aland Islands"),
    ("CA", "CAN", "Canada"),
    ("MX", "MEX", "Mexico"),
    ("BR", "BRA", "Brazil", "Brasil"),
    ("AR", "ARG", "Argentina"),
    ("AU", "AUS", "Australia"),
    ("NZ", "NZL", "New Zealand"),
    ("JP", "JPN", "Japan"),
    ("CN", "CHN", "China"),
    ("IN", "IND", "India"),
    ("KR", "KOR", "South Korea", "Korea"),
    ("SG", "SGP", "Singapore"),
    ("HK", "HKG", "Hong Kong"),
    ("ZA", "ZAF", "South Africa"),
    ("AE", "ARE", "United Arab Emirates", "UAE"),
    ("IL", "ISR", "Israel"),
)


def _country_key(text: str) -> str:
    # Dots out first so "U.S.A." becomes "usa", not the three tokens "u s a".
    key = name_match_key(text.replace(".", "")) or ""
    return key.removeprefix("the ")


_COUNTRY_BY_KEY = {
    _country_key(name): row[0] for row in _COUNTRIES for name in row[1:] if name != "EL"
}
_COUNTRY_BY_KEY["el"] = "GR"  # the EU's own code for Greece (VAT, Eurostat)


def normalise_country(raw: str | None) -> tuple[str | None, str | None]:
    """ISO 3166-1 alpha-2 code from an alpha-2 or alpha-3 code or a common country name."""
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return None, None
    if len(text) > _MAX_CODE_LENGTH:
        return None, INVALID_COUNTRY
    # "U.S." and "u.k" are codes too, once the dots are gone.
    code = text.replace(".", "").strip().upper()
    if len(code) == 2 and code in _ALPHA2:
        return code, None
    code = _COUNTRY_BY_KEY.get(_country_key(text))
    if code is None:
        return None, INVALID_COUNTRY
    return code, None


def _us_zip(match: re.Match[str]) -> str:
    return f"{match[1]}-{match[2]}" if match[2] else match[1]


# Per country: the full match on the upper-case code with spaces removed, and its written form.
# Optional prefixes are the country markers of old Nordic and German envelopes ("S-123 45").
_POSTAL_RULES = {
    "SE": (r"(?:SE-?|S-)?(\d{3})(\d{2})", "{0} {1}"),
    "NO": (r"(?:NO-?|N-)?(\d{4})", "{0}"),
    "DK": (r"(?:DK-?)?(\d{4})", "{0}"),
    "FI": (r"(?:FI-?|SF-)?(\d{5})", "{0}"),
    "DE": (r"(?:DE-?|D-)?(\d{5})", "{0}"),
    "FR": (r"(?:FR-?|F-)?(\d{5})", "{0}"),
    "ES": (r"(?:ES-?|E-)?(\d{5})", "{0}"),
    "IT": (r"(?:IT-?|I-)?(\d{5})", "{0}"),
    "NL": (r"(?:NL-?)?(\d{4})([A-Z]{2})", "{0} {1}"),
    "PL": (r"(?:PL-?)?(\d{2})-?(\d{3})", "{0}-{1}"),
    # Outward code (area + district) then inward code (sector + unit), one space between.
    "GB": (r"([A-Z]{1,2}\d[A-Z\d]?|GIR)(\d[A-Z]{2})", "{0} {1}"),
    # Eircode: routing key then unique identifier.
    "IE": (r"([AC-FHKNPRTV-Y]\d{2}|D6W)([\dAC-FHKNPRTV-Y]{4})", "{0} {1}"),
    "CA": (r"([A-Z]\d[A-Z])(\d[A-Z]\d)", "{0} {1}"),
    "US": (r"(\d{5})(?:-?(\d{4}))?", _us_zip),
}
_POSTAL_PATTERNS = {
    country: (re.compile(pattern, re.ASCII), form)
    for country, (pattern, form) in _POSTAL_RULES.items()
}


def normalise_postal_code(raw: str | None, country: str | None) -> str | None:
    """Upper-case, single-spaced postal code, in the national layout when it fits one.

    SE "12345" -> "123 45", GB "sw1a1aa" -> "SW1A 1AA", NL "1234ab" -> "1234 AB". A code
    that fits no known layout is kept (upper-cased, trimmed) for a human to judge.
    """
    text = _clean_code(raw)
    if text is None:
        return None
    # NFKC again: upper-casing can leave a compatibility character behind.
    text = " ".join(unicodedata.normalize("NFKC", text.upper()).split())
    if len(text) > _MAX_CODE_LENGTH:
        return text
    country_code, _ = normalise_country(country)
    rule = _POSTAL_PATTERNS.get(country_code or "")
    if rule is None:
        return text
    pattern, form = rule
    match = pattern.fullmatch(text.replace(" ", ""))
    if match is None:
        return text
    if callable(form):
        return form(match)
    return form.format(*match.groups())


# --- numbers ---------------------------------------------------------------------------------

_SIGN = re.compile(r"([+\-\u2212]?)\s*(.*)", re.DOTALL)
_EXPONENT = r"(?:[eE][+-]?\d{1,3})?"
_PLAIN = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)" + _EXPONENT, re.ASCII)
_COMMA_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_DECIMAL_COMMA = re.compile(r"\d*,\d+", re.ASCII)
_DOT_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:\.\d{3}){2,}", re.ASCII)
# Space-like and apostrophe group separators: Nordic/French "1 234,50", Swiss "1'234.50".
_SPACE_THOUSANDS = re.compile(
    r"\d{1,3}(?:[ \u00a0\u202f\u2009'\u2019]\d{3})+(?:[.,]\d+)?", re.ASCII
)
_GROUP_SEPARATORS = dict.fromkeys(map(ord, " \u00a0\u202f\u2009'\u2019"), None)
# Spark's widest decimal is DecimalType(38, s); anything beyond cannot be stored anyway.
_MAX_PRECISION = 38
_INT64 = (-(2**63), 2**63 - 1)


def _canonical_number(body: str) -> str | None:
    """The digits of ``body`` with "." as the only decimal separator, or None."""
    if _PLAIN.fullmatch(body):
        return body
    if _COMMA_THOUSANDS.fullmatch(body):
        # "1,234" is read as one thousand two hundred and thirty-four, as in the US extracts.
        return body.replace(",", "")
    if _DECIMAL_COMMA.fullmatch(body):
        return body.replace(",", ".")
    if _DOT_THOUSANDS.fullmatch(body):
        return body.replace(".", "").replace(",", ".")
    if _SPACE_THOUSANDS.fullmatch(body):
        return body.translate(_GROUP_SEPARATORS).replace(",", ".")
    return None


def parse_decimal(raw: str | None) -> tuple[decimal.Decimal | None, str | None]:
    """A finite Decimal from "12.50", "-3", "1,234.5", "12,50" (decimal comma), "1 234,50".

    A lone comma followed by exactly three digits is a thousands separator ("1,234" is 1234).
    """
    text = _clean_code(raw, _MAX_CODE_LENGTH)
    if text is None:
        return None, None
    if len(text) > _MAX_CODE_LENGTH:
        return None, INVALID_NUMBER
    sign, body = _SIGN.fullmatch(text).groups()
    canonical = _canonical_number(body)
    if canonical is None:
        return None, INVALID_NUMBER
    value = decimal.Decimal(("-" if sign in ("-", "\u2212") else "") + canonical)
    digits, exponent = len(value.as_tuple().digits), value.as_tuple().exponent
    if digits > _MAX_PRECISION or exponent < -_MAX_PRECISION or value.adjusted() >= _MAX_PRECISION:
        return None, INVALID_NUMBER
    return value, None


def parse_int(raw: str | None) -> tuple[int | None, str | None]:
    """A 64-bit integer from "12", "-3", "1,234" or "12.0"; fractions are invalid."""
    value, issue = parse_decimal(raw)
    if value is None:
        return None, issue
    if value != value.to_integral_value():
        return None, INVALID_NUMBER
    number = int(value)
    if not _INT64[0] <= number <= _INT64[1]:
        return None, INVALID_NUMBER
    return number, None

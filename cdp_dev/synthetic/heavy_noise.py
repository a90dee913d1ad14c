"""Heavy corruption of CRM and loyalty person records (``noise_profile="heavy"``).

Modelled on Christen & Pudjijono (2009), "Accurate synthetic generation of realistic personal
information" (PAKDD), and their GeCo generator (Tran, Vatsalan & Christen, CIKM 2013): values
are corrupted by typing errors (keyboard-neighbour substitution, insertion, deletion,
transposition), OCR confusions, phonetic spelling variants, name variants, missing values,
swapped fields and field-specific errors (birth dates, postcodes, house numbers, street
layouts). Registry-like evaluation data (FEBRL, GeCo) carries these far more often than a
shop's CRM does; a model tuned on mild noise alone misses many of its duplicates.

``HeavyNoise.corrupt`` works on the fields of a record that ``noise.Noise`` has already typed
(case, formats, nicknames), so the two layers add up. It returns labels such as
``birth_date:year`` for ``_truth/corruptions.csv``: the answer key for error analysis.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from cdp_dev.synthetic.common import Weighted
from cdp_dev.synthetic.noise import (
    KEYBOARD_NEIGHBOURS,
    STREET_ABBREVIATIONS,
    fold_ascii,
    name_variants,
)
from cdp_dev.synthetic.settings import HeavyNoiseRates

# The person fields the per-field rates of HeavyNoiseRates apply to, in this order.
PERSON_FIELDS = ("first_name", "last_name", "birth_date", "street", "postal_code", "city")

# OCR confusions of scanned forms (GeCo's ocr-variations table, abridged): both directions.
_OCR_PAIRS = (
    ("0", "o"),
    ("1", "l"),
    ("1", "i"),
    ("l", "i"),
    ("5", "s"),
    ("8", "b"),
    ("6", "b"),
    ("2", "z"),
    ("9", "g"),
    ("rn", "m"),
    ("cl", "d"),
    ("vv", "w"),
    ("li", "h"),
    ("u", "v"),
    ("e", "c"),
    ("q", "g"),
)
# Spellings that sound alike (GeCo's phonetic-variations table, abridged, plus Nordic, German
# and Dutch ones): a pattern (lower case, with the context GeCo's rules give as start / end /
# after-vowel conditions) and what is written instead. Doubled letters written single and
# single ones doubled are handled apart (Matthias / Mathias, Filip / Fillip).
_V = "[aeiouyåäöø]"
_PHONETIC_RULES = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        ("ph", "f"),
        (f"f(?={_V})", "ph"),  # Filip -> Philip
        ("ck", "k"),
        (f"(?<={_V})k", "ck"),  # Erik -> Erick
        ("th", "t"),
        (f"^t(?={_V})", "th"),  # Tomas -> Thomas
        ("ie$", "y"),  # Marie -> Mary
        ("y$", "ie"),  # Jenny -> Jennie
        ("sch", "sh"),
        ("sh", "sch"),
        ("ch", "k"),  # Michael -> Mikael
        ("c(?=[aou])", "k"),  # Carl -> Karl, Oscar -> Oskar
        ("k(?=[aou])", "c"),
        ("c(?=[eiy])", "s"),  # Cecilia -> Sesilia
        ("z", "s"),
        (f"^s(?={_V})", "z"),  # Sara -> Zara
        ("tz", "z"),
        ("ei", "ey"),  # Meier -> Meyer
        ("ey", "ei"),
        ("ai", "ay"),
        ("ay", "ai"),
        ("w", "v"),  # Edward -> Edvard
        ("v", "w"),
        ("ou", "u"),  # Louis -> Luis
        ("dt$", "t"),  # Schmidt -> Schmit
        (f"(?<={_V})t$", "dt"),
        ("x", "ks"),  # Alexander -> Aleksander
        ("ks", "x"),
        ("qu", "kw"),
        ("gh", "g"),
        ("y", "i"),  # Yvonne -> Ivonne
        ("i", "y"),  # Kristina -> Krystina
        ("hj", "j"),  # Hjalmar -> Jalmar
        ("ij", "y"),  # Dijk -> Dyk
        ("^aa", "å"),  # Aase -> Åse
        ("ß", "ss"),
    )
)
_VOWELS = "aeiouyåäöøæéèü"
_DOUBLED = "bdfgklmnprstz"  # consonants that names double (not h, j, v, w)
_DIGITS = "0123456789"
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_HOUSE_NUMBER = re.compile(r"\d+(?: ?[A-Za-z](?![A-Za-z]))?")
# Trailing flat parts that stay where they are when the house number moves.
_FLAT_SUFFIX = re.compile(r"(,.*| Apt .*| lgh .*)$")
_FLAT_PREFIX = re.compile(r"^(Flat \d+, )")

# Which kinds can hit a field in the per-field pass, with weights.
_FIELD_KINDS: dict[str, tuple[tuple[str, float], ...]] = {
    "first_name": (
        ("keyboard", 0.22),
        ("edit", 0.22),
        ("ocr", 0.06),
        ("phonetic", 0.14),
        ("name_variant", 0.24),
        ("missing", 0.12),
    ),
    "last_name": (
        ("keyboard", 0.26),
        ("edit", 0.26),
        ("ocr", 0.08),
        ("phonetic", 0.18),
        ("name_variant", 0.12),
        ("missing", 0.10),
    ),
    "birth_date": (("birth_date", 0.85), ("missing", 0.15)),
    "street": (
        ("keyboard", 0.15),
        ("edit", 0.15),
        ("ocr", 0.05),
        ("phonetic", 0.10),
        ("house_number", 0.20),
        ("street_format", 0.25),
        ("missing", 0.10),
    ),
    "postal_code": (("postcode", 0.75), ("ocr", 0.10), ("missing", 0.15)),
    "city": (
        ("keyboard", 0.30),
        ("edit", 0.30),
        ("ocr", 0.05),
        ("phonetic", 0.20),
        ("missing", 0.15),
    ),
}
# Which fields a kind drawn for a duplicate's extra corruption hits, with weights.
_KIND_FIELDS: dict[str, tuple[tuple[str, float], ...]] = {
    "keyboard": (("first_name", 0.35), ("last_name", 0.35), ("street", 0.15), ("city", 0.15)),
    "edit": (("first_name", 0.35), ("last_name", 0.35), ("street", 0.15), ("city", 0.15)),
    "ocr": (
        ("first_name", 0.3),
        ("last_name", 0.3),
        ("street", 0.15),
        ("city", 0.1),
        ("postal_code", 0.15),
    ),
    "phonetic": (("first_name", 0.4), ("last_name", 0.4), ("street", 0.1), ("city", 0.1)),
    "name_variant": (("first_name", 0.85), ("last_name", 0.15)),
    "missing": (
        ("first_name", 0.2),
        ("last_name", 0.15),
        ("birth_date", 0.2),
        ("street", 0.1),
        ("postal_code", 0.1),
        ("city", 0.1),
        ("email", 0.075),
        ("phone", 0.075),
    ),
    "birth_date": (("birth_date", 1.0),),
    "postcode": (("postal_code", 1.0),),
    "house_number": (("street", 1.0),),
    "street_format": (("street", 1.0),),
}


def duplicate_count(rng: random.Random, maximum: int, exponent: float) -> int:
    """1..maximum with P(k) proportional to k^-exponent (a truncated Zipf, as GeCo offers):
    at exponent 2 and maximum 9, 65 % get one, 16 % two and 8 % five or more."""
    weights = [k**-exponent for k in range(1, maximum + 1)]
    return rng.choices(range(1, maximum + 1), weights)[0]


def _match_case(template: str, text: str) -> str:
    if len(template) > 1 and template.isupper():
        return text.upper()
    if template[:1].isupper():
        return text[:1].upper() + text[1:]
    return text


def _occurrences(value: str, pairs: tuple[tuple[str, str], ...]) -> list[tuple[int, str, str]]:
    """(position, found, replacement) for every place one of the pairs applies, both ways."""
    lower = value.lower()
    out = []
    for a, b in pairs:
        for src, dst in ((a, b), (b, a)):
            start = lower.find(src)
            while start != -1:
                out.append((start, src, dst))
                start = lower.find(src, start + 1)
    return out


class HeavyNoise:
    """The corruptions of ``HeavyNoiseRates``, drawn from their own random stream."""

    def __init__(self, rng: random.Random, rates: HeavyNoiseRates):
        self.rng = rng
        self.rates = rates
        kinds, weights = zip(*rates.kind_weights, strict=True)
        unknown = set(kinds) - {*_KIND_FIELDS, "name_swap"}
        if unknown:
            raise ValueError(f"heavy_noise.kind_weights: unknown kinds {sorted(unknown)}")
        self._kinds = Weighted(kinds, weights)
        self._field_kinds = {f: Weighted(*zip(*kw, strict=True)) for f, kw in _FIELD_KINDS.items()}
        self._apply: dict[str, Callable[[str, str], tuple[str, str] | None]] = {
            "keyboard": self._keyboard,
            "edit": self._edit,
            "ocr": self._ocr,
            "phonetic": self._phonetic,
            "name_variant": self._name_variant,
            "missing": self._missing,
            "birth_date": self._birth_date,
            "postcode": self._postcode,
            "house_number": self._house_number,
            "street_format": self._street_format,
        }

    # -- records -------------------------------------------------------------------------
    def duplicates(self, share: float) -> int:
        """How many extra records a person gets: 0, or 1..duplicates_max (Zipf)."""
        r = self.rates
        if self.rng.random() >= share:
            return 0
        return duplicate_count(self.rng, r.duplicates_max, r.duplicates_zipf_exponent)

    def corrupt(self, fields: dict[str, str], duplicate: bool = False) -> list[str]:
        """Corrupt a record's ``fields`` in place; returns ``field:kind`` labels.

        A person's first record: each person field at its own rate, the names swapped at
        theirs. A duplicate (GeCo's way): 1..4 corruptions, each of a kind drawn from
        ``kind_weights`` and applied to a field it fits, so one value can be hit twice.
        """
        rng = self.rng
        r = self.rates
        labels: list[str] = []
        if duplicate:
            low, high = r.corruptions_per_duplicate
            for _ in range(rng.randint(low, high)):
                label = self._any(fields, labels)
                if label:
                    labels.append(label)
            return labels
        for name in PERSON_FIELDS:
            if name in fields and rng.random() < getattr(r, name):
                label = self._field(fields, name)
                if label:
                    labels.append(label)
        if rng.random() < r.name_swapped:
            label = self._swap_names(fields)
            if label:
                labels.append(label)
        return labels

    def corrupt_address(self, street: str, postal: str, city: str) -> tuple[str, str, str]:
        """A new address as typed into the record (a move): the per-field pass only."""
        fields = {"street": street, "postal_code": postal, "city": city}
        for name in ("street", "postal_code", "city"):
            if self.rng.random() < getattr(self.rates, name):
                self._field(fields, name)
        return fields["street"], fields["postal_code"], fields["city"]

    def _field(self, fields: dict[str, str], name: str) -> str:
        """One corruption of a kind that fits the field; "" when none applies to its value."""
        value = fields[name]
        for _ in range(4):
            kind = self._field_kinds[name].pick(self.rng)
            if kind == "missing" and _last_identifying(fields, name):
                continue
            done = self._apply[kind](name, value)
            if done is not None and done[0] != value:
                fields[name] = done[0]
                return f"{name}:{done[1]}"
        return ""

    def _any(self, fields: dict[str, str], done_before: list[str]) -> str:
        """One corruption of a randomly drawn kind on a field it fits."""
        rng = self.rng
        for _ in range(10):
            kind = self._kinds.pick(rng)
            if kind == "name_swap":
                if "name:swap" in done_before:  # a second swap would undo the first
                    continue
                label = self._swap_names(fields)
                if label:
                    return label
                continue
            candidates = [(f, w) for f, w in _KIND_FIELDS[kind] if fields.get(f)]
            if not candidates:
                continue
            name = rng.choices([f for f, _ in candidates], [w for _, w in candidates])[0]
            if kind == "missing" and _last_identifying(fields, name):
                continue
            done = self._apply[kind](name, fields[name])
            if done is not None and done[0] != fields[name]:
                fields[name] = done[0]
                return f"{name}:{done[1]}"
        return ""

    def _swap_names(self, fields: dict[str, str]) -> str:
        first, last = fields.get("first_name", ""), fields.get("last_name", "")
        if first.strip().lower() == last.strip().lower():
            return ""
        fields["first_name"], fields["last_name"] = last, first
        return "name:swap"

    # -- typing --------------------------------------------------------------------------
    def _position(self, value: str, ok: Callable[[str], bool]) -> int | None:
        # People get the first letter wrong far less often than the rest (Christen &
        # Pudjijono), but not never: that is what breaks first-letter blocking.
        positions = [i for i, ch in enumerate(value) if ok(ch)]
        if not positions:
            return None
        if positions[0] == 0 and len(positions) > 1 and self.rng.random() >= 0.1:
            positions = positions[1:]
        return self.rng.choice(positions)

    def _keyboard_once(self, value: str) -> str | None:
        i = self._position(value, lambda ch: ch.lower() in KEYBOARD_NEIGHBOURS)
        if i is None:
            return None
        ch = value[i]
        sub = self.rng.choice(KEYBOARD_NEIGHBOURS[ch.lower()])
        return value[:i] + (sub.upper() if ch.isupper() else sub) + value[i + 1 :]

    def _edit_once(self, value: str) -> tuple[str, str] | None:
        rng = self.rng
        i = self._position(value, str.isalpha)
        if i is None:
            return None
        ch = value[i]
        roll = rng.random()
        if roll < 0.3:  # insert a neighbouring key or the same letter again
            extra = rng.choice(KEYBOARD_NEIGHBOURS.get(ch.lower(), ch.lower()) + ch.lower())
            if ch.isupper() and i > 0:  # an all-capitals value stays in capitals
                extra = extra.upper()
            return value[: i + 1] + extra + value[i + 1 :], "insert"
        if roll < 0.7 and len(value.strip()) > 2:
            return value[:i] + value[i + 1 :], "delete"
        if i + 1 < len(value) and value[i + 1].isalpha() and value[i + 1] != ch:
            swapped = value[i + 1] + ch
            if i == 0 and ch.isupper() and not value.isupper():  # "Anna" -> "Nana", not "nAna"
                swapped = value[i + 1].upper() + ch.lower()
            return value[:i] + swapped + value[i + 2 :], "transpose"
        return None

    def _keyboard(self, name: str, value: str) -> tuple[str, str] | None:
        out = self._keyboard_once(value)
        if out is None:
            return None
        if self.rng.random() < self.rates.second_edit:
            out = self._keyboard_once(out) or out
        return out, "keyboard"

    def _edit(self, name: str, value: str) -> tuple[str, str] | None:
        done = self._edit_once(value)
        if done is None:
            return None
        out, label = done
        if self.rng.random() < self.rates.second_edit:
            again = self._edit_once(out)
            if again is not None:
                out, label = again[0], f"{label}+{again[1]}"
        return out, label

    def _replace(self, value: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
        found = _occurrences(value, pairs)
        if not found:
            return None
        i, src, dst = self.rng.choice(found)
        return value[:i] + _match_case(value[i : i + len(src)], dst) + value[i + len(src) :]

    def _ocr(self, name: str, value: str) -> tuple[str, str] | None:
        out = self._replace(value, _OCR_PAIRS)
        return None if out is None else (out, "ocr")

    def _phonetic(self, name: str, value: str) -> tuple[str, str] | None:
        lower = value.lower()
        # Words one at a time, so that "^" and "$" mean the start and end of a word.
        rules = [
            (word.start() + m.start(), word.start() + m.end(), replacement)
            for word in re.finditer(r"\S+", lower)
            for pattern, replacement in _PHONETIC_RULES
            for m in pattern.finditer(word.group())
        ]
        # Matthias -> Mathias, Ann -> An.
        doubles = [
            (i, i + 1, "")
            for i in range(1, len(value))
            if lower[i] == lower[i - 1] and lower[i].isalpha()
        ]
        # Filip -> Fillip, Robert -> Robbert: a consonant after a vowel, written twice.
        singles = [
            (i, i + 1, lower[i] * 2)
            for i in range(1, len(value))
            if lower[i] in _DOUBLED
            and lower[i - 1] in _VOWELS
            and (i + 1 == len(value) or lower[i + 1] != lower[i])
        ]
        groups = [(g, w) for g, w in ((rules, 0.6), (doubles, 0.25), (singles, 0.15)) if g]
        if not groups:
            return None
        group = self.rng.choices([g for g, _ in groups], [w for _, w in groups])[0]
        a, b, replacement = self.rng.choice(group)
        return value[:a] + _match_case(value[a:b], replacement) + value[b:], "phonetic"

    # -- names ---------------------------------------------------------------------------
    def _name_variant(self, name: str, value: str) -> tuple[str, str] | None:
        rng = self.rng
        text = value.strip()
        if not text:
            return None
        if name == "last_name":
            parts = re.split(r"[ -]", text)
            if len(parts) > 1 and rng.random() < 0.5:  # "García López" -> "García"
                return rng.choice(parts), "short_form"
            if not text.isascii():  # "Müller" -> "Mueller" / "Muller"
                return fold_ascii(text, transcribe=rng.random() < 0.5), "transliteration"
            return None
        roll = rng.random()
        variants = name_variants(text) or name_variants(text.title())
        if roll < 0.15 or (not variants and text.isascii() and roll < 0.35):
            initial = text[0].upper()
            return (f"{initial}." if rng.random() < 0.7 else initial), "initial"
        if not variants and text.isascii():
            return None  # the caller draws another kind
        if not text.isascii() and (roll < 0.5 or not variants):  # Jürgen -> Juergen / Jurgen
            return fold_ascii(text, transcribe=rng.random() < 0.5), "transliteration"
        return _match_case(text, rng.choice(variants)), "nickname"

    def _missing(self, name: str, value: str) -> tuple[str, str] | None:
        return ("", "missing") if value else None

    # -- birth date, postcode, house number, street --------------------------------------
    def _birth_date(self, name: str, value: str) -> tuple[str, str] | None:
        rng = self.rng
        text = value.strip()
        match = _ISO_DATE.fullmatch(text)
        sep = "-"
        if match is None:
            match, sep = _COMPACT_DATE.fullmatch(text), ""
        if match is None:  # blank, a placeholder or already unreadable
            return None
        y, m, d = match.groups()
        roll = rng.random()
        if roll < 0.3 and int(d) <= 12 and d != m:
            m, d, label = d, m, "day_month"
        elif roll < 0.65:
            digits = list(y + m + d)
            i = rng.randrange(len(digits))
            digits[i] = rng.choice(_DIGITS.replace(digits[i], ""))
            text_digits = "".join(digits)
            y, m, d, label = text_digits[:4], text_digits[4:6], text_digits[6:], "digit"
        else:
            if rng.random() < 0.6:
                y = str(int(y) + rng.choice((-1, 1)))
            else:  # a digit of the decade or the year: 1985 -> 1965 / 1988
                i = rng.choice((2, 3))
                y = y[:i] + rng.choice(_DIGITS.replace(y[i], "")) + y[i + 1 :]
            label = "year"
        return sep.join((y, m, d)), label

    def _postcode(self, name: str, value: str) -> tuple[str, str] | None:
        rng = self.rng
        digits = [i for i, ch in enumerate(value) if ch.isdigit()]
        if not digits:
            return None
        pairs = [(a, b) for a, b in zip(digits, digits[1:], strict=False) if value[a] != value[b]]
        if pairs and rng.random() < 0.4:
            a, b = rng.choice(pairs)
            chars = list(value)
            chars[a], chars[b] = chars[b], chars[a]
            return "".join(chars), "postcode_transpose"
        i = rng.choice(digits)
        return value[:i] + rng.choice(_DIGITS.replace(value[i], "")) + value[i + 1 :], (
            "postcode_digit"
        )

    def _house_number(self, name: str, value: str) -> tuple[str, str] | None:
        rng = self.rng
        match = _HOUSE_NUMBER.search(value)
        if match is None:
            return None
        number = match.group()
        digits = "".join(ch for ch in number if ch.isdigit())
        letter = number[len(digits) :].strip()
        roll = rng.random()
        if letter and roll < 0.2:
            new = digits  # 12A -> 12
        elif not letter and roll < 0.15:
            new = digits + rng.choice("ABab")  # 12 -> 12A
        elif len(digits) > 1 and roll < 0.35:
            i = rng.randrange(len(digits))
            new = digits[:i] + digits[i + 1 :] + letter  # 124 -> 14
        elif len(digits) > 1 and digits[0] != digits[1] and roll < 0.5:
            new = digits[1] + digits[0] + digits[2:] + letter  # 12 -> 21
        elif roll < 0.65:
            i = rng.randrange(len(digits) + 1)
            new = digits[:i] + rng.choice(_DIGITS) + digits[i:] + letter  # 12 -> 127
        else:
            i = rng.randrange(len(digits))
            subs = _DIGITS.replace(digits[i], "")
            sub = rng.choice(subs[1:] if i == 0 and subs[0] == "0" else subs)  # no leading 0
            new = digits[:i] + sub + digits[i + 1 :] + letter  # 12 -> 13
        return value[: match.start()] + new + value[match.end() :], "house_number"

    def _street_format(self, name: str, value: str) -> tuple[str, str] | None:
        abbreviated = next(
            (
                value.replace(long, short, 1)
                for long, short in STREET_ABBREVIATIONS
                if long in value
            ),
            None,
        )
        moved = _reorder(value)
        if abbreviated is not None and (moved is None or self.rng.random() < 0.5):
            return abbreviated, "abbreviation"
        return None if moved is None else (moved, "reorder")


def _last_identifying(fields: dict[str, str], name: str) -> bool:
    """True when ``name`` is the record's last non-blank name or birth date: a record with
    neither (only an address) is one no clerk would keep, and no evaluation can use."""
    keep = ("first_name", "last_name", "birth_date")
    return name in keep and not any(fields.get(f, "").strip() for f in keep if f != name)


def _reorder(street: str) -> str | None:
    """Move the house number to the other end: "12 Main St" <-> "Main St 12"."""
    prefix_match = _FLAT_PREFIX.match(street)
    prefix = prefix_match.group(1) if prefix_match else ""
    rest = street[len(prefix) :]
    spanish = re.fullmatch(r"([^\d,]+), (\d+[A-Za-z]?)(.*)", rest)  # "Calle Mayor, 12, 3º A"
    if spanish:
        return f"{prefix}{spanish.group(2)} {spanish.group(1)}{spanish.group(3)}"
    suffix_match = _FLAT_SUFFIX.search(rest)
    suffix = suffix_match.group(1) if suffix_match else ""
    main = rest[: len(rest) - len(suffix)]
    leading = re.fullmatch(r"(\d+[A-Za-z]?) (.+)", main)
    if leading:
        return f"{prefix}{leading.group(2)} {leading.group(1)}{suffix}"
    trailing = re.fullmatch(r"(.+) (\d+[A-Za-z]?)", main)
    if trailing:
        return f"{prefix}{trailing.group(2)} {trailing.group(1)}{suffix}"
    return None

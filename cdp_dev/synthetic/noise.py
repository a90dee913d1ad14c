"""Corruption functions: how a true value ends up as typed into a source system.

Each method takes the true value and returns what a clerk, a customer or an import script
left behind: typos, nicknames, swapped names, emails in odd case or with +tags, phone numbers
in any national or international format, invalid birth dates, abbreviated streets and the
placeholder values ("test@test.com", "0000000000") that glue strangers together.
"""

from __future__ import annotations

import random
import unicodedata
from functools import cache

import phonenumbers
from phonenumbers import PhoneNumberFormat

from cdp_dev.synthetic.settings import LOCALES, NoiseRates

NICKNAMES: dict[str, tuple[str, ...]] = {
    # English
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Richard": ("Rick", "Dick", "Rich"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Johnny", "Jack"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris",),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Anthony": ("Tony",),
    "Steven": ("Steve",),
    "Stephen": ("Steve",),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Andrew": ("Andy", "Drew"),
    "David": ("Dave",),
    "Timothy": ("Tim",),
    "Gregory": ("Greg",),
    "Kenneth": ("Ken", "Kenny"),
    "Ronald": ("Ron",),
    "Donald": ("Don",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate"),
    "Kathryn": ("Kate", "Kathy"),
    "Jennifer": ("Jen", "Jenny"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Jessica": ("Jess",),
    "Samantha": ("Sam",),
    "Alexandra": ("Alex", "Sandra"),
    "Christine": ("Chris", "Tina"),
    "Kimberly": ("Kim",),
    "Amanda": ("Mandy",),
    "Jacqueline": ("Jackie",),
    # Swedish / Norwegian / Danish / Finnish
    "Katarina": ("Kata", "Kattis", "Kajsa"),
    "Kristina": ("Stina", "Kicki"),
    "Margareta": ("Maggan", "Greta"),
    "Elisabeth": ("Lisa", "Lisbeth", "Elsa"),
    "Birgitta": ("Gittan", "Birgit"),
    "Charlotte": ("Lotta",),
    "Johanna": ("Hanna", "Jossan"),
    "Maria": ("Mia", "Maja"),
    "Magdalena": ("Malin", "Lena"),
    "Lars": ("Lasse",),
    "Magnus": ("Mange",),
    "Fredrik": ("Fredde",),
    "Mikael": ("Micke",),
    "Joakim": ("Jocke",),
    "Kristoffer": ("Krille",),
    "Per": ("Pelle",),
    "Karl": ("Kalle",),
    "Carl": ("Calle",),
    "Gustav": ("Gurra", "Gösta"),
    "Jan": ("Janne",),
    "Johan": ("Jojje",),
    "Hans": ("Hasse",),
    "Bengt": ("Bengan",),
    "Kjell": ("Kjelle",),
    "Ingrid": ("Inga",),
    "Kristian": ("Kris",),
    "Johannes": ("Hannes", "Jussi", "Jan"),
    "Juhani": ("Jussi",),
    "Mikko": ("Mika",),
    "Matti": ("Masa",),
    "Katja": ("Kati",),
    # German / Dutch / French / Spanish
    "Wolfgang": ("Wolf",),
    "Friedrich": ("Fritz",),
    "Wilhelm": ("Willi",),
    "Heinrich": ("Heinz",),
    "Katharina": ("Kathi", "Katja"),
    "Margarete": ("Grete",),
    "Cornelis": ("Kees",),
    "Jacobus": ("Koos",),
    "Wilhelmus": ("Wim",),
    "Hendrik": ("Henk",),
    "Nicolas": ("Nico",),
    "Alexandre": ("Alex",),
    "Francisco": ("Paco", "Fran"),
    "José": ("Pepe",),
    "Manuel": ("Manolo",),
    "Dolores": ("Lola",),
    "Guadalupe": ("Lupe",),
}

# More nicknames, spelling variants, short forms and foreign forms, used only by the heavy
# profile (heavy_noise.py) together with NICKNAMES, in both directions (Bob -> Robert too).
# Kept apart from NICKNAMES because the default profile draws from that table: an entry added
# there would change the default output for the same seed. Transliterations (Jürgen ->
# Juergen / Jurgen) and initials ("J.") are derived, not listed.
NAME_VARIANTS: dict[str, tuple[str, ...]] = {
    # English
    "Robert": ("Robbie", "Bert", "Rab"),
    "Margaret": ("Marge", "Margie", "Greta", "Maisie"),
    "William": ("Liam", "Willy"),
    "Elizabeth": ("Eliza", "Libby", "Bess", "Elisabeth"),
    "Mary": ("Molly", "Polly", "Mae", "Maria", "Marie"),
    "Sarah": ("Sally", "Sara"),
    "Philip": ("Phil", "Phillip", "Filip"),
    "Phillip": ("Phil", "Philip"),
    "Geoffrey": ("Geoff", "Jeffrey", "Jeff"),
    "Jeffrey": ("Jeff", "Geoffrey"),
    "Christian": ("Chris", "Kristian", "Christiaan"),
    "Frances": ("Fran", "Fanny"),
    "Francis": ("Frank", "Fran"),
    "Leonard": ("Len", "Leo", "Lenny"),
    "Stanley": ("Stan",),
    "Joshua": ("Josh",),
    "Zachary": ("Zach", "Zack"),
    "Nicole": ("Nikki", "Nicola"),
    "Stephanie": ("Steph",),
    "Abigail": ("Abby", "Gail"),
    "Victoria": ("Vicki", "Viktoria"),
    "Eleanor": ("Ellie", "Nell", "Elinor"),
    "Caroline": ("Carol", "Carrie", "Karoline", "Carolina"),
    "Jacob": ("Jake", "Jakob", "Jacobus"),
    "Joseph": ("Josef", "José"),
    "Peter": ("Pete", "Per", "Pieter", "Pierre", "Pekka"),
    "Thomas": ("Tomas", "Tuomas", "Thom"),
    "Henry": ("Harry", "Hank", "Henrik", "Heinrich", "Henri"),
    "Anna": ("Ann", "Anne", "Annie", "Anni"),
    "Anne": ("Ann", "Anna", "Annie"),
    "Susan": ("Susanne", "Susanna"),
    # Swedish / Norwegian / Danish / Finnish
    "Johan": ("Jo", "Joh", "Johann", "Johannes", "Jon", "Jonne"),
    "Johanna": ("Jo", "Hanna", "Hanne", "Joanna"),
    "Jan": ("Jo", "Janne", "Jens", "Johan"),
    "Erik": ("Eric", "Erkki", "Eirik"),
    "Karl": ("Carl", "Kalle", "Kaarle"),
    "Carl": ("Karl", "Calle"),
    "Oskar": ("Oscar", "Osse"),
    "Oscar": ("Oskar",),
    "Kristina": ("Christina", "Kristin", "Kirsti", "Tina"),
    "Christina": ("Kristina", "Tina", "Stina"),
    "Kristian": ("Christian", "Krister"),
    "Elisabeth": ("Elisabet", "Elizabeth", "Lisbet", "Bettan", "Lise"),
    "Elisabet": ("Elisabeth", "Lisa", "Bettan"),
    "Mikael": ("Michael", "Mikkel", "Mika", "Micke"),
    "Magnus": ("Manne", "Mange"),
    "Nils": ("Niels", "Nisse", "Niilo"),
    "Niels": ("Nils", "Niels-Erik"),
    "Gustav": ("Gustaf", "Gösta", "Gurra"),
    "Anders": ("Andreas", "Antti", "Affe"),
    "Fredrik": ("Frederik", "Fritz", "Freddie"),
    "Matthias": ("Mathias", "Matias", "Matti", "Mats"),
    "Mathias": ("Matthias", "Matias", "Mats"),
    "Matias": ("Mathias", "Matti"),
    "Henrik": ("Heikki", "Henke", "Henrich"),
    "Stefan": ("Stephan", "Steffen", "Steve", "Staffan"),
    "Sofia": ("Sophia", "Sofie", "Fia", "Sonja"),
    "Sofie": ("Sophie", "Sofia"),
    "Marie": ("Maria", "Mari", "Mia"),
    "Jenny": ("Jennifer", "Jenni"),
    "Katarina": ("Katharina", "Catharina", "Katariina", "Karin", "Kaisa"),
    "Karin": ("Kaisa", "Katarina", "Carin"),
    "Ingrid": ("Inger", "Inga"),
    "Åke": ("Ake", "Aake"),
    "Göran": ("Goran", "Jörgen", "Jöran"),
    "Håkan": ("Hakan", "Haakon", "Hokan"),
    "Bjørn": ("Björn", "Bjorn", "Bjoern"),
    "Øystein": ("Oystein", "Eystein"),
    "Torbjørn": ("Torbjorn", "Tobben"),
    "Juhani": ("Jussi", "Juha", "Juho", "Johannes"),
    "Juha": ("Jussi", "Juho", "Juhani"),
    "Matti": ("Masa", "Mattias", "Matias"),
    "Antti": ("Anders", "Andreas", "Ante"),
    "Jukka": ("Jukkis", "Jussi"),
    "Pekka": ("Pete", "Peter", "Pekkis"),
    "Tapani": ("Tapsa", "Tapio"),
    "Kaarina": ("Kaisa", "Katariina", "Karin"),
    "Kristiina": ("Kirsi", "Kristina", "Tiina"),
    "Liisa": ("Lisa", "Elisa"),
    "Aleksi": ("Alex", "Aleksander"),
    "Aleksander": ("Alex", "Aleksi", "Alexander"),
    "Alexander": ("Alexandros", "Aleksander", "Sascha", "Sander"),
    # German / Dutch / French / Spanish
    "Jürgen": ("Juergen", "Jurgen", "Jörg"),
    "Jörg": ("Joerg", "Jorg", "Jürgen"),
    "Jörgen": ("Joergen", "Jorgen", "Jürgen"),
    "Johann": ("Hans", "Johannes", "Jo"),
    "Hans": ("Hannes", "Johann", "Hasse"),
    "Norbert": ("Norb", "Bert"),
    "Helmut": ("Helmuth", "Helle"),
    "Hermann": ("Herman", "Hermi"),
    "Franz": ("Franzl", "Franck"),
    "Claus-Peter": ("Claus", "Klaus-Peter", "C.-P."),
    "Klaus": ("Claus", "Nikolaus"),
    "Nikolaus": ("Klaus", "Niko", "Nicolas"),
    "Michael": ("Micha", "Michi", "Mikael", "Michel"),
    "Maarten": ("Martin", "Mart"),
    "Willem": ("Wim", "Willy", "William"),
    "Cornelis": ("Kees", "Cor", "Cornelius"),
    "Jacobus": ("Koos", "Jaap", "Jacob"),
    "François": ("Francois", "Franck", "Francis"),
    "Frédéric": ("Frederic", "Fred", "Frédo"),
    "Stéphane": ("Stephane", "Stef"),
    "Nicolas": ("Nico", "Nicolás", "Nikolas"),
    "Jean": ("Jeannot", "Jan", "John"),
    "Louis": ("Lou", "Ludwig", "Luis"),
    "Éric": ("Eric", "Erik"),
    "José": ("Pepe", "Jose", "Josep"),
    "Jose": ("José", "Pepe"),
    "Luís": ("Luis", "Lucho"),
    "Héctor": ("Hector",),
    "Juan Antonio": ("Juan", "Juanto", "J. Antonio"),
    "José Manuel": ("José", "Josema", "Chema"),
    "María Dolores": ("Lola", "Loli", "María"),
    "Teresa": ("Tere", "Maite", "Tessa"),
    "Rosario": ("Charo", "Rosa"),
    "Jesús": ("Chus", "Chucho", "Jesus"),
    "Ignacio": ("Nacho", "Iñaki"),
    "Eduardo": ("Edu", "Lalo"),
    "Manuela": ("Manu", "Manoli"),
}

JUNK_EMAILS = (
    "test@test.com",
    "noemail@none.com",
    "no@email.com",
    "none@none.com",
    "x@x.com",
    "kund@butiken.se",
)
JUNK_PHONES = ("0000000000", "123456789", "1234567890", "9999999999", "000")
INVALID_BIRTH_DATES = ("unknown", "0000-00-00", "N/A", "?")

# Keyboard neighbours (QWERTY) so that substitutions look like fat-finger typos.
_KEYBOARD = {
    "a": "qwsz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}

_FOLD = {"æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "ł": "l"}
# German-style transcription (Jörg -> Joerg) seen as often as plain folding in Nordic data.
_FOLD_TRANSCRIBE = {"ä": "ae", "ö": "oe", "ü": "ue", "å": "aa", "Ä": "Ae", "Ö": "Oe", "Å": "Aa"}

_ABBREVIATIONS = (
    ("Street", "St"),
    ("Road", "Rd"),
    ("Avenue", "Ave"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("gatan", "g."),
    ("vägen", "v."),
    ("Straße", "Str."),
    ("straße", "str."),
    ("straat", "str."),
    ("avenue", "av."),
    ("Calle", "C/"),
    ("Avenida", "Avda."),
    ("katu", "k."),
    ("veien", "vn."),
    ("vej", "v."),
    ("gade", "g."),
    (" lgh ", " "),
)

# Public names for heavy_noise.py, which builds on the same tables.
KEYBOARD_NEIGHBOURS = _KEYBOARD
STREET_ABBREVIATIONS = _ABBREVIATIONS

PLUS_TAGS = ("shop", "news", "promo", "deals", "loyalty", "2024", "store")
DOMAIN_TYPOS = {
    "gmail.com": ("gmial.com", "gmail.con", "gmai.com"),
    "hotmail.com": ("hotmial.com", "hotmail.co"),
    "outlook.com": ("outlok.com",),
    "yahoo.com": ("yaho.com",),
    "icloud.com": ("icloud.co",),
}
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def fold_ascii(text: str, transcribe: bool = False) -> str:
    """ASCII-only spelling of a name, as older systems and email local parts store it."""
    table = {**_FOLD, **_FOLD_TRANSCRIBE} if transcribe else _FOLD
    out = "".join(table.get(ch, ch) for ch in text)
    return unicodedata.normalize("NFKD", out).encode("ascii", "ignore").decode("ascii")


def _variant_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for table in (NICKNAMES, NAME_VARIANTS):
        for name, variants in table.items():
            for variant in variants:
                index.setdefault(name, []).append(variant)
                index.setdefault(variant, []).append(name)
    return {name: tuple(dict.fromkeys(v for v in vs if v != name)) for name, vs in index.items()}


_NAME_VARIANT_INDEX = _variant_index()


def name_variants(first: str) -> tuple[str, ...]:
    """Other names the same person goes by: nicknames, formal forms, spellings (Bob, Robert)."""
    return _NAME_VARIANT_INDEX.get(first, ())


def slug(text: str) -> str:
    """Lower-case ASCII letters only: the raw material of email local parts."""
    return "".join(ch for ch in fold_ascii(text).lower() if ch.isalnum())


_COUNTRY_CODES = {1, 31, 33, 34, 44, 45, 46, 47, 49, 358}


def _phone_number(e164: str) -> phonenumbers.PhoneNumber:
    # Building the object directly is ~60x cheaper than phonenumbers.parse; the generator
    # only ever formats its own well-formed E.164 numbers.
    for width in (1, 2, 3):
        code = int(e164[1 : 1 + width])
        if code in _COUNTRY_CODES:
            return phonenumbers.PhoneNumber(
                country_code=code, national_number=int(e164[1 + width :])
            )
    return phonenumbers.parse(e164)


@cache
def phone_formats(e164: str) -> tuple[str, str, str]:
    """(national, international, national digits) renderings of an E.164 number."""
    number = _phone_number(e164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    digits = "".join(ch for ch in national if ch.isdigit())
    return national, international, digits


def _case_variant(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.4:
        return text.upper()
    if roll < 0.7:
        return text.lower()
    return text.title()


class Noise:
    """Applies the defect rates of ``NoiseRates`` (scaled by ``level``) with its own stream."""

    def __init__(self, rng: random.Random, rates: NoiseRates, level: float = 1.0):
        self.rng = rng
        self.rates = rates
        self.level = level

    def hit(self, rate: float) -> bool:
        """True with probability ``rate`` scaled by the noise level."""
        return self.rng.random() < rate * self.level

    # -- generic -------------------------------------------------------------------------
    def typo(self, text: str) -> str:
        """One fat-finger error: substitute a neighbour key, drop, double or transpose."""
        if len(text) < 3:
            return text
        rng = self.rng
        i = rng.randrange(1, len(text))  # people rarely get the first letter wrong
        ch = text[i]
        roll = rng.random()
        if roll < 0.35 and ch.lower() in _KEYBOARD:
            sub = rng.choice(_KEYBOARD[ch.lower()])
            return text[:i] + (sub.upper() if ch.isupper() else sub) + text[i + 1 :]
        if roll < 0.6:
            return text[:i] + text[i + 1 :]
        if roll < 0.8:
            return text[:i] + ch + text[i:]
        if i < len(text) - 1:
            return text[:i] + text[i + 1] + ch + text[i + 2 :]
        return text[:i]

    # -- names ---------------------------------------------------------------------------
    def name(self, first: str, last: str) -> tuple[str, str]:
        """The person's name as one source system holds it."""
        r = self.rates
        rng = self.rng
        if first in NICKNAMES and self.hit(r.name_nickname):
            first = rng.choice(NICKNAMES[first])
        if self.hit(r.name_typo):
            if rng.random() < 0.5:
                first = self.typo(first)
            else:
                last = self.typo(last)
        if not (first + last).isascii() and self.hit(r.name_ascii_folded):
            transcribe = rng.random() < 0.3
            first, last = fold_ascii(first, transcribe), fold_ascii(last, transcribe)
        if self.hit(r.name_case):
            first, last = _case_variant(rng, first), _case_variant(rng, last)
        if self.hit(r.name_swapped):
            first, last = last, first
        if self.hit(r.name_missing):
            if rng.random() < 0.6:
                first = ""
            else:
                last = ""
        if rng.random() < 0.01 * self.level:
            first = f" {first}" if rng.random() < 0.5 else f"{first}  "
        return first, last

    # -- email ---------------------------------------------------------------------------
    def email(self, email: str, allow_missing: bool = True) -> str:
        """The address as typed: case, gmail dots and +tags, typos, junk, blanks."""
        r = self.rates
        rng = self.rng
        if not email:
            return ""
        if allow_missing and self.hit(r.email_missing):
            return ""
        if self.hit(r.email_junk):
            return rng.choice(JUNK_EMAILS)
        local, _, domain = email.partition("@")
        if domain in GMAIL_DOMAINS and self.hit(r.email_gmail_variant):
            local = self._gmail_variant(local)
        elif self.hit(r.email_plus_tag):
            local = f"{local}+{rng.choice(PLUS_TAGS)}"
        if domain in DOMAIN_TYPOS and self.hit(r.email_domain_typo):
            domain = rng.choice(DOMAIN_TYPOS[domain])
        if self.hit(r.email_case):
            roll = rng.random()
            if roll < 0.5:
                local = ".".join(p.capitalize() for p in local.split("."))
                domain = domain.capitalize()
            elif roll < 0.8:
                local, domain = local.upper(), domain.upper()
            else:
                domain = domain.capitalize()
        out = f"{local}@{domain}"
        if self.hit(r.email_malformed):
            roll = rng.random()
            if roll < 0.4:
                out = f"{local}{domain}"
            elif roll < 0.7:
                out = f"{local}@@{domain}"
            elif roll < 0.85:
                out = f"{local}@{domain.replace('.', ',', 1)}"
            else:
                out = f"{local}@{domain.rsplit('.', 1)[0]}"
        if self.hit(r.email_whitespace):
            out = f" {out}" if rng.random() < 0.5 else f"{out} "
        return out

    def _gmail_variant(self, local: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            base = local.replace(".", "")
        elif roll < 0.55 and "." not in local and len(local) > 4:
            cut = rng.randrange(2, len(local) - 1)
            base = f"{local[:cut]}.{local[cut:]}"
        else:
            base = local
        if roll >= 0.35 or rng.random() < 0.3:
            base = f"{base}+{rng.choice(PLUS_TAGS)}"
        return base

    # -- phone ---------------------------------------------------------------------------
    def phone(self, e164: str, allow_missing: bool = True) -> str:
        """A phone number in one of the formats people and systems use for it."""
        r = self.rates
        rng = self.rng
        if not e164:
            return ""
        if allow_missing and self.hit(r.phone_missing):
            return ""
        if self.hit(r.phone_junk):
            return rng.choice(JUNK_PHONES)
        national, international, digits = phone_formats(e164)
        roll = rng.random()
        if roll < 0.28:
            return e164
        if roll < 0.50:
            return international
        if roll < 0.78:
            return national
        if roll < 0.86:
            return digits
        if roll < 0.91:
            return "00" + e164[1:]
        if roll < 0.95:
            return international.replace(" ", "").replace("-", "")
        # Hand-typed with random punctuation: "070.123.45.67", "(070) 1234567".
        sep = rng.choice(["-", ".", " ", "/"])
        groups, i = [], 0
        while i < len(digits):
            step = rng.choice([2, 3, 3, 4])
            groups.append(digits[i : i + step])
            i += step
        if rng.random() < 0.3 and len(groups) > 1:
            return f"({groups[0]}) " + "".join(groups[1:])
        return sep.join(groups)

    # -- birth date ----------------------------------------------------------------------
    def birth_date(self, value) -> str:
        """YYYY-MM-DD mostly; YYYYMMDD, blanks, placeholders and impossible dates sometimes."""
        r = self.rates
        rng = self.rng
        y, m, d = value.year, value.month, value.day
        if self.hit(r.birth_date_missing):
            return ""
        if self.hit(r.birth_date_invalid):
            roll = rng.random()
            if roll < 0.4:
                return f"{y}-02-{rng.choice([30, 31])}"
            if roll < 0.55:
                return f"{y}-{rng.choice([4, 6, 9, 11]):02d}-31"
            if roll < 0.7:
                return f"{y}-13-{d:02d}"
            return rng.choice(INVALID_BIRTH_DATES)
        if self.hit(r.birth_date_default):
            return "1900-01-01"
        if d <= 12 and d != m and self.hit(r.birth_date_day_month_swapped):
            m, d = d, m
        if self.hit(r.birth_date_compact):
            return f"{y}{m:02d}{d:02d}"
        return f"{y}-{m:02d}-{d:02d}"

    # -- address -------------------------------------------------------------------------
    def address(self, street: str, postal: str, city: str, region: str, country: str):
        """(street, postal_code, city, region, country) as one system holds them."""
        r = self.rates
        rng = self.rng
        if self.hit(r.address_abbreviated):
            for long, short in _ABBREVIATIONS:
                if long in street:
                    street = street.replace(long, short, 1)
                    break
        if self.hit(r.address_typo):
            street = self.typo(street)
        if self.hit(r.address_case):
            street, city = _case_variant(rng, street), _case_variant(rng, city)
        if self.hit(r.address_postal_format):
            postal = postal.replace(" ", "") if " " in postal else postal
            if country == "SE" and rng.random() < 0.3:
                postal = f"SE-{postal}"
        if self.hit(r.address_missing_part):
            roll = rng.random()
            if roll < 0.4:
                street = ""
            elif roll < 0.7:
                postal = ""
            else:
                city = ""
        if rng.random() < 0.12 * self.level:
            region = ""  # most forms do not ask for it
        if self.hit(r.country_not_iso):
            roll = rng.random()
            if roll < 0.5:
                country = ""
            elif roll < 0.8:
                country = country.lower()
            else:
                country = next(s.country_name for s in LOCALES.values() if s.country == country)
        return street, postal, city, region, country

"""The generator's harder profiles for identity-resolution evaluation (issue 15).

``noise_profile="heavy"`` (GeCo-style corruption, 1..9 duplicates per person),
``person_identifiers="none"`` (person records linkable by name, birth date and address only)
and ``households="heavy"`` (families, twins, namesakes). Pure Python, a hundred-odd persons
over a few days: each run takes about a second.
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from cdp_dev.synthetic import GeneratorSettings, generate
from cdp_dev.synthetic.heavy_noise import HeavyNoise, _reorder, duplicate_count
from cdp_dev.synthetic.noise import name_variants
from cdp_dev.synthetic.settings import HeavyNoiseRates, SettingError, generator_settings
from tests.test_generate import _digests

PERSONS, DAYS, SEED = 150, 4, 21
END = date(2026, 3, 31)


# -- loading ------------------------------------------------------------------------------
def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _first_versions(root: Path, source: str) -> dict[str, dict[str, str]]:
    """Each record's first landed version (as created), by its key."""
    key = {"crm": "crm_id", "loyalty": "loyalty_id"}[source]
    out: dict[str, dict[str, str]] = {}
    for path in sorted((root / source).glob("*/*.csv")):
        for row in _csv(path):
            out.setdefault(row[key], row)
    return out


def _run(base: Path, name: str, persons: int = PERSONS, days: int = DAYS, **profile) -> Path:
    generate(base / name, persons, days, SEED, END, settings=generator_settings(**profile))
    return base / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("generate-heavy")
    return {
        "default": _run(base, "default"),
        "heavy": _run(base, "heavy", noise_profile="heavy"),
        "households": _run(base, "households", days=2, households="heavy"),
        "base": base,
    }


@pytest.fixture(scope="module")
def heavy(runs) -> dict:
    root = runs["heavy"]
    persons = {r["person_id"]: r for r in _csv(root / "_truth" / "persons.csv")}
    records = _csv(root / "_truth" / "records.csv")
    owner = {(r["source"], r["record_key"]): r["person_id"] for r in records}
    addresses = defaultdict(list)
    for a in _csv(root / "_truth" / "addresses.csv"):
        addresses[a["household_id"]].append(a)
    return {
        "root": root,
        "persons": persons,
        "owner": owner,
        "addresses": addresses,
        "crm": _first_versions(root, "crm"),
        "loyalty": _first_versions(root, "loyalty"),
        "corruptions": _csv(root / "_truth" / "corruptions.csv"),
    }


def _person_records(heavy: dict):
    """(source, record, true person) for every landed CRM and loyalty record."""
    for source in ("crm", "loyalty"):
        for key, row in heavy[source].items():
            yield source, row, heavy["persons"][heavy["owner"][(source, key)]]


def _date_digits(text: str) -> str | None:
    text = text.strip()
    return text.replace("-", "") if re.fullmatch(r"\d{4}-?\d{2}-?\d{2}", text) else None


# -- the Python entry point ---------------------------------------------------------------
def test_defaults_are_the_dataclass_defaults():
    assert generator_settings() == GeneratorSettings()
    assert generator_settings(locale_weights={"fr_FR": 2, "es_ES": 1}).locale_weights == (
        ("fr_FR", 2.0),
        ("es_ES", 1.0),
    )


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"noise_profile": "extreme"}, "noise_profile"),
        ({"person_identifiers": "some"}, "person_identifiers"),
        ({"households": "crowded"}, "households"),
        ({"locale_weights": {"xx_XX": 1}}, "locale_weights"),
        ({"locale_weights": {"fr_FR": -1}}, "locale_weights"),
        ({"locale_weights": {"fr_FR": 0}}, "locale_weights"),
    ],
)
def test_bad_values_raise_value_error_naming_the_option(kwargs, option):
    with pytest.raises(ValueError, match=f"^{option}: ") as caught:
        generator_settings(**kwargs)
    assert isinstance(caught.value, SettingError) and caught.value.option == option


def test_the_dataclass_checks_the_profiles_too():
    with pytest.raises(ValueError, match="^noise_profile: unknown value 'loud'"):
        GeneratorSettings(noise_profile="loud")


def test_manifest_records_the_profiles(runs):
    def settings(name: str) -> dict:
        path = runs[name] / "_truth" / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8"))["settings"]

    default, heavy, households = settings("default"), settings("heavy"), settings("households")
    assert (default["noise_profile"], default["person_identifiers"], default["households"]) == (
        "default",
        "all",
        "default",
    )
    # The heavy rates are logged only where they applied.
    assert "heavy_noise" not in default and "heavy_households" not in default
    assert heavy["noise_profile"] == "heavy" and heavy["heavy_noise"]["duplicates_max"] == 9
    assert households["households"] == "heavy" and "heavy_households" in households


# -- default profile ----------------------------------------------------------------------
def test_default_profile_writes_no_corruption_log(runs):
    assert not (runs["default"] / "_truth" / "corruptions.csv").exists()


def test_heavy_noise_leaves_the_true_population_as_it_is(runs):
    # Heavy corruption draws from its own streams: same seed, same people, only the records
    # differ, so default and heavy runs can be compared person for person.
    for name in ("persons.csv", "addresses.csv"):
        default = (runs["default"] / "_truth" / name).read_bytes()
        assert (runs["heavy"] / "_truth" / name).read_bytes() == default


def test_heavy_run_is_reproducible(runs, tmp_path):
    again = tmp_path / "again"
    generate(again, PERSONS, DAYS, SEED, END, settings=generator_settings("heavy"), workers=1)
    assert _digests(again) == _digests(runs["heavy"])


# -- duplicates ---------------------------------------------------------------------------
def test_every_crm_person_has_1_to_9_duplicates_mostly_few(heavy):
    records = Counter(
        person_id for (source, _), person_id in heavy["owner"].items() if source == "crm"
    )
    crm_persons = {p for p, row in heavy["persons"].items() if row["has_crm"] == "true"}
    assert set(records) == crm_persons
    duplicates = Counter(n - 1 for n in records.values())
    assert min(duplicates) >= 1 and max(duplicates) <= 9
    # Skewed: most people have one or two, a few have many.
    assert duplicates[1] + duplicates[2] > 0.6 * len(records)
    assert sum(v for k, v in duplicates.items() if k >= 4) > 0


def test_each_duplicate_is_its_own_record_with_a_truth_row(heavy):
    for source in ("crm", "loyalty"):
        keys = set(heavy[source])
        # Every landed record has its true person, and every truth row landed.
        assert keys == {key for s, key in heavy["owner"] if s == source}
    log = {(r["source"], r["record_key"]): r for r in heavy["corruptions"]}
    assert set(log) == set(heavy["owner"]) - {k for k in heavy["owner"] if k[0] in ("pos", "web")}
    duplicates = {r["source"] for r in heavy["corruptions"] if r["is_duplicate"] == "true"}
    assert duplicates == {"crm", "loyalty"}, "some loyalty members enrolled more than once too"
    for row in heavy["corruptions"]:
        labels = [label for label in row["corruptions"].split("|") if label]
        if row["is_duplicate"] == "true":
            assert 1 <= len(labels) <= 4, row


def test_every_kind_of_corruption_occurs(heavy):
    kinds = {
        label for row in heavy["corruptions"] for label in row["corruptions"].split("|") if label
    }
    flat = {k.split(":")[1].split("+")[0] for k in kinds}
    assert {
        "keyboard",
        "insert",
        "delete",
        "transpose",
        "ocr",
        "phonetic",
        "nickname",
        "initial",
        "missing",
        "swap",
        "day_month",
        "digit",
        "year",
        "postcode_digit",
        "postcode_transpose",
        "house_number",
        "abbreviation",
        "reorder",
    } <= flat
    assert {"first_name:missing", "last_name:missing", "birth_date:missing"} <= kinds


def test_names_are_swapped_missing_or_nicknamed_in_some_records(heavy):
    swapped = missing_first = nickname = initial = 0
    for _, row, person in _person_records(heavy):
        first, last = row["first_name"].strip(), row["last_name"].strip()
        if first and (first, last) == (person["last_name"], person["first_name"]):
            swapped += 1
        if not first:
            missing_first += 1
        if first in name_variants(person["first_name"]):
            nickname += 1
        if re.fullmatch(r"[A-Z]\.?", first) and person["first_name"].startswith(first[0]):
            initial += 1
    assert swapped and missing_first and nickname and initial


def test_birth_dates_differ_from_the_truth_in_the_ways_people_get_them_wrong(heavy):
    one_digit = day_month = year = missing = 0
    for _, row, person in _person_records(heavy):
        true = person["birth_date"].replace("-", "")
        typed = _date_digits(row["birth_date"])
        if not row["birth_date"].strip():
            missing += 1
        if typed is None or typed == true:
            continue
        if sum(a != b for a, b in zip(typed, true, strict=True)) == 1:
            one_digit += 1
        if typed[:4] == true[:4] and typed[4:] == true[6:] + true[4:6]:
            day_month += 1
        if typed[4:] == true[4:] and abs(int(typed[:4]) - int(true[:4])) == 1:
            year += 1
    assert one_digit and day_month and year and missing


def test_postcodes_and_house_numbers_differ_from_every_true_address(heavy):
    changed_postcode = moved_number = 0
    for _, row, person in _person_records(heavy):
        truths = heavy["addresses"][person["household_id"]]
        typed = re.sub(r"\D", "", row["postal_code"])
        codes = {re.sub(r"\D", "", a["postal_code"]) for a in truths}
        if typed and len(typed) in {len(c) for c in codes} and typed not in codes:
            changed_postcode += 1
        street = row["street"].strip()
        for a in truths:
            number = re.search(r"\d+", a["street"])
            if number and street.startswith(number.group()) != a["street"].startswith(
                number.group()
            ):
                moved_number += 1  # "12 Main St" vs "Main St 12"
                break
    assert changed_postcode and moved_number


# -- person identifiers -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_run(runs) -> tuple[subprocess.CompletedProcess, Path]:
    out = runs["base"] / "cli"
    result = subprocess.run(
        [
            sys.executable, "-m", "cdp.app.cli", "generate", "--out", str(out),
            "--persons", "100", "--days", "8", "--seed", "5",
            "--noise-profile", "heavy", "--person-identifiers", "none", "--households", "heavy",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    return result, out


def test_cli_generates_the_heavy_profiles(cli_run):
    result, out = cli_run
    assert result.returncode == 0, result.stderr
    settings = json.loads((out / "_truth" / "manifest.json").read_text())["settings"]
    assert settings["noise_profile"] == "heavy"
    assert settings["person_identifiers"] == "none"
    assert settings["households"] == "heavy"
    assert (out / "_truth" / "corruptions.csv").exists()


def test_person_identifiers_none_leaves_email_phone_and_loyalty_id_blank(cli_run):
    _, out = cli_run
    columns = {"crm": ("email", "phone", "loyalty_id"), "loyalty": ("email", "phone")}
    for source, blank in columns.items():
        rows = [row for path in (out / source).glob("*/*.csv") for row in _csv(path)]
        assert rows
        for row in rows:
            assert all(row[c] == "" for c in blank), row
            assert row["first_name"] or row["last_name"] or row["birth_date"]
    # Receipts still carry the loyalty card swiped: only person records lose identifiers.
    receipts = [row for path in (out / "pos").glob("*/*.csv") for row in _csv(path)]
    assert any(row["loyalty_id"] for row in receipts)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--noise-profile", "loud"), ("--person-identifiers", "some"), ("--households", "x")],
)
def test_cli_rejects_an_unknown_profile_in_one_line(flag, value, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cdp.app.cli", "generate", "--out", str(tmp_path), flag, value],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cdp: error: {flag}: unknown value {value!r} "
        f"(known: {'all, none' if flag == '--person-identifiers' else 'default, heavy'})"
    ]


# -- households ---------------------------------------------------------------------------
def _persons(root: Path) -> list[dict[str, str]]:
    return _csv(root / "_truth" / "persons.csv")


def test_heavy_households_have_more_twins_and_fewer_singles(runs):
    default, heavy = _persons(runs["default"]), _persons(runs["households"])

    def twins(persons):
        return sum(p["is_twin"] == "true" for p in persons)

    def alone(persons):
        sizes = Counter(p["household_id"] for p in persons)
        return sum(1 for p in persons if sizes[p["household_id"]] == 1)

    assert twins(heavy) >= 3 * max(twins(default), 2)
    assert alone(heavy) < 0.1 * len(heavy) < alone(default)


def test_heavy_households_have_namesakes_and_look_alike_twins(runs):
    persons = _persons(runs["households"])
    by_id = {p["person_id"]: p for p in persons}
    homes = defaultdict(list)
    for p in persons:
        homes[p["household_id"]].append(p)
    namesakes = [
        (a, b)
        for members in homes.values()
        for a in members
        for b in members
        if a["person_id"] < b["person_id"]
        and (a["first_name"], a["last_name"]) == (b["first_name"], b["last_name"])
        and a["birth_date"] != b["birth_date"]
    ]
    assert namesakes, "fathers and sons with one name at one address"
    near = [
        p
        for p in persons
        if p["twin_person_id"]
        and len(a := p["first_name"]) == len(b := by_id[p["twin_person_id"]]["first_name"])
        and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    ]
    assert near, "twins named one letter apart (Juhani / Juhana)"
    # ... with names people are called: a made-up one (Hons beside Hans) is no twin but a typo.
    from faker import Faker

    from cdp_dev.synthetic.pools import _listed_first_names
    from cdp_dev.synthetic.settings import LOCALES

    real = {
        n
        for locale in LOCALES
        for attr in ("first_names_male", "first_names_female")
        for n in _listed_first_names(Faker(locale), attr)
    }
    assert {p["first_name"] for p in near} <= real


# -- the corruption functions -------------------------------------------------------------
def test_duplicate_counts_follow_a_truncated_zipf():
    rng = random.Random(1)
    counts = Counter(duplicate_count(rng, 9, 2.0) for _ in range(20_000))
    assert set(counts) == set(range(1, 10))
    assert 0.62 < counts[1] / 20_000 < 0.68  # 1 / (sum of k^-2 for k = 1..9) = 0.65
    assert counts[1] > counts[2] > counts[3] > counts[9]


@pytest.mark.parametrize(
    ("street", "moved"),
    [
        ("12 Main St", "Main St 12"),
        ("Storgatan 12 lgh 1203", "12 Storgatan lgh 1203"),
        ("Calle Mayor, 12, 3º A", "12 Calle Mayor, 3º A"),
        ("Store Kongensgade 28C, 1. tv", "28C Store Kongensgade, 1. tv"),
        ("Flat 3, 12 Baker Street", "Flat 3, Baker Street 12"),
        ("Main", None),
    ],
)
def test_house_numbers_move_to_the_other_end(street, moved):
    assert _reorder(street) == moved


def test_name_variants_include_transliterations_and_initials():
    noise = HeavyNoise(random.Random(4), HeavyNoiseRates())
    seen = {noise._name_variant("first_name", "Jürgen")[0] for _ in range(200)}
    assert {"Juergen", "Jurgen", "J."} <= seen
    assert "Bob" in name_variants("Robert") and "Robert" in name_variants("Bob")
    assert "Peggy" in name_variants("Margaret")

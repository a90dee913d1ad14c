"""The synthetic generator writes the landing contract, deterministically, with its truth.

Pure Python (no Spark): a few hundred persons over a few weeks generate in seconds. The size
is chosen so every hard case shows up for any seed (checked over 30 seeds), not just this one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cdp_dev.synthetic import DEFAULT_END_DATE, GeneratorSettings, generate
from schemas.landing import SOURCES

PERSONS, DAYS, SEED = 400, 30, 11
END = date(2026, 3, 31)

# Headers must be the landing contract's; schemas/landing.py holds it and
# tests/test_contracts.py checks it against CONTRACTS.md itself.
CONTRACT = {source: list(spec.columns) for source, spec in SOURCES.items()}
KEY = {"crm": "crm_id", "loyalty": "loyalty_id", "pos": "transaction_id", "web": "event_id"}
EVENT_TYPES = {
    "page_view",
    "product_view",
    "add_to_cart",
    "purchase",
    "login",
    "signup",
    "newsletter_signup",
    "app_open",
    "push_open",
}
NORDIC = set("åäöøæÅÄÖØÆ")
E164 = re.compile(r"^\+\d{6,15}$")


# -- loading ------------------------------------------------------------------------------
def _csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _landed(root: Path) -> dict[str, list[tuple[str, dict]]]:
    """source -> [(batch date, row)] over every landed file."""
    out: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for source in ("crm", "loyalty", "pos"):
        for path in sorted((root / source).glob("*/*.csv")):
            for row in _csv(path)[1]:
                out[source].append((path.parent.name, row))
    for path in sorted((root / "web").glob("*/*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                out["web"].append((path.parent.name, json.loads(line)))
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("generate")
    summary = generate(base / "a", PERSONS, DAYS, SEED, END)
    # Same arguments, one process instead of two: must be byte-identical.
    generate(base / "b", PERSONS, DAYS, SEED, END, workers=1)
    generate(base / "c", PERSONS, DAYS, SEED + 1, END)
    return {"a": base / "a", "b": base / "b", "c": base / "c", "summary": summary}


@pytest.fixture(scope="module")
def root(runs) -> Path:
    return runs["a"]


@pytest.fixture(scope="module")
def landed(root) -> dict[str, list[tuple[str, dict]]]:
    return _landed(root)


@pytest.fixture(scope="module")
def truth(root) -> dict:
    persons = {r["person_id"]: r for r in _csv(root / "_truth" / "persons.csv")[1]}
    records = _csv(root / "_truth" / "records.csv")[1]
    junk = _csv(root / "_truth" / "junk_identifiers.csv")[1]
    return {"persons": persons, "records": records, "junk": junk}


def _owner(truth: dict) -> dict[tuple[str, str], str]:
    return {(r["source"], r["record_key"]): r["person_id"] for r in truth["records"]}


# -- layout and format --------------------------------------------------------------------
def test_layout_one_folder_per_source_and_batch_date(root):
    expected_dates = {(END - timedelta(days=d)).isoformat() for d in range(DAYS)}
    assert {p.name for p in root.iterdir()} == {"crm", "loyalty", "pos", "web", "_truth"}
    for source, ext in (("crm", "csv"), ("loyalty", "csv"), ("pos", "csv"), ("web", "jsonl")):
        folders = {p.name for p in (root / source).iterdir()}
        assert folders == expected_dates, source
        for folder in (root / source).iterdir():
            files = list(folder.iterdir())
            assert 1 <= len(files) <= 2
            assert all(f.suffix == f".{ext}" for f in files)


def test_csv_headers_match_the_contract_exactly(root):
    for source in ("crm", "loyalty", "pos"):
        for path in (root / source).glob("*/*.csv"):
            header = path.read_bytes().split(b"\r\n", 1)[0].decode("utf-8")
            assert header.split(",") == CONTRACT[source], path


def test_web_lines_are_json_objects_with_contract_keys_in_order(landed):
    assert landed["web"]
    order = {name: i for i, name in enumerate(CONTRACT["web"])}
    for batch, event in landed["web"]:
        keys = list(event)
        assert set(keys) <= set(CONTRACT["web"])
        assert keys == sorted(keys, key=order.__getitem__)
        assert event["event_id"] and event["event_ts"].startswith(batch)
        assert event["channel"] in ("web", "app")
        assert event["event_type"] in EVENT_TYPES
        if event["event_type"] == "purchase":
            assert event["order_id"] and event["revenue"] > 0 and event["currency"]
        if event["channel"] == "app":
            assert event["device_id"]


def test_rows_belong_to_their_batch_date(landed):
    for batch, row in landed["pos"]:
        assert row["transaction_ts"].startswith(batch)
        assert re.fullmatch(r"-?\d+", row["quantity"])
        assert re.fullmatch(r"\d+\.\d\d", row["unit_price"])
    first = min(b for b, _ in landed["crm"])
    for source in ("crm", "loyalty"):
        for batch, row in landed[source]:
            assert row["updated_at"] <= f"{batch}T23:59:59Z"
            if batch != first:  # deltas hold only what was created or changed that day
                assert row["updated_at"].startswith(batch), (source, row)
            for name in ("consent_email", "consent_sms"):
                assert row[name] in ("y", "n", "")


def test_first_day_is_a_full_extract_later_days_are_deltas(landed):
    per_day = defaultdict(int)
    for batch, _ in landed["crm"]:
        per_day[batch] += 1
    first = min(per_day)
    assert per_day[first] > 3 * max(v for k, v in per_day.items() if k != first)


def test_currency_matches_the_store_country(landed):
    currency = {"SE": "SEK", "NO": "NOK", "DK": "DKK", "GB": "GBP", "US": "USD"}
    for _, row in landed["pos"]:
        assert row["currency"] == currency.get(row["store_id"][:2], "EUR")


# -- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(runs):
    a, b = _digests(runs["a"]), _digests(runs["b"])
    assert a == b


def test_same_seed_is_identical_in_a_fresh_interpreter(runs, tmp_path):
    # Another process with another hash seed: catches iteration over sets or hash().
    code = (
        "import sys, datetime; from cdp_dev.synthetic import generate; "
        "generate(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), "
        "datetime.date.fromisoformat(sys.argv[5]))"
    )
    args = [str(tmp_path / "d"), str(PERSONS), str(DAYS), str(SEED), END.isoformat()]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, *args], check=True, env=env)
    assert _digests(tmp_path / "d") == _digests(runs["a"])


def test_another_seed_gives_other_data(runs):
    a, c = _digests(runs["a"]), _digests(runs["c"])
    common = a.keys() & c.keys()
    assert a["_truth/persons.csv"] != c["_truth/persons.csv"]
    # Header-only delta files (a quiet day) may coincide; the rest must not.
    assert sum(a[k] != c[k] for k in common) > 0.8 * len(common)


def test_summary_counts_what_was_written(runs, landed):
    summary = runs["summary"]
    for source in ("crm", "loyalty", "pos", "web"):
        assert summary["rows"][source] == len(landed[source])
    files = [p for p in runs["a"].rglob("*") if p.is_file() and "_truth" not in p.parts]
    assert summary["files"] == len(files)
    assert summary["bytes"] == sum(p.stat().st_size for p in files)


# -- truth ---------------------------------------------------------------------------------
def test_truth_names_the_person_behind_every_landed_record(landed, truth):
    keys = [(r["source"], r["record_key"]) for r in truth["records"]]
    assert len(keys) == len(set(keys)), "a record maps to exactly one person"
    owner = _owner(truth)
    for source, rows in landed.items():
        landed_keys = {row[KEY[source]] for _, row in rows}
        assert landed_keys == {k for s, k in keys if s == source}, source
    assert set(owner.values()) <= set(truth["persons"])


def test_persons_truth_is_complete(truth):
    persons = truth["persons"]
    assert len(persons) == PERSONS
    assert all(p["household_id"] and p["first_name"] and p["birth_date"] for p in persons.values())


def test_unlinked_crm_loyalty_pairs_share_no_identifier(landed, truth):
    owner = _owner(truth)
    junk = {j["identifier"] for j in truth["junk"]}

    def ids(source: str, person_id: str) -> set[str]:
        out = set()
        for _, row in landed[source]:
            if owner[(source, row[KEY[source]])] != person_id:
                continue
            email = row["email"].strip().lower()
            phone = re.sub(r"\D", "", row["phone"])[-8:]
            if email and email not in junk:
                out.add(f"e:{email}")
            if phone and row["phone"] not in junk:
                out.add(f"p:{phone}")
            if row["loyalty_id"]:
                out.add(f"l:{row['loyalty_id']}")
        return out

    unlinked = [p for p, r in truth["persons"].items() if r["crm_loyalty_unlinked"] == "true"]
    assert unlinked
    for person_id in unlinked:
        assert not ids("crm", person_id) & ids("loyalty", person_id), person_id


def test_no_mailbox_belongs_to_two_households(truth):
    """Gmail ignores dots, so anna.berg@gmail.com and annaberg@gmail.com are one mailbox:
    the generator must not hand it to two unrelated people (the resolver would rightly join
    them)."""

    def mailbox(email: str) -> str:
        local, _, domain = email.lower().rpartition("@")
        return f"{local.replace('.', '')}@{domain}" if domain == "gmail.com" else email.lower()

    owners: dict[str, set[str]] = {}
    for p in truth["persons"].values():
        own = [p["email"], *filter(None, p["previous_emails"].split("|"))]
        for email in filter(None, [*own, p["family_email"]]):
            owners.setdefault(mailbox(email), set()).add(p["household_id"])
    shared = {m: hh for m, hh in owners.items() if len(hh) > 1}
    assert not shared


# -- the hard cases are all there -----------------------------------------------------------
def test_twins_share_surname_birth_date_and_address(truth):
    persons = truth["persons"]
    twins = [p for p in persons.values() if p["is_twin"] == "true"]
    assert twins
    for a in twins:
        b = persons[a["twin_person_id"]]
        assert a["household_id"] == b["household_id"]
        assert (a["last_name"], a["birth_date"], a["street"]) == (
            b["last_name"],
            b["birth_date"],
            b["street"],
        )
        assert a["first_name"] != b["first_name"]


def test_household_members_share_an_address(truth):
    households = defaultdict(set)
    for p in truth["persons"].values():
        households[p["household_id"]].add(p["person_id"])
    assert any(len(members) >= 2 for members in households.values())


def test_junk_identifiers_appear(landed, truth):
    junk_emails = {j["identifier"] for j in truth["junk"] if j["namespace"] == "email"}
    junk_phones = {j["identifier"] for j in truth["junk"] if j["namespace"] == "phone"}
    rows = [row for s in ("crm", "loyalty") for _, row in landed[s]]
    assert any(r["email"] in junk_emails for r in rows)
    assert any(r["phone"] in junk_phones for r in rows)


def test_a_store_default_card_is_swiped_for_several_people(landed, truth):
    owner = _owner(truth)
    store_cards = {j["identifier"] for j in truth["junk"] if j["namespace"] == "loyalty_id"}
    people = defaultdict(set)
    for _, row in landed["pos"]:
        if row["loyalty_id"] in store_cards:
            people[row["loyalty_id"]].add(owner[("pos", row["transaction_id"])])
    assert any(len(p) > 1 for p in people.values())
    members = {row["loyalty_id"] for _, row in landed["loyalty"]}
    assert not store_cards & members, "store cards are not loyalty members"


def test_emails_vary_in_case_and_tags(landed):
    emails = [row["email"] for s in ("crm", "loyalty") for _, row in landed[s] if row["email"]]
    assert any("+" in e.split("@")[0] for e in emails)
    assert any(e != e.lower() for e in emails)
    assert any(e.count("@") != 1 for e in emails), "some emails are malformed"


def test_phones_come_in_several_formats(landed):
    phones = [row["phone"] for s in ("crm", "loyalty") for _, row in landed[s] if row["phone"]]
    assert any(E164.match(p) for p in phones)
    assert any(not E164.match(p) for p in phones)
    assert any(" " in p for p in phones)


def test_names_carry_nordic_letters(landed):
    names = [
        row["first_name"] + row["last_name"] for s in ("crm", "loyalty") for _, row in landed[s]
    ]
    assert any(set(n) & NORDIC for n in names)


def test_returns_are_negative_quantities(landed, truth):
    owner = _owner(truth)
    returns = [row for _, row in landed["pos"] if int(row["quantity"]) < 0]
    assert returns
    assert all(owner[("pos", r["transaction_id"])] for r in returns)


def test_anonymous_browsing_later_logs_in_with_the_same_cookie(landed):
    first_anonymous: dict[str, str] = {}
    for _, event in sorted(landed["web"], key=lambda item: item[1]["event_ts"]):
        cookie = event.get("anonymous_id")
        if not cookie:
            continue
        if "user_id" not in event:
            first_anonymous.setdefault(cookie, event["event_ts"])
        elif event["event_type"] in ("login", "signup") and cookie in first_anonymous:
            assert first_anonymous[cookie] < event["event_ts"]
            return
    pytest.fail("no anonymous cookie later logs in")


def test_consent_changes_over_days_for_some_crm_record(landed):
    seen: dict[str, set[tuple]] = defaultdict(set)
    consent = ("consent_email", "consent_sms", "consent_personalization", "consent_ad_sharing")
    for _, row in landed["crm"]:
        seen[row["crm_id"]].add(tuple(row[c] for c in (*consent, "consent_updated_at")))
    assert any(len(v) > 1 for v in seen.values())


def test_some_birth_dates_are_invalid_or_compact(landed):
    values = [row["birth_date"] for s in ("crm", "loyalty") for _, row in landed[s]]

    def valid(text: str) -> bool:
        for fmt in ("%Y-%m-%d", "%Y%m%d"):
            try:
                datetime.strptime(text, fmt)
                return True
            except ValueError:
                pass
        return False

    assert any(re.fullmatch(r"\d{8}", v) for v in values)
    assert any(v and not valid(v) for v in values)


def test_people_have_more_than_one_email_over_time(truth):
    assert any(p["previous_emails"] for p in truth["persons"].values())


def test_app_users_have_device_ids(landed):
    assert any(e.get("device_id") for _, e in landed["web"])


# -- arguments -----------------------------------------------------------------------------
def test_default_end_date_is_fixed():
    assert date(2026, 11, 24) == DEFAULT_END_DATE


def test_refuses_to_overwrite_unless_asked(tmp_path):
    settings = GeneratorSettings(noise_level=0.0)
    generate(tmp_path, 20, 2, 1, settings=settings)
    with pytest.raises(FileExistsError):
        generate(tmp_path, 20, 2, 1, settings=settings)
    summary = generate(tmp_path, 20, 2, 1, settings=settings, overwrite=True)
    assert summary["end_date"] == DEFAULT_END_DATE.isoformat()


@pytest.mark.parametrize("persons, days", [(0, 5), (5, 0)])
def test_rejects_empty_runs(tmp_path, persons, days):
    with pytest.raises(ValueError):
        generate(tmp_path, persons, days, 1)


def _data_rows(folder: Path) -> dict[str, list[bytes]]:
    """Per source, every data row of every file under ``folder`` (CSV headers left out)."""
    out: dict[str, list[bytes]] = {}
    for source in SOURCES:
        rows: list[bytes] = []
        for file in sorted((folder / source).rglob("*.*")):
            lines = file.read_bytes().splitlines(keepends=False)
            rows += lines[1:] if file.suffix == ".csv" else lines
        out[source] = sorted(rows)
    return out


def test_initial_load_delivers_the_first_days_as_one_extract_losing_nothing(tmp_path):
    nightly = generate(tmp_path / "nightly", persons=40, days=6, seed=3)
    folded = generate(tmp_path / "folded", persons=40, days=6, seed=3, initial_load_days=4)
    first = date.fromisoformat(nightly["start_date"])
    assert folded["initial_load"] == (first + timedelta(days=3)).isoformat()
    for source in SOURCES:
        dates = sorted(p.name for p in (tmp_path / "folded" / source).iterdir())
        assert dates == [(first + timedelta(days=d)).isoformat() for d in (3, 4, 5)]
        (load,) = (tmp_path / "folded" / source / dates[0]).iterdir()
        assert load.name.startswith(f"{source}_initial_load")
    # Receipts and events: row for row the same extracts, just delivered together.
    folded_rows, nightly_rows = _data_rows(tmp_path / "folded"), _data_rows(tmp_path / "nightly")
    assert folded_rows["pos"] == nightly_rows["pos"] and folded_rows["web"] == nightly_rows["web"]
    # Records: the initial load holds each record's latest version of those days.
    for source, key in (("crm", "crm_id"), ("loyalty", "loyalty_id")):
        latest: dict[str, dict] = {}
        for d in range(4):
            for file in sorted(
                (tmp_path / "nightly" / source / (first + timedelta(days=d)).isoformat()).iterdir()
            ):
                for row in csv.DictReader(file.open(encoding="utf-8", newline="")):
                    if row[key].strip():
                        latest[row[key].strip()] = row
        (load,) = (tmp_path / "folded" / source / folded["initial_load"]).iterdir()
        loaded = list(csv.DictReader(load.open(encoding="utf-8", newline="")))
        keyed = {r[key].strip(): r for r in loaded if r[key].strip()}
        assert len(keyed) == len([r for r in loaded if r[key].strip()])  # no key repeats
        assert keyed == latest

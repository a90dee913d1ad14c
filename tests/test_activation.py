"""Activation exports on real Spark and real files: hashing against hashlib, consent and labels
enforced, manifests that match their files, nightly changes, idempotent re-runs, and GDPR
access and erasure in the export folders.

Two nights of hand-made gold tables (profiles, segments, membership) are exported once per
module; tests read the files and manifests each night left behind.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cdp.core import catalog
from cdp.core.errors import CdpError
from cdp.core.settings import Destination
from jobs.activation import exports as ex
from jobs.activation import run
from jobs.activation.hashing import email_sha256, identifier_sha256, phone_sha256
from jobs.gdpr import exports as forget
from jobs.standardise.identifiers import normalise
from schemas.gold import PROFILE, SEGMENT_MEMBERSHIP, SEGMENTS
from tests.conftest import make_settings

NIGHT1, NIGHT2 = "2026-11-23", "2026-11-24"
TS = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ALL = ("email", "sms", "personalization", "ad_sharing", "analytics")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _frame(spark, schema, rows: list[dict]):
    """A DataFrame of ``schema`` from partial rows: unnamed nullable columns are null, unnamed
    required ones get a neutral value."""
    struct = schema.struct()
    neutral = {
        T.BooleanType: False,
        T.StringType: "unknown",
        T.LongType: 0,
        T.IntegerType: 0,
        T.DoubleType: 0.0,
        T.DateType: dt.date(2026, 11, 1),
        T.TimestampType: TS,
    }
    for r in rows:
        assert set(r) <= set(struct.fieldNames()), set(r) - set(struct.fieldNames())
    data = [
        tuple(
            r[f.name] if f.name in r else (None if f.nullable else neutral[type(f.dataType)])
            for f in struct.fields
        )
        for r in rows
    ]
    return spark.createDataFrame(data, struct)


def _profile(pid: str, allowed: tuple[str, ...] = ALL, **values) -> dict:
    return {
        "profile_id": pid,
        **{f"is_{p}_allowed": p in allowed for p in ALL},
        **values,
    }


PROFILES = [
    # Mixed case, spaces, a +tag and Gmail dots: hashed as the canonical key janedoe@gmail.com.
    _profile(
        "p1",
        email="  Jane.Doe+news@GMail.com ",
        phone="+46701234567",
        country="SE",
        first_name="Jane",
        rfm_segment="Champions",
    ),
    _profile("p2", ("email", "personalization"), email="bo@example.com", country="SE"),
    # Allowed for the destination (ad_sharing) but not for the segment's purpose.
    _profile("p3", ("email", "ad_sharing"), email="cy@example.com", first_name='Cy "C", Jr'),
    _profile(
        "p4",
        ("sms", "personalization", "ad_sharing"),
        phone="+1 650-253-0000",
        country="US",
    ),
    _profile("p5", email="ex@example.com"),
    _profile("p6", email="Di@Example.COM", country="DK", first_name="Di"),
]
SEGMENT_ROWS = [
    {"segment": "lookalike_champions", "purpose": "personalization", "kind": "lookalike"},
    {"segment": "win_back", "purpose": "email", "kind": "rule"},
    {"segment": "nobody", "purpose": "email", "kind": "rule"},
]


def _members(night: str) -> list[dict]:
    look = {"p1", "p2", "p3", "p9"} | ({"p4"} if night == NIGHT1 else {"p6"})
    rows = [
        {
            "segment": "lookalike_champions",
            "profile_id": p,
            "purpose": "personalization",
            "is_member": True,
        }
        for p in sorted(look)
    ]
    # A former member (exited) is not exported.
    rows.append(
        {
            "segment": "lookalike_champions",
            "profile_id": "p5",
            "purpose": "personalization",
            "is_member": False,
            "exited_at": TS,
        }
    )
    if night == NIGHT2:
        rows.append(
            {
                "segment": "lookalike_champions",
                "profile_id": "p4",
                "purpose": "personalization",
                "is_member": False,
                "exited_at": TS,
            }
        )
    rows += [
        {"segment": "win_back", "profile_id": p, "purpose": "email", "is_member": True}
        for p in ("p1", "p2", "p3", "p4")
    ]
    return rows


def _settings(tmp: Path):
    settings = make_settings(tmp / "landing", tmp / "warehouse")
    settings.activation.destinations["nobody_list"] = Destination(
        segment="nobody", purpose="email", format="csv", fields=("profile_id",), third_party=False
    )
    return settings


def _build_night(spark, settings, night: str) -> None:
    wh = settings.paths.warehouse
    as_of = dt.date.fromisoformat(night)
    profiles = [{**p, "as_of": as_of} for p in PROFILES]
    catalog.write(_frame(spark, PROFILE, profiles), "gold.profiles", wh, mode="overwrite")
    segments = [{**s, "as_of": as_of} for s in SEGMENT_ROWS]
    catalog.write(_frame(spark, SEGMENTS, segments), "gold.segments", wh, mode="overwrite")
    members = [{**m, "as_of": as_of} for m in _members(night)]
    catalog.write(
        _frame(spark, SEGMENT_MEMBERSHIP, members), "gold.segment_membership", wh, mode="overwrite"
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def nights(spark, tmp_path_factory):
    """Two nights exported; each night's folders snapshotted as they were left."""
    tmp = tmp_path_factory.mktemp("activation")
    settings = _settings(tmp)
    exports = Path(run.exports_dir(settings))
    results, snaps = {}, {}
    for night in (NIGHT1, NIGHT2):
        _build_night(spark, settings, night)
        results[night] = run.run_exports(spark, settings, night)
        snaps[night] = {d: _snapshot(exports / d / night) for d in settings.activation.destinations}
    return settings, exports, results, snaps


def _manifest(exports: Path, destination: str, night: str) -> dict:
    return json.loads((exports / destination / night / "manifest.json").read_text())


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _parquet(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


# --- hashing -------------------------------------------------------------------------------


def test_hashes_equal_hashlib_of_the_pipelines_normalised_identifiers(spark):
    std = make_settings("l", "w").standardise
    emails = [
        "  Jane.Doe+news@GMail.com ",
        "JANE.DOE@gmail.com",
        "Ann.Lee@Example.org",
        "\tbo@EXAMPLE.com\n",
        "o'brien@example.ie",
    ]
    phones = [("+46701234567", "SE"), ("070-123 45 67", "SE"), ("+1 650-253-0000", "US")]
    df = spark.createDataFrame(
        [(e, None, None) for e in emails] + [(None, p, r) for p, r in phones],
        "email string, phone string, region string",
    )
    got = df.select(
        "email",
        "phone",
        email_sha256(F.col("email")).alias("e"),
        phone_sha256(F.col("phone"), F.col("region")).alias("p"),
    ).collect()
    for r in got:
        if r["email"] is not None:
            assert r["e"] == sha(normalise("email", r["email"], std))
            assert r["e"] == identifier_sha256("email", r["email"], std)
        else:
            region_settings = dataclasses.replace(
                std, default_phone_region=dict(phones)[r["phone"]]
            )
            assert r["p"] == sha(normalise("phone", r["phone"], region_settings))
    # What ad platforms expect, spelled out: lower-case hex of the normalised text.
    assert got[0]["e"] == got[1]["e"] == sha("janedoe@gmail.com")
    assert {r["p"] for r in got if r["phone"] and r["phone"].endswith("45 67")} == {
        sha("+46701234567")
    }


def test_invalid_and_placeholder_emails_hash_to_null(spark):
    df = spark.createDataFrame([("not an email",), ("test@test.com",), (None,)], "email string")
    assert [r[0] for r in df.select(email_sha256(F.col("email"))).collect()] == [None] * 3


# --- labels and configuration --------------------------------------------------------------


@pytest.mark.parametrize("field", ["email", "first_name", "phone", "crm_ids"])
def test_third_party_is_refused_fields_labelled_c2(field):
    dest = Destination(segment="s", purpose="ad_sharing", fields=("email_sha256", field))
    with pytest.raises(CdpError, match=f"'ads': field '{field}' may not go to a third party"):
        ex.check_destination("ads", dest)


def test_internal_destination_may_take_identifying_fields_and_hashes_are_allowed():
    internal = Destination(
        segment="s",
        purpose="email",
        fields=("profile_id", "email", "first_name"),
        third_party=False,
    )
    ex.check_destination("crm_tool", internal)
    ex.check_destination(
        "ads",
        Destination(
            segment="s", purpose="ad_sharing", fields=("email_sha256", "phone_sha256", "country")
        ),
    )


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        (
            Destination(segment="s", purpose="email", fields=("shoe_size",)),
            "unknown field 'shoe_size'",
        ),
        (
            Destination(segment="s", purpose="email", fields=("country", "country")),
            "'country' listed twice",
        ),
        (Destination(segment="s", purpose="email", format="xlsx"), "format 'xlsx'"),
        (Destination(segment="s", purpose="telepathy"), "purpose 'telepathy'"),
        (Destination(segment="", purpose="email"), "no segment"),
    ],
)
def test_misconfigured_destination_is_one_line_error(dest, message):
    with pytest.raises(CdpError, match=message):
        ex.check_destination("dest", dest)


def test_run_refuses_a_bad_destination_before_writing_anything(spark, tmp_path):
    settings = _settings(tmp_path)
    _build_night(spark, settings, NIGHT1)
    settings.activation.destinations["ads_lookalike"] = Destination(
        segment="lookalike_champions", purpose="ad_sharing", fields=("email",)
    )
    with pytest.raises(CdpError, match="'ads_lookalike': field 'email'"):
        run.run_exports(spark, settings, NIGHT1)
    settings.activation.destinations["ads_lookalike"] = Destination(
        segment="no_such_segment", purpose="ad_sharing", fields=("country",)
    )
    with pytest.raises(
        CdpError, match="'ads_lookalike': segment 'no_such_segment' is not in gold.segments"
    ):
        run.run_exports(spark, settings, NIGHT1)
    with pytest.raises(CdpError, match="batch date '20261123' is not YYYY-MM-DD"):
        run.run_exports(spark, settings, "20261123")
    assert not Path(run.exports_dir(settings)).exists()


# --- the nightly export --------------------------------------------------------------------


def test_layout_holds_the_files_and_nothing_else(nights):
    _, exports, _, _ = nights
    for destination, ext in (("ads_lookalike", "csv"), ("email_win_back", "parquet")):
        for night in (NIGHT1, NIGHT2):
            names = {p.name for p in (exports / destination / night).iterdir()}
            assert names == {
                f"data.{ext}",
                f"added.{ext}",
                f"removed.{ext}",
                "manifest.json",
                "_keys.parquet",
            }
    # No staging or temporary folders left beside the dates.
    assert {p.name for p in (exports / "ads_lookalike").iterdir()} == {NIGHT1, NIGHT2}


def test_exported_hashes_and_consent(nights):
    settings, exports, results, _ = nights
    std = settings.standardise
    rows = _csv(exports / "ads_lookalike" / NIGHT1 / "data.csv")
    assert list(rows[0]) == ["email_sha256", "phone_sha256", "country"]
    jane = sha("janedoe@gmail.com")
    assert identifier_sha256("email", "  Jane.Doe+news@GMail.com ", std) == jane
    # p1 (everything allowed) and p4 (phone only): p2 lacks ad_sharing, p3 lacks the
    # segment's purpose (personalization), p9 has no profile; p5 exited.
    assert sorted(rows, key=lambda r: r["country"]) == [
        {"email_sha256": jane, "phone_sha256": sha("+46701234567"), "country": "SE"},
        {"email_sha256": "", "phone_sha256": sha("+16502530000"), "country": "US"},
    ]
    assert results[NIGHT1]["ads_lookalike"] == {"rows": 2, "added": 2, "removed": 0, "withheld": 3}
    text = (exports / "ads_lookalike" / NIGHT1 / "data.csv").read_text()
    assert "@" not in text and "p1" not in text


def test_rows_in_equal_exported_plus_withheld(spark, nights):
    settings, exports, _, _ = nights
    membership = catalog.read(spark, "gold.segment_membership", settings.paths.warehouse)
    for destination, dest in settings.activation.destinations.items():
        members = membership.where(F.col("is_member") & (F.col("segment") == dest.segment)).count()
        m = _manifest(exports, destination, NIGHT2)
        assert m["row_count"] + m["withheld"] == members == m["members"], destination


def test_internal_parquet_export_keeps_identifying_fields(nights):
    _, exports, results, _ = nights
    rows = _parquet(exports / "email_win_back" / NIGHT1 / "data.parquet")
    # p4 is a win_back member but not allowed for email: withheld.
    assert [r["profile_id"] for r in rows] == ["p1", "p2", "p3"]
    assert list(rows[0]) == ["profile_id", "email", "first_name", "rfm_segment"]
    assert rows[0]["first_name"] == "Jane" and rows[0]["rfm_segment"] == "Champions"
    assert results[NIGHT1]["email_win_back"]["withheld"] == 1


def test_manifest_matches_its_files(nights):
    _, exports, _, _ = nights
    for destination, read in (("ads_lookalike", _csv), ("email_win_back", _parquet)):
        for night in (NIGHT1, NIGHT2):
            folder = exports / destination / night
            m = _manifest(exports, destination, night)
            data = folder / m["data_file"]
            assert m["checksum"] == hashlib.sha256(data.read_bytes()).hexdigest()
            assert m["row_count"] == len(read(data))
            for name, facts in m["files"].items():
                assert facts["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
                assert facts["rows"] == len(read(folder / name))
            assert m["batch_date"] == night and m["destination"] == destination
            assert m["generated_at"].endswith("Z")
            assert dt.datetime.fromisoformat(m["generated_at"]).tzinfo is not None
            assert {
                "segment",
                "purpose",
                "format",
                "fields",
                "added",
                "removed",
                "withheld",
            } <= set(m)


def test_empty_segment_gives_a_header_only_export(nights):
    _, exports, results, _ = nights
    assert (exports / "nobody_list" / NIGHT1 / "data.csv").read_text() == "profile_id\n"
    assert _manifest(exports, "nobody_list", NIGHT1)["row_count"] == 0
    assert results[NIGHT1]["nobody_list"] == {"rows": 0, "added": 0, "removed": 0, "withheld": 0}


def test_second_night_adds_and_removes(nights):
    _, exports, results, _ = nights
    folder = exports / "ads_lookalike" / NIGHT2
    # p6 entered, p4 exited; p1 stays (in neither file).
    assert _csv(folder / "added.csv") == [
        {"email_sha256": sha("di@example.com"), "phone_sha256": "", "country": "DK"}
    ]
    # The removed row is the row as it was sent, so the platform can delete it.
    assert _csv(folder / "removed.csv") == [
        {"email_sha256": "", "phone_sha256": sha("+16502530000"), "country": "US"}
    ]
    assert _manifest(exports, "ads_lookalike", NIGHT2)["previous_batch_date"] == NIGHT1
    assert results[NIGHT2]["ads_lookalike"] == {"rows": 2, "added": 1, "removed": 1, "withheld": 3}
    assert results[NIGHT2]["email_win_back"] == {"rows": 3, "added": 0, "removed": 0, "withheld": 1}
    # First night: everyone added, no one removed.
    first = exports / "ads_lookalike" / NIGHT1
    assert (first / "added.csv").read_bytes() == (first / "data.csv").read_bytes()
    assert _csv(first / "removed.csv") == []


def test_rerunning_a_night_is_idempotent(spark, nights):
    settings, exports, results, snaps = nights
    again = run.run_exports(spark, settings, NIGHT2)
    assert again == results[NIGHT2]
    for destination in settings.activation.destinations:
        now = _snapshot(exports / destination / NIGHT2)
        before = snaps[NIGHT2][destination]
        assert set(now) == set(before)
        for name in now:
            if name != "manifest.json":  # generated_at moves on
                assert now[name] == before[name], (destination, name)
        old = json.loads(before["manifest.json"])
        new = json.loads(now["manifest.json"])
        assert {k: v for k, v in old.items() if k != "generated_at"} == {
            k: v for k, v in new.items() if k != "generated_at"
        }
    audit = catalog.read(spark, "audit.activation_exports", settings.paths.warehouse)
    per = audit.groupBy("destination", "batch_date").count().collect()
    assert len(per) == 2 * len(settings.activation.destinations)
    assert {r["count"] for r in per} == {1}
    row = audit.where(
        (F.col("destination") == "ads_lookalike") & (F.col("batch_date") == NIGHT2)
    ).first()
    assert (row["rows"], row["added"], row["removed"], row["withheld"]) == (2, 1, 1, 3)
    assert row["checksum"] == _manifest(exports, "ads_lookalike", NIGHT2)["checksum"]
    assert row["fields"] == ["email_sha256", "phone_sha256", "country"]
    assert row["path"].endswith(f"ads_lookalike/{NIGHT2}")


def test_changed_fields_still_diff_against_the_previous_export(spark, tmp_path, nights):
    """A destination whose fields change between nights diffs by profile; a removed row
    keeps the fields the previous export had and leaves the new ones empty."""
    _, exports, _, _ = nights
    copy = tmp_path / "exports"
    shutil.copytree(exports, copy)
    settings = _settings(tmp_path)
    settings.activation.exports = str(copy)
    settings.activation.destinations = {
        "ads_lookalike": Destination(
            segment="lookalike_champions", purpose="ad_sharing", fields=("country", "profile_id")
        )
    }
    # Night one's membership again on the 25th: p4 is back, p6 gone since the 24th.
    _build_night(spark, settings, NIGHT1)
    result = run.run_exports(spark, settings, "2026-11-25")
    assert result["ads_lookalike"] == {"rows": 2, "added": 1, "removed": 1, "withheld": 3}
    folder = copy / "ads_lookalike" / "2026-11-25"
    assert _csv(folder / "data.csv") == [
        {"country": "SE", "profile_id": "p1"},
        {"country": "US", "profile_id": "p4"},
    ]
    assert _csv(folder / "added.csv") == [{"country": "US", "profile_id": "p4"}]
    assert _csv(folder / "removed.csv") == [{"country": "DK", "profile_id": ""}]


# --- GDPR ----------------------------------------------------------------------------------


def test_find_and_erase_a_profile_in_every_export(spark, tmp_path, nights):
    settings, exports, _, _ = nights
    copy = tmp_path / "exports"
    shutil.copytree(exports, copy)
    jane = sha("janedoe@gmail.com")

    found = forget.find_in_exports(spark, str(copy), ["p1"])
    where = {(r["destination"], r["batch_date"], r["file"]) for r in found}
    assert where == {
        ("ads_lookalike", NIGHT1, "data.csv"),
        ("ads_lookalike", NIGHT1, "added.csv"),
        ("ads_lookalike", NIGHT2, "data.csv"),
        ("email_win_back", NIGHT1, "data.parquet"),
        ("email_win_back", NIGHT1, "added.parquet"),
        ("email_win_back", NIGHT2, "data.parquet"),
    }
    ads = next(r for r in found if r["destination"] == "ads_lookalike")
    assert ads["profile_id"] == "p1" and ads["row"]["email_sha256"] == jane
    assert forget.find_in_exports(spark, str(copy), ["nobody"]) == []
    # A crashed run's half-built folder may hold the person too: erasure clears it.
    crashed = copy / "email_win_back" / "_staging-2026-11-25"
    shutil.copytree(copy / "email_win_back" / NIGHT1, crashed)

    before = {
        (d, n): _manifest(copy, d, n)
        for d in ("ads_lookalike", "email_win_back")
        for n in (NIGHT1, NIGHT2)
    }
    assert forget.erase_from_exports(spark, str(copy), ["p1"]) == len(found)
    assert not crashed.exists()

    for (destination, night), old in before.items():
        folder = copy / destination / night
        m = _manifest(copy, destination, night)
        read = _csv if m["format"] == "csv" else _parquet
        data = read(folder / m["data_file"])
        assert m["row_count"] == len(data) == old["row_count"] - 1
        assert m["checksum"] == hashlib.sha256((folder / m["data_file"]).read_bytes()).hexdigest()
        assert m["withheld"] == old["withheld"] and m["erased_rows"] >= 1
        for name, facts in m["files"].items():
            rows = read(folder / name)
            assert facts["rows"] == len(rows)
            assert facts["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
            assert all(r.get("profile_id") != "p1" and r.get("email_sha256") != jane for r in rows)
        assert {p.name for p in folder.iterdir()} == {
            p.name for p in (exports / destination / night).iterdir()
        }
    # The added files lost p1 too; other profiles' rows are untouched.
    assert _manifest(copy, "ads_lookalike", NIGHT1)["added"] == 1
    assert [
        r["profile_id"] for r in _parquet(copy / "email_win_back" / NIGHT2 / "data.parquet")
    ] == ["p2", "p3"]
    assert forget.find_in_exports(spark, str(copy), ["p1"]) == []
    assert forget.erase_from_exports(spark, str(copy), ["p1"]) == 0

"""GDPR access and erasure on a real built warehouse, checked against the generator's truth.

The erasure test reads every file under the warehouse afterwards (Parquet decoded, logs,
JSON and databases as text) and looks for the person's identifiers in every spelling they
were landed in; then lands their records again and checks the next build refuses them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from cdp.app import pipeline
from cdp.app.cli import main
from cdp.core import catalog
from tests.conftest import DEMO_END, cdp_env, make_settings

IDENTIFIER_FIELDS = (
    "crm_id",
    "loyalty_id",
    "email",
    "phone",
    "card_token",
    "anonymous_id",
    "device_id",
    "user_id",
)
RECORD_KEY = {"crm": "crm_id", "loyalty": "loyalty_id", "pos": "transaction_id", "web": "event_id"}


def _landed_rows(landing: Path) -> list[tuple[str, str, dict]]:
    """(source, record key, raw row) of every landed row."""
    rows = []
    for source, key in RECORD_KEY.items():
        for file in sorted((landing / source).glob("*/*")):
            if file.suffix == ".jsonl":
                for line in file.read_text(encoding="utf-8").splitlines():
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict):
                        rows.append((source, str(row.get(key) or "").strip(), row))
            else:
                with file.open(encoding="utf-8", newline="") as f:
                    for row in csv.DictReader(f):
                        rows.append((source, (row.get(key) or "").strip(), row))
    return rows


def _own_model_store(warehouse: Path, original: str) -> None:
    """Points a copied warehouse's MLflow store at the copy's artifacts: MLflow's SQLite
    store holds absolute paths, and the copy must neither read nor write the warehouse it
    was copied from (other tests read it)."""
    import sqlite3

    with sqlite3.connect(warehouse / "_mlflow" / "mlflow.db") as db:
        for (table,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ).fetchall():
            columns = db.execute(f"PRAGMA table_info('{table}')").fetchall()
            for column in (c[1] for c in columns if c[2].upper().startswith(("VARCHAR", "TEXT"))):
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?)'
                    f' WHERE instr("{column}", ?) > 0',
                    (original, str(warehouse), original),
                )
        left = [
            table
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for row in db.execute(f'SELECT * FROM "{table}"')
            if any(isinstance(v, str) and original in v for v in row)
        ]
    assert left == [], f"MLflow tables still naming the original warehouse: {left}"


@pytest.fixture(scope="module")
def gdpr_world(spark, built, tmp_path_factory):
    """A copy of the session's built warehouse and its landing zone (the erasure test changes
    both), and one person to request about."""
    built_settings, _ = built
    base = tmp_path_factory.mktemp("gdpr")
    landing = base / "landing"
    shutil.copytree(built_settings.paths.landing, landing)
    shutil.copytree(built_settings.paths.warehouse, base / "warehouse")
    _own_model_store(base / "warehouse", built_settings.paths.warehouse)
    settings = make_settings(landing, base / "warehouse")

    truth: dict[str, str] = {}
    with (landing / "_truth" / "records.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth[f"{row['source']}:{row['record_key']}"] = row["person_id"]
    resolved = {
        r["record_id"]: r["profile_id"]
        for r in catalog.read(spark, "gold.record_profiles", settings.paths.warehouse).collect()
    }
    landed = _landed_rows(landing)

    def terms_of(rows) -> set[str]:
        return {
            str(r[k]).strip().lower()
            for _, _, r in rows
            for k in IDENTIFIER_FIELDS
            if r.get(k) not in (None, "") and len(str(r[k]).strip()) >= 5
        }

    # A person whose records all resolved to one profile that holds nobody else's, with
    # receipts or web events too, and none of whose identifiers anyone else landed.
    by_person: dict[str, list[str]] = {}
    for record, person in truth.items():
        by_person.setdefault(person, []).append(record)
    for person in sorted(by_person):
        records = by_person[person]
        sources = {r.split(":")[0] for r in records}
        profiles = {resolved.get(r) for r in records}
        if "crm" not in sources or not sources & {"pos", "web"}:
            continue
        if len(profiles) != 1 or None in profiles:
            continue
        profile = profiles.pop()
        if any(truth.get(r) != person for r, p in resolved.items() if p == profile):
            continue
        mine = [x for x in landed if truth.get(f"{x[0]}:{x[1]}") == person]
        others = [x for x in landed if truth.get(f"{x[0]}:{x[1]}") != person]
        terms = terms_of(mine) - terms_of(others)
        emails = [r["email"] for s, _, r in mine if s == "crm" and r.get("email", "").strip()]
        if emails and any("@" in t for t in terms):
            idmap = catalog.read(spark, "gold.identity_map", settings.paths.warehouse)
            normalised = {
                r["identifier"].lower()
                for r in idmap.where(F.col("profile_id") == profile).collect()
            }
            return {
                "settings": settings,
                "landing": landing,
                "person": person,
                "profile": profile,
                "records": set(records),
                "rows": mine,
                "email": emails[0],
                "terms": terms | {t for t in normalised if len(t) >= 5},
                "truth": truth,
            }
    pytest.fail("no generated person fits the test (change the seed)")


def _scan(warehouse: str, terms: set[str]) -> dict[str, set[str]]:
    """Every file under the warehouse, decoded: which of ``terms`` each file contains."""
    hits: dict[str, set[str]] = {}
    for path in Path(warehouse).rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            text = "\n".join(str(table.column(i).to_pylist()) for i in range(table.num_columns))
        else:
            data = path.read_bytes()
            text = data.decode("utf-8", errors="ignore") + data.decode("latin-1")
        text = text.lower()
        found = {t for t in terms if t in text}
        if found:
            hits[str(path.relative_to(warehouse))] = found
    return hits


def _exported_records(export: dict) -> set[str]:
    """Source record ids (``crm:<crm_id>``, ``pos:<transaction_id>``, ...) of exported bronze rows."""
    out = set()
    for source, key in RECORD_KEY.items():
        for item in export["tables"].get(f"bronze.{source}", {}).get("rows", []):
            out.add(f"{source}:{str(item['data'][key]).strip()}")
    return out


def test_access_export_holds_every_record_of_the_person_and_nothing_else(
    spark, gdpr_world, tmp_path
):
    w = gdpr_world
    out = tmp_path / "export.json"
    phone = next((r["phone"] for s, _, r in w["rows"] if s == "crm" and r.get("phone")), None)
    named = ["--phone", phone] if phone else ["--email", w["email"]]
    code = main(
        ["gdpr", "access", "--warehouse", w["settings"].paths.warehouse, *named, "--out", str(out)]
    )
    assert code == 0
    export = json.loads(out.read_text(encoding="utf-8"))

    assert export["subject"]["profile_ids"] == [w["profile"]]
    records = _exported_records(export)
    assert w["records"] <= records, f"missing: {sorted(w['records'] - records)}"
    assert {w["truth"].get(r) for r in records} == {w["person"]}
    # Silver and gold rows too, each saying where it came from.
    tables = export["tables"]
    sources = {r.split(":")[0] for r in w["records"]}
    expected = [
        "silver.person_records",
        "gold.profiles",
        "gold.identity_map",
        "gold.record_profiles",
    ]
    expected += ["silver.commerce_lines", "gold.purchases"] if "pos" in sources else []
    expected += ["silver.experience_events"] if "web" in sources else []
    for name in expected:
        assert tables.get(name, {}).get("rows"), f"nothing exported from {name}"
    for item in tables["bronze.crm"]["rows"]:
        assert item["came_from"]["_source_file"] and item["came_from"]["_batch_date"]
    for name, table in tables.items():
        if "profile_id" in table["rows"][0]["data"] and name != "gold.profile_merges":
            assert {i["data"]["profile_id"] for i in table["rows"]} == {w["profile"]}, name
    # The request is audited by keyed hash, never the identifier itself.
    audit = catalog.read(spark, "audit.gdpr_requests", w["settings"].paths.warehouse).collect()
    assert [(r["kind"], r["outcome"], r["request_id"]) for r in audit] == [
        ("access", "completed", export["request_id"])
    ]
    assert not {str(v).lower() for v in audit[0].asDict().values()} & w["terms"]


def test_gdpr_dag_runs_a_request_without_the_identifier_reaching_airflow(gdpr_world, tmp_path):
    """dags/cdp_gdpr.py in a fresh process (its own embedded Airflow in <warehouse>/_airflow)."""
    w = gdpr_world
    wh = w["settings"].paths.warehouse
    loyalty = next(r["loyalty_id"] for s, _, r in w["rows"] if r.get("loyalty_id"))
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"loyalty_id": loyalty}), encoding="utf-8")
    out = tmp_path / "dag-export.json"
    code = (
        "import sys; from cdp.core.settings import load_settings; from cdp.app import orchestration;"
        f"s = load_settings().with_paths(warehouse={wh!r});"
        f"r = orchestration.run_gdpr(s, 'access', {str(request)!r}, {str(out)!r});"
        "print(r.results['handle_request']['outcome'])"
    )
    env = cdp_env("local[1]")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "completed"
    export = json.loads(out.read_text(encoding="utf-8"))
    assert export["subject"]["profile_ids"] == [w["profile"]]
    assert w["records"] <= _exported_records(export)
    assert not request.exists()  # the request file, which names the person, is gone
    assert _scan(str(Path(wh) / "_airflow"), {loyalty.lower()}) == {}


def test_every_table_has_a_gdpr_rule_or_holds_no_personal_data():
    from jobs.gdpr import locate
    from schemas.comments import column_comments
    from schemas.labels import is_identifying

    for name in catalog.TABLES:
        if locate.rule(name) is None:
            assert name in locate.NO_PERSONAL_DATA
            assert not any(is_identifying(name, c) for c in column_comments(name)), name
        else:
            assert locate.rule(name).keys, name


def test_a_request_names_the_person_in_any_spelling_or_fails_in_one_line(tmp_path, capsys):
    from cdp.core.errors import CdpError
    from cdp.core.settings import StandardiseSettings
    from jobs.gdpr.requests import read_request_file
    from jobs.standardise.identifiers import normalise

    std = StandardiseSettings()
    assert normalise("email", "  Jane.Doe+News@Example.COM ", std) == "jane.doe@example.com"
    assert normalise("phone", "+46 (0)70-123 45 67", std) == normalise("phone", "+46701234567", std)
    assert normalise("crm_id", " C0100001 ", std) == "C0100001"
    for namespace, raw in (("email", "not-an-email"), ("crm_id", "   "), ("shoe_size", "42")):
        with pytest.raises(CdpError) as err:
            normalise(namespace, raw, std)
        assert "\n" not in str(err.value)
    bad = tmp_path / "req.json"
    for text in ("{", "[]", '{"email": "a@b.se", "phone": "+4670"}', '{"height": 2}'):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(CdpError):
            read_request_file(str(bad))
    assert (
        main(["gdpr", "erase", "--warehouse", str(tmp_path / "nowhere"), "--email", "a@b.se"]) == 2
    )
    assert "warehouse folder not found" in capsys.readouterr().err


def test_landed_identifiers_are_normalised_exactly_as_silver_does(spark, built):
    """Suppression and erasure recognise bronze rows by the identifiers silver derives."""
    from jobs.standardise.identifiers import landed_identities

    settings, _ = built
    wh = settings.paths.warehouse
    pairs = (
        ("crm", "silver.person_records", F.col("source") == "crm"),
        ("loyalty", "silver.person_records", F.col("source") == "loyalty"),
        ("web", "silver.experience_events", F.lit(True)),
        ("pos", "silver.commerce_lines", F.col("source") == "pos"),
    )
    for source, table, which in pairs:
        bronze = catalog.read(spark, f"bronze.{source}", wh)
        landed = bronze.select(
            F.col("_file_sha256").alias("file_sha256"),
            F.col("_row_number").alias("row_number"),
            F.array_sort(landed_identities(bronze, source, settings.standardise)).alias("ids"),
        )
        silver_ids = (
            catalog.read(spark, table, wh)
            .where(which)
            .select("file_sha256", "row_number", F.array_sort("identities").alias("expected"))
        )
        joined = silver_ids.join(landed, ["file_sha256", "row_number"])
        assert joined.count() == silver_ids.count() > 0, source
        assert joined.where(~(F.col("ids") == F.col("expected"))).count() == 0, source


def _other_profiles(spark, warehouse: str, profile: str) -> list[tuple]:
    """Every gold.profiles row but ``profile``'s, sorted (as_of moves with the build date)."""
    rows = catalog.read(spark, "gold.profiles", warehouse).where(F.col("profile_id") != profile)
    return sorted(tuple(r) for r in rows.drop("as_of").collect())


def test_erasure_leaves_no_trace_and_the_person_does_not_come_back(spark, gdpr_world):
    """Mutates the module's warehouse: runs after the access test."""
    w = gdpr_world
    settings = w["settings"]
    wh = settings.paths.warehouse
    before_hits = _scan(wh, w["terms"])
    # The scan can fail: before the erasure every identifier is found somewhere.
    assert set().union(*before_hits.values()) == w["terms"]
    others_before = _other_profiles(spark, wh, w["profile"])
    counts_before = {
        n: catalog.read(spark, n, wh).count()
        for n in catalog.TABLES
        if catalog.exists(spark, n, wh)
    }

    # Any spelling of the email names the person.
    code = main(["gdpr", "erase", "--warehouse", wh, "--email", f"  {w['email'].upper()} "])
    assert code == 0

    hits = _scan(wh, w["terms"])
    assert hits == {}, f"identifiers left behind: {hits}"
    request = catalog.read(spark, "audit.gdpr_requests", wh).where("kind = 'erase'").collect()
    assert len(request) == 1 and request[0]["outcome"] == "completed"
    affected = request[0]["rows_affected"]
    for name, n in counts_before.items():
        if name in ("audit.gdpr_requests", "audit.suppression_list"):
            continue
        assert catalog.read(spark, name, wh).count() == n - affected.get(name, 0), name
    assert affected["bronze.crm"] >= 1 and affected["gold.profiles"] == 1
    others_after = _other_profiles(spark, wh, w["profile"])
    assert others_after == others_before

    # Their records land again tomorrow, beside someone else's: theirs are refused at the door.
    tomorrow = (DEMO_END + dt.timedelta(days=1)).isoformat()
    landing: Path = w["landing"]
    someone_else = next(
        (s, k, r)
        for s, k, r in _landed_rows(landing)
        if s == "crm" and w["truth"].get(f"crm:{k}") not in (None, w["person"])
    )
    mine = {s: [r for src, _, r in w["rows"] if src == s] for s in RECORD_KEY}
    mine["crm"].append(someone_else[2])
    for source, rows in mine.items():
        if not rows:
            continue
        folder = landing / source / tomorrow
        folder.mkdir(parents=True)
        if source == "web":
            (folder / "again.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
            )
        else:
            columns = list(rows[0].keys())
            with (folder / "again.csv").open("w", encoding="utf-8", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)
    pipeline.run_batch(spark, settings, tomorrow)

    assert _scan(wh, w["terms"]) == {}
    log = (
        catalog.read(spark, "bronze.file_log", wh).where(F.col("batch_date") == tomorrow).collect()
    )
    suppressed = {r["source"]: r["suppressed_rows"] for r in log}
    assert suppressed == {
        source: len(rows) - (source == "crm") for source, rows in mine.items() if rows
    }
    # Rows in = rows landed + rows suppressed, and the other person's row landed.
    assert {r["source"]: r["rows"] for r in log}["crm"] == 1
    landed_crm = catalog.read(spark, "bronze.crm", wh).where(F.col("_batch_date") == tomorrow)
    assert [r["crm_id"] for r in landed_crm.collect()] == [someone_else[2]["crm_id"]]

"""The `cdp` command from a fresh process: tables by name, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

CDP = [sys.executable, "-m", "cdp.app.cli"]


def cdp(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    from tests.conftest import cdp_env

    env = {**cdp_env("local[1]"), **(env_extra or {})}
    return subprocess.run([*CDP, *args], capture_output=True, text=True, env=env, timeout=600)


def test_sql_answers_by_table_name_from_a_new_process(spark, built):
    settings, _ = built
    expected = {
        r["source"]: r["n"]
        for r in spark.sql(
            "select source, count(*) n from silver.person_records group by source"
        ).collect()
    }
    query = (
        "select source, count(*) as n from silver.person_records group by source order by source"
    )
    result = cdp("sql", query, "--warehouse", settings.paths.warehouse, "--format", "csv")
    assert result.returncode == 0, result.stderr
    # Standard output holds the result alone; logs went to standard error.
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["source"]: int(r["n"]) for r in rows} == expected

    as_json = cdp("sql", query, "--warehouse", settings.paths.warehouse, "--format", "json")
    assert [json.loads(line)["source"] for line in as_json.stdout.splitlines()] == sorted(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--date", "2026-02-30", "--landing", "/tmp"], "bad date '2026-02-30'"),
        (
            ["run", "--date", "2026-02-01", "--landing", "/no/such/landing"],
            "landing folder not found: /no/such/landing",
        ),
        (["generate", "--out", "/tmp/x", "--persons", "0"], "expected a number above 0"),
        (["sql", "select 1", "--config", "/no/such.yaml"], "config file not found: /no/such.yaml"),
        (
            ["generate", "--out", "/tmp/x", "--locales", "fr_FR=1,xx_XX=1"],
            "--locales: unknown locale 'xx_XX'",
        ),
        (["generate", "--out", "/tmp/x", "--noise", "-1"], "expected a level of 0 or more"),
        (["stack", "trigger", "--conf", "{kind: access}"], "--conf: bad JSON '{kind: access}'"),
        (["stack", "trigger", "--conf", "[1]"], "--conf: expected a JSON object, got '[1]'"),
    ],
)
def test_bad_input_gives_a_one_line_error(args, message):
    result = cdp(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_sql_error_is_one_line(built):
    settings, _ = built
    result = cdp(
        "sql", "select nope from silver.person_records", "--warehouse", settings.paths.warehouse
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("cdp: error:")]
    assert len(errors) == 1 and "SQL failed" in errors[0]
    assert "Traceback" not in result.stderr


def test_generate_takes_a_noise_level_and_a_market_mix(tmp_path):
    out = tmp_path / "landing"
    result = cdp(
        "generate", "--out", str(out), "--persons", "40", "--days", "2", "--seed", "3",
        "--noise", "2", "--locales", "fr_FR=3,es_ES=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "_truth" / "manifest.json").read_text())
    settings = manifest["settings"]
    assert settings["noise_level"] == 2.0
    assert [tuple(w) for w in settings["locale_weights"]] == [("fr_FR", 3.0), ("es_ES", 1.0)]
    persons = list(csv.DictReader((out / "_truth" / "persons.csv").open(encoding="utf-8")))
    assert {p["locale"] for p in persons} <= {"fr_FR", "es_ES"}

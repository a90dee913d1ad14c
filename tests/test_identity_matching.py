"""Probabilistic person matching: the model on generated records, and its household guards."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from cdp import catalog
from jobs.identity import matching

D = dt.date


def records_frame(spark, rows):
    """Match-input records (unique_id, first/last name key, birth date, postal code, email,
    phone); email and phone may be left off a row."""
    return spark.createDataFrame(
        [(*r, None, None)[:7] for r in rows],
        "unique_id string, first_name_key string, last_name_key string, birth_date date,"
        " postal_code string, email_key string, phone string",
    )


def test_guards_keep_household_members_apart(spark):
    records = records_frame(
        spark,
        [
            # One person: nickname-close first name, a typed digit in the birth date.
            ("crm:1", "johanna", "berg", D(1980, 3, 14), "41101"),
            ("loyalty:1", "johana", "berg", D(1980, 3, 15), "41101"),
            # Twins: surname, birth date and address shared, first names differ.
            ("crm:2", "lina", "holm", D(2001, 6, 2), "41102"),
            ("loyalty:2", "elin", "holm", D(2001, 6, 2), "41102"),
            # Father and son of one name; the son's loyalty record has no birth date.
            ("crm:3", "bengt", "hagg", D(1961, 5, 2), "41103"),
            ("crm:4", "bengt", "hagg", D(1994, 8, 30), "41103"),
            ("loyalty:4", "bengt", "hagg", None, "41103"),
            # One person, birth date missing on one side, no namesake: may link.
            ("crm:5", "ulla", "sand", D(1970, 1, 9), "41104"),
            ("loyalty:5", "ulla", "sand", None, "41104"),
            # First name missing: never linked on the model alone.
            ("crm:6", None, "ek", D(1990, 2, 2), "41105"),
            ("loyalty:6", "siv", "ek", D(1990, 2, 2), "41105"),
            # Name written surname first in one system.
            ("crm:7", "peder", "andersen", D(2005, 3, 5), "41106"),
            ("loyalty:7", "andersen", "peder", D(2005, 3, 5), "41106"),
            # Twins whose names are one letter apart: their own emails and phones differ.
            ("crm:8", "juhani", "karhu", D(2003, 3, 14), "44134", "juhani@x.fi", "+358501"),
            ("crm:9", "juhana", "karhu", D(2003, 3, 14), "44134", "juhana@y.fi", "+358412"),
            # One person with a typo in the email and a new phone: may link.
            ("crm:10", "aino", "salo", D(1990, 1, 1), "00100", "aino@elisa.fi", "+35840"),
            ("loyalty:10", "aino", "salo", D(1990, 1, 1), "00100", "aino@elisa.fl", "+35841"),
        ],
    )
    candidates = [
        ("crm:1", "loyalty:1"),
        ("crm:2", "loyalty:2"),
        ("crm:3", "loyalty:4"),
        ("crm:4", "loyalty:4"),
        ("crm:5", "loyalty:5"),
        ("crm:6", "loyalty:6"),
        ("crm:7", "loyalty:7"),
        ("crm:8", "crm:9"),
        ("crm:10", "loyalty:10"),
    ]
    pairs = spark.createDataFrame(
        [(a, b, 0.999, 12.0) for a, b in candidates],
        "unique_id_l string, unique_id_r string, match_probability double, match_weight double",
    )
    kept = {
        (r["unique_id_l"], r["unique_id_r"])
        for r in matching.guarded_pairs(pairs, records).collect()
    }
    assert kept == {
        ("crm:1", "loyalty:1"),
        ("crm:5", "loyalty:5"),
        ("crm:7", "loyalty:7"),
        ("crm:10", "loyalty:10"),
    }


def test_model_links_only_records_of_one_person(spark, built, generated_landing):
    """Trained without labels on the generated CRM and loyalty records: every pair it keeps
    is one person, and it finds people whose CRM and loyalty records share no identifier."""
    settings, _ = built
    people = catalog.read(spark, "silver.person_records", settings.paths.warehouse)
    records = matching.match_input(people).cache()
    result = matching.scored_pairs(spark, records, settings.identity)
    assert result.trained
    pairs = result.pairs
    truth = (
        spark.read.option("header", True)
        .csv(str(generated_landing / "_truth" / "records.csv"))
        .select(F.concat_ws(":", "source", "record_key").alias("record_id"), "person_id")
    )
    person = {r["record_id"]: r["person_id"] for r in truth.collect()}
    found = [(r["unique_id_l"], r["unique_id_r"]) for r in pairs.collect()]
    assert found, "the model links some records"
    assert all(person[a] == person[b] for a, b in found), [
        (a, b) for a, b in found if person[a] != person[b]
    ]
    persons = spark.read.option("header", True).csv(
        str(generated_landing / "_truth" / "persons.csv")
    )
    unlinked = {r["person_id"] for r in persons.where("crm_loyalty_unlinked = 'true'").collect()}
    linked_people = {person[a] for a, _ in found}
    assert unlinked & linked_people, "some CRM-loyalty pairs with no shared identifier are found"

    # The saved model (what the identity job keeps for later nights) scores the same pairs.
    again = matching.scored_pairs(spark, records, settings.identity, model=result.model)
    assert not again.trained
    assert {(r["unique_id_l"], r["unique_id_r"]) for r in again.pairs.collect()} == set(found)

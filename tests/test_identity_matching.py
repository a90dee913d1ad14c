"""Probabilistic person matching: the model on generated records, and its household guards."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from cdp.core import catalog
from jobs.identity import matching, traits

D = dt.date


def records_frame(spark, rows):
    """Match-input records (unique_id, first/last name key, birth date, postal code, email,
    phone); email and phone may be left off a row."""
    return spark.createDataFrame(
        [(*r, None, None)[:7] for r in rows],
        "unique_id string, first_name_key string, last_name_key string, birth_date date,"
        " postal_code string, email_key string, phone string",
    )


def pairs_frame(spark, rows):
    """Scored pairs (unique_id_l, unique_id_r, match probability, match weight)."""
    return spark.createDataFrame(
        rows,
        "unique_id_l string, unique_id_r string, match_probability double, match_weight double",
    )


def guarded(spark, records, candidates):
    """The candidate pairs (scored alike, p 0.999) that pass the same-person guard."""
    pairs = spark.createDataFrame(
        [(a, b, 0.999, 12.0) for a, b in candidates],
        "unique_id_l string, unique_id_r string, match_probability double, match_weight double",
    )
    return {
        (r["unique_id_l"], r["unique_id_r"])
        for r in matching.guarded_pairs(pairs, records).collect()
    }


def test_guards_keep_household_members_apart(spark):
    records = records_frame(
        spark,
        [
            # One person: nickname-close first name, a typed digit in the birth date.
            ("crm:1", "johanna", "berg", D(1980, 3, 14), "41101"),
            ("loyalty:1", "johana", "berg", D(1980, 3, 15), "41101"),
            # Twins: surname, birth date and address shared, first names differ.
            ("crm:2", "lina", "holm", D(2001, 6, 2), "41102"),
            ("loyalty:2", "sara", "holm", D(2001, 6, 2), "41102"),
            # Father and son of one name; the son's loyalty record has no birth date.
            ("crm:3", "bengt", "hagg", D(1961, 5, 2), "41103"),
            ("crm:4", "bengt", "hagg", D(1994, 8, 30), "41103"),
            ("loyalty:4", "bengt", "hagg", None, "41103"),
            # One person, birth date missing on one side, no namesake: may link.
            ("crm:5", "ulla", "sand", D(1970, 1, 9), "41104"),
            ("loyalty:5", "ulla", "sand", None, "41104"),
            # First name missing on one side: the rest decides (one candidate here).
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
    kept = guarded(spark, records, candidates)
    assert kept == {
        ("crm:1", "loyalty:1"),
        ("crm:5", "loyalty:5"),
        ("crm:6", "loyalty:6"),
        ("crm:7", "loyalty:7"),
        ("crm:10", "loyalty:10"),
    }


def test_twins_with_two_spellings_of_one_name_are_told_by_their_contacts(spark):
    """Maria and Marie, Carl and Jarl: twins named with two spellings of one name (or one
    letter apart) share surname, birth date and address. Each giving an own email and phone
    that differ is two people; one contact that agrees is one person who spelled the name
    two ways, and a nickname (Robert, Bob) is one person's with every contact differing.
    An email one letter from the other is a slip, unless the names explain the letter
    (carlholst@ beside jarlholst@; jens.jensen@ beside jans.jensen@)."""
    records = records_frame(
        spark,
        [
            ("crm:1", "maria", "jones", D(2000, 7, 12), "WA6", "maria00@icloud.com", "+4479462"),
            ("crm:2", "marie", "jones", D(2000, 7, 12), "WA6", "mariejones@gmail.com", "+4479950"),
            ("crm:3", "holst", "carl", D(1999, 12, 11), "8501", "carlholst@gmail.com", "+4520781"),
            ("crm:4", "jarl", "holst", D(1999, 12, 11), "8501", "jarlholst@gmail.com", "+4570789"),
            # One person, one phone, two spellings.
            ("crm:5", "anna", "berg", D(1981, 3, 3), "11122", "anna.berg@telia.se", "+46701"),
            ("crm:6", "anne", "berg", D(1981, 3, 3), "11122", "anneberg@gmail.com", "+46701"),
            # One person, a slip in the email, two spellings and a new phone.
            ("crm:7", "marie", "lund", D(1990, 5, 5), "4000", "marielund@gmail.com", "+452011"),
            ("crm:8", "maria", "lund", D(1990, 5, 5), "4000", "marielund@gmail.con", "+453999"),
            # Twins Carl and Jarl, neither record swapped.
            ("crm:9", "carl", "holt", D(1999, 1, 2), "8502", "carlholt@gmail.com", "+452078"),
            ("crm:10", "jarl", "holt", D(1999, 1, 2), "8502", "jarlholt@gmail.com", "+457899"),
            # Twins Jens and Jans Jensen: the surname holds the given name.
            ("crm:11", "jens", "jensen", D(2001, 6, 1), "8503", "jens.jensen@a.dk", "+4511"),
            ("crm:12", "jans", "jensen", D(2001, 6, 1), "8503", "jans.jensen@a.dk", "+4599"),
            # One person, Robert at work and Bob at home: a nickname, every contact differs.
            ("crm:13", "robert", "hill", D(1970, 8, 9), "SW1", "robert.hill@work.co.uk", "+4470"),
            ("crm:14", "bob", "hill", D(1970, 8, 9), "SW1", "bobhill@gmail.com", "+4479999"),
        ],
    )
    candidates = [(f"crm:{i}", f"crm:{i + 1}") for i in range(1, 14, 2)]
    assert guarded(spark, records, candidates) == {
        ("crm:5", "crm:6"),
        ("crm:7", "crm:8"),
        ("crm:13", "crm:14"),
    }


def test_one_persons_several_contacts_are_no_second_person_but_a_twin_or_a_son_is(spark):
    """One name and one birth date with two emails and two phones is one person who gave
    several; without a given name on one side it may be a twin, and stays apart; with
    birth dates more than two slips apart, a father and a son."""
    records = records_frame(
        spark,
        [
            ("crm:1", "ernst", "lind", D(1976, 5, 26), "7384", "ernstlind@jubii.dk", "+4532116"),
            ("crm:2", "ernst", "lind", D(1976, 5, 26), "7384", "ernstlind@gmail.com", "+4520999"),
            ("crm:3", None, "hoes", D(1998, 10, 9), "1256FG", "milan.hoes@ziggo.nl", "+316128"),
            ("crm:4", "jens", "hoes", D(1998, 10, 9), "1256FG", "jenshoes@gmail.com", "+317940"),
            ("crm:5", "roland", "dupuy", D(1970, 3, 12), "43582", "rd@free.fr", "+3361"),
            ("crm:6", "roland", "dupuy", D(1970, 3, 12), "43582", "rdupuy@orange.fr", "+3377"),
            ("crm:7", "roland", "dupuy", D(1997, 8, 30), "43582", "roland@sfr.fr", "+3398"),
        ],
    )
    candidates = [("crm:1", "crm:2"), ("crm:3", "crm:4"), ("crm:5", "crm:6"), ("crm:5", "crm:7")]
    assert guarded(spark, records, candidates) == {("crm:1", "crm:2"), ("crm:5", "crm:6")}


def test_one_handle_at_two_providers_and_a_short_name_are_one_persons(spark):
    """People keep their email handle when they open another mailbox, and write their given
    name short: with given names a letter apart or one the start of the other, a handle
    that holds the given name agrees across providers. A handle built from an initial and
    the surname is a twin's as well, and a short form beside a differing contact stays a
    short form. A father and his son of one name may keep one handle as well."""
    records = records_frame(
        spark,
        [
            # A typo in the name, and the handle at another provider with digits added.
            ("crm:1", "last", "lauridsen", D(1969, 2, 10), "4361", "laustlauridsen@gmail.com"),
            ("crm:2", "laust", "lauridsen", D(1969, 2, 18), "4361", "laust.lauridsen270@gmx.dk"),
            # Twins one letter apart whose handles are an initial and the surname.
            (
                "crm:3",
                "stefan",
                "malmberg",
                D(2001, 4, 4),
                "46720",
                "smalmberg@mail.se",
                "+46701234",
            ),
            (
                "crm:4",
                "stefen",
                "malmberg",
                D(2001, 4, 4),
                "46720",
                "smalmberg@gmail.com",
                "+46739876",
            ),
            # A father and his son of one name, the son without a birth date: one handle at
            # two providers, own phones.
            (
                "crm:7",
                "pertti",
                "koskela",
                D(1975, 1, 22),
                "03002",
                "pertti.koskela75@elisa.fi",
                "+3585002127",
            ),
            (
                "crm:8",
                "pertti",
                "koskela",
                None,
                "51220",
                "perttikoskela@hotmail.com",
                "+35841558981",
            ),
            # And with the son's given name misspelled.
            ("crm:9", "aaron", "cox", D(1974, 10, 9), "17268", "aaroncox@gmail.com", "+1617858"),
            ("crm:10", "aron", "cox", None, "17268", "aaroncox224@gmail.com", "+1617759"),
            # Birgit is Birgitta written short; her contacts differ and none agrees.
            ("crm:5", "birgit", "sjoblom", D(1974, 5, 14), "07083", "bs@icloud.com", "+4673"),
            ("crm:6", "birgitta", "sjoblom", D(1974, 5, 14), "87083", "bsj@bredband.net"),
        ],
    )
    candidates = [
        ("crm:1", "crm:2"),
        ("crm:3", "crm:4"),
        ("crm:5", "crm:6"),
        ("crm:7", "crm:8"),
        ("crm:9", "crm:10"),
    ]
    assert guarded(spark, records, candidates) == {("crm:1", "crm:2"), ("crm:5", "crm:6")}


def test_a_birth_year_typed_past_today_contradicts_nothing(spark):
    """6006 typed for 2006 says the date was mistyped past reading which digits hold: to the
    guard it is no birth date, so a copy carrying it links by its name and contacts, while
    a known birth date far from the other's still parts a father and his son (who lives
    nearby: a namesake at the same postal code keeps a dateless copy from linking at all)."""
    contact = ("geirmoen@online.no", "+4790531764")
    records = records_frame(
        spark,
        [
            ("crm:1", "geir", "moen", D(2007, 1, 20), "7009", *contact),
            ("crm:2", "geir", "mon", D(6006, 1, 25), "7009", *contact),
            ("crm:3", "geir", "moen", D(1975, 3, 2), "7010", "geir.moen@gmail.com", "+4790000001"),
        ],
    )
    candidates = [("crm:1", "crm:2"), ("crm:1", "crm:3")]
    assert guarded(spark, records, candidates) == {("crm:1", "crm:2")}


def test_given_names_related_by_nickname_initial_or_variant_link(spark):
    """Slips a registry shows in a given name are not a second person; unrelated names are."""
    same = [
        ("robert", "bob"),  # nickname (the nicknames package's table)
        ("margaret", "peggy"),
        ("j", "johan"),  # initial
        ("kata", "katarina"),  # the start of the name
        ("anna maria", "maria"),  # one word in common
        ("anne", "anna"),  # same first letter, close
        ("jonathan", "jnoathan"),  # two slips
        ("hugh", "hygj"),  # two keyboard slips in a short name, Jaro-Winkler 0.67
        ("bengt", "gebgt"),  # a name nobody is called, two edits away
    ]
    # Names people are called are two people's however close their letters: Jaro-Winkler
    # is below 0.75 for each pair and no nickname or initial joins them.
    apart = [
        ("lina", "sara"),
        ("maria", "sofia"),
        ("erik", "lars"),
        ("anna", "emma"),
        ("ines", "inga"),
    ]
    rows = []
    for i, (a, b) in enumerate(same + apart):
        rows += [
            (f"crm:{i}", a, "dahl", D(1980, 1, 1), "41101"),
            (f"loyalty:{i}", b, "dahl", D(1980, 1, 1), "41101"),
        ]
    records = records_frame(spark, rows)
    pairs = spark.createDataFrame(
        [(f"crm:{i}", f"loyalty:{i}", 0.999, 12.0) for i in range(len(same + apart))],
        "unique_id_l string, unique_id_r string, match_probability double, match_weight double",
    )
    kept = {r["unique_id_l"] for r in matching.guarded_pairs(pairs, records).collect()}
    assert kept == {f"crm:{i}" for i in range(len(same))}


def test_a_record_matching_two_people_links_to_neither(spark):
    """A record without a given name that fits both twins alike would chain them: it joins
    neither; an unambiguous pair elsewhere is untouched."""
    records = records_frame(
        spark,
        [
            ("crm:1", "lina", "holm", D(2001, 6, 2), "41102"),
            ("crm:2", "sara", "holm", D(2001, 6, 2), "41102"),
            ("loyalty:1", None, "holm", D(2001, 6, 2), "41102"),
            ("crm:3", "ulla", "sand", D(1970, 1, 9), "41104"),
            ("loyalty:3", "ulla", "sand", D(1970, 1, 9), "41104"),
        ],
    )
    pairs = pairs_frame(
        spark,
        [
            ("crm:1", "loyalty:1", 0.99, 8.0),
            ("crm:2", "loyalty:1", 0.99, 8.0),
            ("crm:3", "loyalty:3", 0.999, 12.0),
        ],
    )
    kept = matching.constrained_links(spark, matching.guarded_pairs(pairs, records), records)
    assert {(r["unique_id_l"], r["unique_id_r"]) for r in kept.collect()} == {
        ("crm:3", "loyalty:3")
    }


def test_copies_of_one_person_join_through_the_rest_of_their_records(spark):
    """Two badly typed copies of one record contradict each other (the initial R and the
    nickname Bobby), yet the person's other records join them; a record that fits one twin
    far better than the other joins that twin."""
    records = records_frame(
        spark,
        [
            ("crm:1", "robert", "burgess", D(2009, 1, 1), "SR55PP"),
            ("crm:2", "robert", "burgfess", D(2009, 1, 1), "SR55PP"),
            ("crm:3", "r", "burgess", None, "SR55PP"),
            ("crm:4", "bobby", "burgess", D(2009, 1, 1), "SR55PP"),
            ("crm:5", "lina", "holm", D(2001, 6, 2), "41102"),
            ("crm:6", "sara", "holm", D(2001, 6, 2), "41102"),
            ("loyalty:5", None, "holm", D(2001, 6, 2), "41102"),
        ],
    )
    pairs = pairs_frame(
        spark,
        [
            ("crm:1", "crm:2", 0.9999, 14.4),
            ("crm:1", "crm:4", 0.9999, 14.0),
            ("crm:2", "crm:4", 0.9999, 14.0),
            ("crm:1", "crm:3", 0.96, 4.5),
            ("crm:2", "crm:3", 0.96, 4.5),
            ("crm:5", "loyalty:5", 0.9999, 14.0),
            ("crm:6", "loyalty:5", 0.9, 3.2),
        ],
    )
    kept = matching.constrained_links(spark, pairs, records)
    found = {(r["unique_id_l"], r["unique_id_r"]) for r in kept.collect()}
    assert found == {
        ("crm:1", "crm:2"),
        ("crm:1", "crm:4"),
        ("crm:2", "crm:4"),
        ("crm:1", "crm:3"),
        ("crm:2", "crm:3"),
        ("crm:5", "loyalty:5"),
    }


def test_a_swapped_name_and_a_one_letter_twin_are_told_by_what_else_they_say(spark):
    """A given name that is the other record's surname is the same person only when that
    record's surname is missing (Nieminen Marianne beside Marianne); beside a full name it is
    someone else (Taylor Ben, Marion Taylor); a surname cut to its initial and put first is
    the same name swapped (L. Julia, Julia Lindgren). Given names one letter apart are one person
    unless an own contact differs and none agrees (twins Jonas and Jonah; twins Anton and
    Antan: a name no lexicon holds may still be a twin's)."""
    records = records_frame(
        spark,
        [
            ("crm:1", "nieminen", None, D(1980, 3, 14), "00100"),
            ("loyalty:1", "marianne", "nieminen", D(1980, 3, 14), "00100"),
            ("crm:2", "taylor", "ben", D(1975, 2, 1), "IP47XG"),
            ("loyalty:2", "marion", "taylor", D(1975, 2, 1), "IP47XG"),
            # Swapped, the surname cut to its initial: "L. Julia" is Julia Lindgren, "K. Julia"
            # someone else.
            ("crm:11", "l", "julia", D(1998, 3, 25), "73842"),
            ("loyalty:11", "julia", "lindgren", D(1998, 3, 25), "73842"),
            ("crm:12", "k", "julia", D(1998, 3, 25), "73842"),
            # Twins: one letter apart, each with an own phone, nothing shared.
            ("crm:3", "jonas", "berg", D(2003, 3, 14), "41101", None, "+46701"),
            ("crm:4", "jonah", "berg", D(2003, 3, 14), "41101", None, "+46733"),
            ("crm:9", "anton", "lind", D(2003, 3, 14), "41103", None, "+46705"),
            ("crm:10", "antan", "lind", D(2003, 3, 14), "41103", None, "+46736"),
            # One person: one letter apart, a new phone, but the same email.
            ("crm:5", "helen", "dahl", D(1990, 1, 1), "41102", "helen@x.se", "+46702"),
            ("crm:6", "helin", "dahl", D(1990, 1, 1), "41102", "helen@x.se", "+46744"),
            # One person: one letter apart, no contact on one side.
            ("crm:7", "matti", "salo", D(1960, 5, 5), "00200", None, "+358401"),
            ("crm:8", "mattu", "salo", D(1960, 5, 5), "00200"),
        ],
    )
    candidates = [
        ("crm:1", "loyalty:1"),
        ("crm:2", "loyalty:2"),
        ("crm:3", "crm:4"),
        ("crm:5", "crm:6"),
        ("crm:7", "crm:8"),
        ("crm:9", "crm:10"),
        ("crm:11", "loyalty:11"),
        ("crm:12", "loyalty:11"),
    ]
    kept = guarded(spark, records, candidates)
    assert kept == {
        ("crm:1", "loyalty:1"),
        ("crm:5", "crm:6"),
        ("crm:7", "crm:8"),
        ("crm:11", "loyalty:11"),
    }


def test_a_record_without_a_given_name_joins_the_twin_it_fits_by_more_than_the_margin(spark):
    """Twins' copies fit a record without a given name equally; a birth date exact for one
    twin and a slip for the other makes more than AMBIGUITY_MARGIN bits of difference."""
    margin = matching.AMBIGUITY_MARGIN
    records = records_frame(
        spark,
        [
            ("crm:1", "lina", "holm", D(2001, 6, 2), "41102"),
            ("crm:2", "sara", "holm", D(2001, 6, 2), "41102"),
            ("loyalty:1", None, "holm", D(2001, 6, 2), "41102"),
            ("crm:3", "ella", "berg", D(1999, 1, 8), "41103"),
            ("crm:4", "maja", "berg", D(1999, 1, 8), "41103"),
            ("loyalty:3", None, "berg", D(1999, 1, 8), "41103"),
        ],
    )
    pairs = pairs_frame(
        spark,
        [
            ("crm:1", "loyalty:1", 0.998, 9.0),
            ("crm:2", "loyalty:1", 0.998, 9.0 - margin * 0.5),  # within the margin: torn
            ("crm:3", "loyalty:3", 0.998, 9.0),
            ("crm:4", "loyalty:3", 0.99, 9.0 - margin * 1.5),  # beyond it: joins crm:3
        ],
    )
    kept = matching.constrained_links(spark, matching.guarded_pairs(pairs, records), records)
    assert {(r["unique_id_l"], r["unique_id_r"]) for r in kept.collect()} == {
        ("crm:3", "loyalty:3")
    }


def test_a_badly_typed_copy_is_no_twin_a_record_must_choose_against(spark):
    """A record without a given name fits Glen's three copies and a copy of his typed past
    recognition (gpnw, a name nobody is called) alike: the many copies outweigh the one and
    it joins Glen. Beside a twin of one record whose name is typed badly (gabion) it still
    joins neither; and a record with neither a given name nor a birth date (a surname at an
    address, which any household member fits) stays strict (issue 15, identity matrix)."""
    glen = D(1991, 8, 10)
    records = records_frame(
        spark,
        [
            ("crm:1", "glen", "austin", glen, "L1K6XQ"),
            ("crm:2", "glen", "austin", glen, "L1K6XQ"),
            ("crm:3", "gken", "austin", glen, "L1K6XQ"),
            ("crm:4", "gpnw", "austin", D(1991, 10, 8), "L1K6XQ"),
            ("loyalty:1", None, "austin", glen, "L1K6XQ"),
            # Twins of one record each: Daniel, and Gabino typed as gabion.
            ("crm:5", "daniel", "salazar", D(2007, 10, 4), "45348"),
            ("crm:6", "gabion", "salazar", D(2007, 10, 4), "45348"),
            ("loyalty:5", None, "salazar", D(2007, 10, 4), "45348"),
            # Neither a given name nor a birth date, beside Ulla's copies and a badly typed one.
            ("crm:7", "ulla", "sand", D(1970, 1, 9), "41104"),
            ("crm:8", "ulla", "sand", D(1970, 1, 9), "41104"),
            ("crm:9", "uqxz", "sand", D(1970, 9, 1), "41104"),
            ("loyalty:7", None, "sand", None, "41104"),
        ],
    )
    pairs = pairs_frame(
        spark,
        [
            ("crm:1", "crm:2", 0.99999, 17.0),
            ("crm:1", "crm:3", 0.99999, 16.5),
            ("crm:2", "crm:3", 0.99999, 16.5),
            ("crm:1", "loyalty:1", 0.9999, 15.6),
            ("crm:4", "loyalty:1", 0.9999, 15.6),
            ("crm:5", "loyalty:5", 0.9999, 15.6),
            ("crm:6", "loyalty:5", 0.9999, 15.6),
            ("crm:7", "crm:8", 0.99999, 17.0),
            ("crm:7", "loyalty:7", 0.99, 7.0),
            ("crm:9", "loyalty:7", 0.99, 7.0),
        ],
    )
    guarded = matching.guarded_pairs(pairs, records)
    assert guarded.count() == 10  # no pair of these contradicts; gpnw contradicts Glen
    kept = matching.constrained_links(spark, guarded, records)
    assert {(r["unique_id_l"], r["unique_id_r"]) for r in kept.collect()} == {
        ("crm:1", "crm:2"),
        ("crm:1", "crm:3"),
        ("crm:2", "crm:3"),
        ("crm:1", "loyalty:1"),
        ("crm:7", "crm:8"),
    }


def test_a_record_joins_its_twin_when_the_other_twin_contradicts_it(spark):
    """An Elin without a birth date fits her own cluster and, nearly as well, her twin
    Elisabeth's (through Eliabteh, a typo close to Elin); but she contradicts Elisabeth, so
    that cluster is no place she could go, and she joins her own (seen on the identity
    matrix's names-only set)."""
    records = records_frame(
        spark,
        [
            ("crm:1", "elin", "simonsen", D(2005, 1, 19), "9216"),
            ("crm:2", "elin", "slmonsen", D(2005, 1, 19), "9216"),
            ("loyalty:1", "elin", "simonsen", None, "9216"),
            ("crm:3", "eliabteh", "simonsen", D(2005, 1, 19), "9216"),
            ("crm:4", "elisabeth", "smionesn", D(2005, 1, 19), "9216"),
        ],
    )
    pairs = pairs_frame(
        spark,
        [
            ("crm:1", "crm:2", 0.9999, 17.0),
            ("crm:3", "crm:4", 0.99999, 18.0),
            ("crm:1", "crm:3", 0.9999, 17.0),  # refused: Elisabeth contradicts both Elins
            ("crm:1", "loyalty:1", 0.997, 8.2),
            ("crm:3", "loyalty:1", 0.995, 7.7),  # within the margin of the link above
        ],
    )
    guarded = matching.guarded_pairs(pairs, records)
    # Elisabeth contradicts both Elins (the guard drops no pair of these, none pairs them).
    assert guarded.count() == 5
    kept = matching.constrained_links(spark, guarded, records)
    assert {(r["unique_id_l"], r["unique_id_r"]) for r in kept.collect()} == {
        ("crm:1", "crm:2"),
        ("crm:3", "crm:4"),
        ("crm:1", "loyalty:1"),
    }


def test_link_threshold_follows_the_models_own_precision(spark):
    """The threshold is the lowest probability at which the kept pairs' expected share of
    false pairs, the mean of (1 - p), stays within 1 - precision; never below the floor."""
    import math

    def weight(p):
        return math.log2(p / (1 - p))

    probabilities = [0.99999] * 900 + [0.999] * 90 + [0.9] * 10 + [0.6] * 50
    pairs = spark.createDataFrame(
        [(f"a{i}", f"b{i}", p, weight(p)) for i, p in enumerate(probabilities)],
        "unique_id_l string, unique_id_r string, match_probability double, match_weight double",
    )
    # Down to 0.9: (900 * 1e-5 + 90 * 1e-3 + 10 * 0.1) / 1000 = 0.0011 > 0.001, so 0.9 is
    # out and the threshold is the lower edge of the 0.999 pairs' bin.
    t = matching.link_threshold(pairs, precision=0.999, floor=0.5)
    assert 0.9 < t <= 0.999
    # A looser target takes the 0.9 pairs in, and the 0.6 pairs stay out: 0.0203 > 0.02.
    t = matching.link_threshold(pairs, precision=0.98, floor=0.5)
    assert 0.6 < t <= 0.9
    # The floor wins over a target every pair meets.
    assert matching.link_threshold(pairs, precision=0.5, floor=0.95) == 0.95


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


def test_a_night_too_small_to_train_on_still_scores(spark):
    """A first delta of a few records into an empty warehouse: no two share a birth date or
    a surname and postcode, the blocks EM trains on. The passes are skipped (splink's
    default weights stand) and the night scores its pairs instead of failing."""
    from cdp.core.settings import IdentitySettings

    rows = [
        ("crm:1", "crm", "anna", "berg", D(1980, 1, 2), "11122", "a@x.se", "Storgatan 1"),
        ("crm:2", "crm", "omar", "holm", D(1975, 3, 4), "41104", None, "Lillgatan 9"),
        ("loyalty:1", "loyalty", "anna", "bergh", D(1980, 2, 1), "11123", "a@x.se", "Ringv 4"),
    ]
    base = spark.createDataFrame(
        rows,
        "unique_id string, source string, first_name_key string, last_name_key string,"
        " birth_date date, postal_code string, email_key string, street string",
    )
    records = traits.with_name_groups(
        matching.with_contact_blocks(
            base.select(
                "unique_id",
                "source",
                "first_name_key",
                "last_name_key",
                F.concat_ws(" ", "first_name_key", "last_name_key").alias("full_name_key"),
                F.soundex("first_name_key").alias("first_name_soundex"),
                F.soundex("last_name_key").alias("last_name_soundex"),
                "birth_date",
                F.date_format("birth_date", "yyyy-MM-dd").alias("birth_date_text"),
                F.year("birth_date").alias("birth_year"),
                F.date_format("birth_date", "MM-dd").alias("birth_month_day"),
                "email_key",
                F.lit(None).cast("string").alias("phone"),
                F.regexp_extract("street", r"^(\D+)", 1).alias("street_key"),
                F.regexp_extract("street", r"(\d+)", 1).alias("house_number"),
                "postal_code",
                F.lit("stockholm").alias("city_key"),
            )
        )  # fmt: skip
    )
    result = matching.scored_pairs(spark, records, IdentitySettings())
    assert result is not None and result.trained
    # Every pair scored came from the records given, each pair once.
    pairs = {(r["unique_id_l"], r["unique_id_r"]) for r in result.pairs.collect()}
    assert pairs <= {("crm:1", "crm:2"), ("crm:1", "loyalty:1"), ("crm:2", "loyalty:1")}


def test_a_contact_blocks_where_few_records_share_it_and_a_junk_one_nowhere(spark, monkeypatch):
    """A contact the identity graph cut (a household's, or one person's on many copies)
    still brings its records' pairs before the model; one on more records than a person
    has copies blocks nothing; test@test.com and 0000000000 are no one's, to compare or to
    block on."""
    from cdp.core.settings import IdentitySettings

    monkeypatch.setattr(matching, "MAX_CONTACT_BLOCK", 2)
    records = records_frame(
        spark,
        [
            ("crm:1", "anna", "berg", None, None, "anna@x.se", "+46701234567"),
            ("crm:2", "ann", "berg", None, None, "anna@x.se", "+46701234567"),
            ("crm:3", "omar", "holm", None, None, "shop@x.se", "0000000000"),
            ("crm:4", "ida", "lund", None, None, "shop@x.se", None),
            ("crm:5", "per", "ek", None, None, "shop@x.se", None),
            ("crm:6", "eva", "ek", None, None, "test@test.com", None),
        ],
    )
    blocked = matching.without_blocked_contacts(records, IdentitySettings().blocked_values)
    rows = {r["unique_id"]: r for r in matching.with_contact_blocks(blocked).collect()}
    assert rows["crm:6"]["email_key"] is None and rows["crm:3"]["phone"] is None
    assert rows["crm:3"]["email_key"] == "shop@x.se"  # not junk, only shared
    assert [rows[k]["email_block"] for k in ("crm:1", "crm:2")] == ["anna@x.se"] * 2
    assert [rows[k]["phone_block"] for k in ("crm:1", "crm:2")] == ["+46701234567"] * 2
    # Three records give shop@x.se, more than MAX_CONTACT_BLOCK: it blocks nothing.
    assert {rows[k]["email_block"] for k in ("crm:3", "crm:4", "crm:5", "crm:6")} == {None}


def test_a_household_contact_beside_one_birth_date_is_no_second_person(spark):
    """A contact the graph found on different people (the family's email, a landline) is
    not the record's own: beside one birth date in both records it does not make a
    differently spelled given name a twin; without that date it still counts, so a father
    and his undated namesake son stay apart."""
    records = records_frame(
        spark,
        [
            # Thomas with his own email; a copy typed Tvomasa giving the family's email.
            ("crm:1", "thomas", "pineau", D(1973, 4, 3), "60110", "thomas77@free.fr"),
            ("crm:2", "tvomasa", "pineau", D(1973, 4, 3), "60110", "famille.pineau@orange.fr"),
            # Aaron Cox and his namesake son, neither copy dated; the father's email was cut
            # as the household's (his own copies contradicted each other).
            ("crm:3", "aaron", "cox", None, "17268", "aaroncox@gmail.com", "+16178582666"),
            ("crm:4", "aaron", "cox", None, "17268", "aaroncox224@gmail.com", "+16177590491"),
        ],
    )
    household = spark.createDataFrame(
        [("email", "famille.pineau@orange.fr"), ("email", "aaroncox@gmail.com")],
        "namespace string, value string",
    )
    candidates = [("crm:1", "crm:2"), ("crm:3", "crm:4")]
    # Every contact counted: Tvomasa's other email makes a twin of a spelling.
    assert guarded(spark, records, candidates) == set()
    own = matching.own_contacts(records, household)
    assert guarded(spark, own, candidates) == {("crm:1", "crm:2")}


def test_birth_dates_apart_only_when_no_slip_explains_the_difference(spark):
    """Two birth dates part two records only when no slip a registry shows explains them:
    a digit, two transposed, day and month swapped (with a slip in the year too), or two
    slips, one in each copy. A father and his son, or a year and a month both wrong, are two
    dates; an unknown date parts nothing."""
    one_date = [
        (D(1980, 5, 6), D(1980, 5, 6)),
        (D(1980, 5, 6), D(1980, 5, 8)),  # a wrong digit
        (D(1980, 5, 6), D(1908, 5, 6)),  # two digits transposed
        (D(1980, 5, 6), D(1980, 6, 5)),  # day and month swapped
        (D(1980, 5, 6), D(1981, 6, 5)),  # swapped, and a slip in the year
        (D(1980, 5, 6), D(1981, 5, 7)),  # a slip in each copy
        (D(1980, 5, 6), D(1980, 5, 27)),  # same year and month, the day typed badly
        (D(1980, 5, 6), None),
    ]
    two_dates = [
        (D(1952, 3, 14), D(1979, 8, 2)),  # a father and his son
        (D(1980, 5, 6), D(1972, 11, 6)),  # year and month both wrong
        (D(1980, 5, 6), D(1991, 7, 6)),
    ]
    frame = spark.createDataFrame(
        [(i, a, b) for i, (a, b) in enumerate(one_date + two_dates)], "i int, a date, b date"
    )
    apart = {
        r["i"] for r in frame.where(traits.birth_dates_apart(F.col("a"), F.col("b"))).collect()
    }
    assert apart == set(range(len(one_date), len(one_date) + len(two_dates)))


def test_blocking_rules_meet_a_copy_whose_names_or_postcode_went_wrong(spark):
    """Copies of a person with most fields wrong or missing still meet in a blocking rule,
    and in the rule written for them only: a surname typed within its Soundex code at the
    same postal code (no given name, no birth date, the house number slipped, the street
    abbreviated), and a birthday and a house number kept when both names and the postal
    code went wrong."""
    from splink import block_on

    from cdp_dev.identity.matrix import blocking_recall

    rows = [
        # (record, first name, surname, birth date, street, postal code, city)
        ("crm:a1", "anna", "hall", D(1980, 5, 6), "Storgatan 25", "41101", "göteborg"),
        ("loyalty:a2", None, "hal", None, "Storgt. 5", "41101", None),
        ("crm:b1", "erik", "lund", D(1975, 3, 8), "Kungsvägen 4", "22100", "lund"),
        ("loyalty:b2", None, "iund", D(1957, 3, 8), "Kungsv. 4", "22010", None),
    ]
    people = spark.createDataFrame(
        [
            (rid, rid.split(":")[0], rid.split(":")[1], fn, ln, bd, street, pc, city)
            for rid, fn, ln, bd, street, pc, city in rows
        ],
        "record_id string, source string, source_key string, first_name_key string,"
        " last_name_key string, birth_date date, street string, postal_code string,"
        " city string",
    ).select(
        "*",
        F.lit(None).cast("string").alias("email_key"),
        F.lit(None).cast("string").alias("phone"),
        F.current_timestamp().alias("record_ts"),
        F.lit("f").alias("file_sha256"),
        F.lit(1).alias("row_number"),
    )
    records = matching.match_input(people).toPandas()
    truth = {"crm:a1": "A", "loyalty:a2": "A", "crm:b1": "B", "loyalty:b2": "B"}
    rules = matching.model_settings().blocking_rules_to_generate_predictions
    assert blocking_recall(records, truth, rules).generated == 2
    # Each pair is there by its own rule: without it, no other rule meets the pair.
    for rule in (
        block_on("last_name_soundex", "postal_code"),
        block_on("birth_month_day", "house_number"),
    ):
        sql = rule.get_blocking_rule("spark").blocking_rule_sql
        others = [r for r in rules if getattr(r, "get_blocking_rule", None) is None
                  or r.get_blocking_rule("spark").blocking_rule_sql != sql]  # fmt: skip
        assert len(others) == len(rules) - 1
        assert blocking_recall(records, truth, others).generated == 1

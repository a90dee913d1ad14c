"""The last guard rail (jobs/identity/limits.py): a profile over a per-namespace limit or
over its total size is rebuilt strongest edge first, and every edge it refuses is audited.

The first two tests run the identity job's pure core (``resolve``) on inline records with
small limits; the third checks the edge order itself on a component with a probabilistic
link, which ``resolve`` only makes with a trained splink model.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from jobs.identity.limits import greedy_split
from tests.test_identity_attachment import SETTINGS, profile_of, run_resolve


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_over_a_namespace_limit_the_link_with_the_fewest_records_goes(spark):
    rows = [("crm:1", "crm_id", "1"), ("crm:1", "email", "ann@x.se")]
    # Ann's phone and tablet log in again and again; an old laptop logged in once.
    for device, visits in (("phone", 3), ("tablet", 2), ("laptop", 1)):
        for i in range(visits):
            rows += [(f"web:{device}{i}", "crm_id", "1"), (f"web:{device}{i}", "device_id", device)]
    limits = dict(SETTINGS.max_per_profile, device_id=2)
    settings = dataclasses.replace(SETTINGS, max_per_profile=limits)

    profiles, cuts = run_resolve(spark, rows, settings=settings)

    assert profile_of(profiles, "crm_id:1") == {
        "crm_id:1",
        "email:ann@x.se",
        "device_id:phone",
        "device_id:tablet",
    }
    assert profile_of(profiles, "device_id:laptop") == {"device_id:laptop"}
    assert cuts["profile_limit"] == {"device_id:laptop"}


@pytest.mark.slow  # many Spark jobs on inline data; not in make test-fast
def test_over_the_total_size_the_lowest_priority_namespace_goes_first(spark):
    rows = [
        ("crm:1", "crm_id", "1"),
        ("crm:1", "email", "ann@x.se"),
        ("crm:1", "phone", "+46701234567"),
        # Her app: a device id is a weaker identifier than an email or a phone number, even
        # when it stands on more records.
        *[r for i in range(4) for r in ((f"web:a{i}", "crm_id", "1"),
                                         (f"web:a{i}", "device_id", "ann-app"))],
    ]  # fmt: skip
    settings = dataclasses.replace(SETTINGS, max_profile_identifiers=3)

    profiles, cuts = run_resolve(spark, rows, settings=settings)

    assert profile_of(profiles, "crm_id:1") == {"crm_id:1", "email:ann@x.se", "phone:+46701234567"}
    assert cuts["profile_limit"] == {"device_id:ann-app"}


def _edge(src, dst, method, rank, records=1, p=None):
    (sn, sv), (dn, dv) = src[1].split(":"), dst[1].split(":")
    return {
        "src": src[0], "dst": dst[0], "src_namespace": sn, "src_value": sv,
        "dst_namespace": dn, "dst_value": dv, "method": method, "strength_rank": rank,
        "records": records, "match_probability": p, "src_person": None, "dst_person": None,
    }  # fmt: skip


def test_probabilistic_links_go_before_deterministic_ones():
    crm1, crm2, crm3 = (1, "crm_id:1"), (2, "crm_id:2"), (3, "crm_id:3")
    email = (4, "email:ann@x.se")
    edges = pd.DataFrame(
        [
            # Listed first and all but certain: still weaker than any deterministic link.
            _edge(crm3, crm1, "probabilistic", 0, records=9, p=0.9999),
            _edge(crm1, email, "deterministic", 2),
            _edge(crm2, email, "deterministic", 2),
        ]
    )
    out = greedy_split(edges, {"crm_id": 2}, 500, "test")

    vertices = out[out.row_type == "vertex"]
    component = dict(zip(vertices["id"], vertices["component"], strict=True))
    assert component[1] == component[2] == component[4] != component[3]
    (cut,) = out[out.row_type == "cut"].itertuples()
    assert cut.detail.startswith("probabilistic edge crm_id:3 - crm_id:1 dropped (crm_id 3 > 2)")

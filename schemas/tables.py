"""Every table the build writes, each described once (its ``Schema``), in build order.

The catalog (cdp/core/catalog.py) registers these names, paths, grains, partitioning and
table comments; schemas/comments.py and schemas/labels.py read the column comments and
data-usage labels from them; the analysts' masked views (jobs/governance/masking.py) and the
Great Expectations suites (expectations/suites.py) are derived from the same fields.
"""

from __future__ import annotations

from schemas.audit import AUDIT_SCHEMAS, IDENTITY_CUTS
from schemas.bronze import BRONZE_SCHEMAS
from schemas.fields import Schema
from schemas.gold import GOLD_SCHEMAS
from schemas.xdm import IDENTITY_EDGES
from schemas.xdm import SCHEMAS as SILVER_SCHEMAS

TABLES: dict[str, Schema] = {
    **BRONZE_SCHEMAS,
    **SILVER_SCHEMAS,
    IDENTITY_EDGES.name: IDENTITY_EDGES,
    IDENTITY_CUTS.name: IDENTITY_CUTS,
    **GOLD_SCHEMAS,
    **AUDIT_SCHEMAS,
}

"""GDPR requests as an Airflow DAG: one run per request, triggered with the request as params.

``kind`` is ``access`` (Articles 15 and 20: export everything held about the person, as JSON,
to ``out``) or ``erase`` (Article 17: remove the person from every table and layer,
physically, and suppress their identifiers for future extracts). The person is named in a
small JSON request file, e.g. ``{"email": "jane@example.com"}`` (one of email, phone,
crm_id, loyalty_id, card_token, device_id, anonymous_id), given as ``request_file``: the
identifier itself never enters Airflow's metadata database or task logs, and the file is
deleted once the request is done. The request is audited in audit.gdpr_requests by keyed
hash (jobs/gdpr/requests.py).

Run embedded with `cdp gdpr access|erase` (same jobs, no Airflow) or on a deployment with
`airflow dags trigger cdp_gdpr --conf '{"kind": "erase", "request_file": "/secure/req.json"}'`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, get_current_context, task

GDPR_TABLES = ("audit.gdpr_requests", "audit.suppression_list")


@dag(
    dag_id="cdp_gdpr",
    description="GDPR access export or erasure of one person across every layer.",
    doc_md=__doc__,
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    # An erasure rewrites tables: one request at a time.
    max_active_runs=1,
    default_args={"owner": "cdp", "retries": 0},
    tags=["cdp", "gdpr"],
    params={
        "kind": Param("access", enum=["access", "erase"]),
        "request_file": Param(
            "", type="string", description='JSON file naming the person, e.g. {"email": "..."}'
        ),
        "out": Param(None, type=["null", "string"], description="access: export file"),
        "warehouse": Param(None, type=["null", "string"]),
        "config": Param(None, type=["null", "string"]),
    },
)
def cdp_gdpr():
    @task(
        outlets=[Asset(name=t, uri=f"cdp://warehouse/{t.replace('.', '/')}") for t in GDPR_TABLES]
    )
    def handle_request() -> dict:
        """Resolve the person through the identity graph and carry out the request."""
        from cdp.app.orchestration import settings_for_task
        from cdp.core.spark import get_spark
        from jobs.gdpr import requests

        context = get_current_context()
        params = context["params"]
        settings = settings_for_task(context)
        namespace, identifier = requests.read_request_file(params["request_file"])
        spark = get_spark(settings)
        if params["kind"] == "access":
            result = requests.access(spark, settings, namespace, identifier)
            requests.write_export(spark, result, params.get("out") or None)
        else:
            result = requests.erase(spark, settings, namespace, identifier)
        requests.forget_request_file(params["request_file"])
        # Counts and ids only: XCom lives in Airflow's metadata database.
        return {
            "request_id": result.request_id,
            "kind": result.kind,
            "outcome": result.outcome,
            "rows": result.rows,
            "files_removed": result.files_removed,
        }

    handle_request()


cdp_gdpr()

"""What a nightly run built, as a short text summary and an HTML report with charts.

The last task of the nightly DAG calls ``build_summary`` and ``write_html``: rows per table
and layer, the batch date's quarantined rows by reason, profiles (known and anonymous),
identity cluster sizes (identifiers per profile), and RFM segment sizes and revenue. The
summary is a small dict of numbers (it travels through XCom); the HTML page is written to
``<warehouse>/_reports/run-<batch date>.html`` with inline SVG charts, so it opens in any
browser from the warehouse folder, with no server and nothing fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from cdp.core import catalog, storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cdp.core.settings import Settings

# Identifiers per profile, grouped: a profile of 1 is a lone cookie or card; large ones are
# worth a look (the guard rails cap them, identity.max_profile_identifiers).
CLUSTER_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, None))


def _bucket_label(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def build_summary(spark: SparkSession, warehouse: str, batch_date: str) -> dict[str, Any]:
    """Counts describing the warehouse after the run for ``batch_date`` (plain JSON types)."""
    day = dt.date.fromisoformat(batch_date)
    tables = {}
    for name in catalog.TABLES:
        if catalog.exists(spark, name, warehouse):
            tables[name] = catalog.read(spark, name, warehouse).count()
    summary: dict[str, Any] = {"batch_date": batch_date, "tables": tables}

    summary["quarantine"] = []
    if "silver.quarantine" in tables:
        rows = (
            catalog.read(spark, "silver.quarantine", warehouse)
            .where(F.col("batch_date") == F.lit(day))
            .groupBy("source", "reason_code")
            .count()
            .orderBy(F.desc("count"), "source", "reason_code")
            .collect()
        )
        summary["quarantine"] = [[r.source, r.reason_code, r["count"]] for r in rows]

    if "gold.profiles" in tables:
        counts = (
            catalog.read(spark, "gold.profiles", warehouse)
            .groupBy("is_anonymous")
            .count()
            .collect()
        )
        by_kind = {bool(r.is_anonymous): r["count"] for r in counts}
        summary["profiles"] = {"known": by_kind.get(False, 0), "anonymous": by_kind.get(True, 0)}

    if "gold.identity_map" in tables:
        sizes = (
            catalog.read(spark, "gold.identity_map", warehouse)
            .groupBy("profile_id")
            .agg(F.count("*").alias("size"))
            .groupBy("size")
            .count()
            .collect()
        )
        buckets = {_bucket_label(lo, hi): 0 for lo, hi in CLUSTER_BUCKETS}
        for r in sizes:
            for lo, hi in CLUSTER_BUCKETS:
                if r["size"] >= lo and (hi is None or r["size"] <= hi):
                    buckets[_bucket_label(lo, hi)] += r["count"]
                    break
        summary["cluster_sizes"] = [[k, v] for k, v in buckets.items()]
        summary["largest_cluster"] = max((r["size"] for r in sizes), default=0)

    if "gold.rfm" in tables:
        rows = (
            catalog.read(spark, "gold.rfm", warehouse)
            .groupBy("rfm_segment")
            .agg(F.count("*").alias("profiles"), F.sum("monetary").alias("revenue"))
            .orderBy(F.desc("revenue"))
            .collect()
        )
        summary["rfm_segments"] = [[r.rfm_segment, r.profiles, float(r.revenue or 0)] for r in rows]
    return summary


def _layer_rows(summary: dict[str, Any]) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for name, rows in summary["tables"].items():
        layer = name.split(".", 1)[0]
        totals[layer] = totals.get(layer, 0) + rows
    return [(layer, totals[layer]) for layer in catalog.LAYERS if layer in totals]


def describe(summary: dict[str, Any], report_path: str | None = None) -> str:
    """The summary as text, for the terminal after `cdp run` / `make run`."""
    lines = [f"What the build holds after {summary['batch_date']}:"]
    lines.append("  rows per table:")
    for name, rows in summary["tables"].items():
        lines.append(f"    {name:28} {rows:>12,}")
    quarantined = summary.get("quarantine") or []
    if quarantined:
        lines.append(f"  quarantined on {summary['batch_date']} (source, reason, rows):")
        lines += [f"    {s:8} {reason:20} {n:>8,}" for s, reason, n in quarantined]
    else:
        lines.append(f"  quarantined on {summary['batch_date']}: none")
    if "profiles" in summary:
        p = summary["profiles"]
        lines.append(
            f"  profiles: {p['known'] + p['anonymous']:,} ({p['known']:,} known,"
            f" {p['anonymous']:,} anonymous)"
        )
    if "cluster_sizes" in summary:
        sizes = ", ".join(f"{k}: {v:,}" for k, v in summary["cluster_sizes"] if v)
        lines.append(f"  identifiers per profile (profiles): {sizes}")
        lines.append(f"  largest profile: {summary['largest_cluster']} identifiers")
    if summary.get("rfm_segments"):
        lines.append("  RFM segments (profiles, revenue):")
        lines += [
            f"    {name:20} {n:>8,} {revenue:>16,.2f}"
            for name, n, revenue in summary["rfm_segments"]
        ]
    if report_path:
        lines.append(f"  report: {report_path}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML


def _bar_chart(title: str, items: list[tuple[str, float]], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG."""
    if not items:
        return f"<h2>{html.escape(title)}</h2><p>nothing to show</p>"
    label_w, bar_w, row_h = 190, 420, 24
    top = max(v for _, v in items) or 1
    height = row_h * len(items) + 10
    parts = [
        f'<svg width="{label_w + bar_w + 140}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">'
    ]
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        w = max(1.0, bar_w * value / top) if value else 0
        shown = (
            f"{value:,.2f}"
            if isinstance(value, float) and not value.is_integer()
            else (f"{int(value):,}")
        )
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{html.escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="#3b6ea5"></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{shown}{html.escape(unit)}</text>'
        )
    parts.append("</svg>")
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_html(summary: dict[str, Any], run: dict[str, Any] | None = None) -> str:
    """The run report page: the run's steps, then one chart per question."""
    day = summary["batch_date"]
    sections = [f"<h1>CDP nightly build, batch date {html.escape(day)}</h1>"]
    if run:
        rows = [[step, _fmt_step(result)] for step, result in run.items()]
        sections.append("<h2>Steps</h2>" + _table(["step", "result"], rows))
    sections.append(_bar_chart("Rows per layer", _layer_rows(summary)))
    sections.append(_bar_chart("Rows per table", [(k, v) for k, v in summary["tables"].items()]))
    quarantined = [(f"{s} / {reason}", n) for s, reason, n in summary.get("quarantine", [])]
    sections.append(_bar_chart(f"Quarantined rows on {day}, by source and reason", quarantined))
    if "profiles" in summary:
        p = summary["profiles"]
        sections.append(
            _bar_chart("Profiles", [("known", p["known"]), ("anonymous", p["anonymous"])])
        )
    if "cluster_sizes" in summary:
        sections.append(
            _bar_chart(
                "Identity cluster sizes: profiles by identifiers per profile",
                [(f"{k} identifiers", v) for k, v in summary["cluster_sizes"]],
            )
        )
    segments = summary.get("rfm_segments") or []
    sections.append(_bar_chart("RFM segments: profiles", [(s, n) for s, n, _ in segments]))
    sections.append(_bar_chart("RFM segments: revenue", [(s, rev) for s, _, rev in segments]))
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "svg text{font-size:13px;fill:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:13px}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>CDP run {html.escape(day)}</title><style>{style}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


def _fmt_step(result: Any) -> str:
    if isinstance(result, dict):
        shown = []
        for key, value in result.items():
            if isinstance(value, int | float | str):
                shown.append(f"{key}: {_fmt(value)}")
            elif isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
                shown.append(f"{key}: {_fmt(sum(value.values()))}")
        return ", ".join(shown) or "done"
    return _fmt(result)


def report_path(warehouse: str, batch_date: str) -> str:
    """Where the run report of ``batch_date`` goes."""
    return f"{warehouse.rstrip('/')}/_reports/run-{batch_date}.html"


def write_report(
    spark: SparkSession, warehouse: str, batch_date: str, run: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str]:
    """Build the summary, write the HTML report; returns (summary, report path)."""
    summary = build_summary(spark, warehouse, batch_date)
    path = report_path(warehouse, batch_date)
    storage.write_text(path, render_html(summary, run))
    return summary, path


def write_run_report(
    spark: SparkSession, settings: Settings, batch_date: str, run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The step ``report``: ``write_report`` for the build's warehouse, with each step's
    summary (``run``) on the page."""
    summary, path = write_report(spark, settings.paths.warehouse, batch_date, run)
    return {"summary": summary, "report": path}

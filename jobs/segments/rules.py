"""Segment rules: a small, checked expression language over the audience's columns.

A rule is one Spark SQL boolean expression (``rfm_segment = 'Champions' and
days_since_last_purchase <= 30``). Rules come from YAML files anyone can edit, and Spark SQL
can do far more than filter rows (``reflect`` calls any Java method, a subquery reads any
table), so a rule is parsed with sqlglot and checked *before* Spark sees it:

- exactly one expression: no ``;``, no SELECT, no subquery;
- only the node types of :data:`ALLOWED_NODES` (boolean logic, comparisons, IN, BETWEEN,
  IS NULL, LIKE, arithmetic, literals, columns, parentheses, CASE/IF) and the functions of
  :data:`FUNCTIONS` - anything else (an unknown function, a lambda, a window, a cast, a
  parameter, ``current_date``) is refused by being absent from the list, never by a
  blacklist;
- every column exists in the audience (jobs/segments/audience.py), unqualified;
- the whole rule is boolean, and operands have types their operator accepts.

Rules are evaluated as of the batch date: there is no ``current_date``; the audience carries
``days_since_*`` columns instead, so re-running an old night gives the same segment.

What Spark runs is the SQL regenerated from the checked tree (identifiers quoted, comments
dropped), not the text as written, so Spark cannot read anything sqlglot did not check.
Checking is pure Python (no Spark session); :func:`compile_rule` turns a checked rule into a
Column.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from cdp.core.errors import CdpError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Rules are short; a cap keeps a pathological input from exhausting the parser's recursion.
MAX_RULE_LENGTH = 4000

# Allowed functions: sqlglot node type -> the name users write. Synonyms sqlglot folds into
# the same node (nvl and ifnull for coalesce, char_length for length) are allowed too.
FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Coalesce: "coalesce",
    exp.Abs: "abs",
    exp.Round: "round",
    exp.Floor: "floor",
    exp.Ceil: "ceil",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Lower: "lower",
    exp.Upper: "upper",
    exp.Length: "length",
    exp.DateDiff: "datediff",
    exp.ArrayContains: "array_contains",
    exp.ArraySize: "size",
    exp.If: "if",
}

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv)
_LOGIC = (exp.And, exp.Or)

ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    *_COMPARISONS,
    *_ARITHMETIC,
    *_LOGIC,
    exp.Not,
    exp.Neg,
    exp.Paren,
    exp.In,
    exp.Between,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Column,
    exp.Identifier,
    exp.Case,
    *FUNCTIONS,
)

# Refused constructs people are likely to try, named in the message.
_NAMED = {
    exp.Subquery: "a subquery",
    exp.Select: "a SELECT",
    exp.Query: "a query",
    exp.Exists: "EXISTS",
    exp.Lambda: "a lambda (->)",
    exp.Window: "a window (OVER)",
    exp.Star: "*",
    exp.Placeholder: "a parameter placeholder",
    exp.Parameter: "a parameter",
    exp.Cast: "a cast",
    exp.Interval: "an interval",
    exp.Tuple: "a tuple",
    exp.Bracket: "subscripts ([...])",
    exp.Dot: "field access (.)",
    exp.Concat: "string concatenation",
    exp.DPipe: "string concatenation (||)",
}

_NUMERIC = "numeric"
_BOOLEAN = "boolean"
_STRING = "string"
_DATE = "date"
_TIMESTAMP = "timestamp"
_ARRAY = "array"
_NULL = "null"
_OTHER = "other"
_TEMPORAL = (_DATE, _TIMESTAMP)


def type_class(spark_type: str) -> str:
    """The coarse type of a Spark SQL type string (``bigint`` -> numeric, ``array<string>``
    -> array): enough to tell whether an operator accepts it."""
    t = spark_type.strip().lower()
    if t.startswith("array"):
        return _ARRAY
    if t == "boolean":
        return _BOOLEAN
    if t in ("string", "varchar", "char") or t.startswith(("varchar(", "char(")):
        return _STRING
    if t == "date":
        return _DATE
    if t.startswith("timestamp"):
        return _TIMESTAMP
    if t in ("tinyint", "smallint", "int", "integer", "bigint", "float", "double", "long") or (
        t.startswith("decimal")
    ):
        return _NUMERIC
    return _OTHER


@dataclass(frozen=True)
class CheckedRule:
    """A rule that passed every check: the text as written, the SQL Spark will run (regenerated
    from the checked tree) and the audience columns it reads."""

    rule: str
    sql: str
    columns: tuple[str, ...]


class _Refused(Exception):
    """Internal: a check failed; :func:`check_rule` turns it into a CdpError with context."""


def _one_line(text: str) -> str:
    """One printable line: a message must not break a log line or a terminal."""
    text = "".join(ch if ch.isprintable() or ch.isspace() else "?" for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def _describe(node: exp.Expr) -> str:
    for kind, name in _NAMED.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Anonymous):
        return f"function {node.name.lower()}"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name().lower()}"
    return f"'{_one_line(node.sql(dialect='spark'))[:60]}'"


def allowed_functions() -> str:
    """The allowed function names, for messages and docs/profiles.md."""
    return ", ".join(sorted(FUNCTIONS.values()))


def _check_nodes(tree: exp.Expr) -> None:
    """Every node's type is on the list (datediff's internal date conversion aside)."""
    # The constructs that reach beyond one row are named first, wherever they sit, so the
    # message says "a subquery" rather than naming the function that holds it.
    for kinds in ((exp.Select, exp.Subquery, exp.Query), (exp.Lambda,), (exp.Window,)):
        found = tree.find(*kinds)
        if found is not None:
            raise _Refused(f"uses {_describe(found)}, which is not allowed in a rule")
    for node in tree.walk():
        if isinstance(node, exp.TsOrDsToDate) and isinstance(node.parent, exp.DateDiff):
            # sqlglot wraps datediff's arguments in a conversion it does not print for Spark.
            continue
        if isinstance(node, exp.Identifier) and isinstance(node.parent, exp.Column):
            continue
        if isinstance(node, exp.Identifier):
            raise _Refused(f"uses {_describe(node)}, which is not allowed")
        if not isinstance(node, ALLOWED_NODES):
            what = _describe(node)
            if what.startswith("function "):
                if isinstance(node, exp.CurrentDate | exp.CurrentTimestamp):
                    raise _Refused(
                        f"uses {what}, which is not allowed: rules are evaluated as of the "
                        "batch date; use the days_since_* columns"
                    )
                raise _Refused(
                    f"calls {what}, which is not allowed (allowed: {allowed_functions()})"
                )
            raise _Refused(f"uses {what}, which is not allowed in a rule")
        if isinstance(node, exp.In) and (node.args.get("query") or node.args.get("unnest")):
            raise _Refused("uses a subquery, which is not allowed in a rule")
        if isinstance(node, exp.DateDiff) and node.args.get("unit"):
            raise _Refused("calls datediff with a unit; use datediff(end, start) (days)")


def _resolve_columns(tree: exp.Expr, columns: Mapping[str, str]) -> list[str]:
    """Check every column exists (Spark resolves names case-insensitively) and rewrite it to
    the audience's spelling; returns the columns read, in order of first use."""
    by_lower = {c.lower(): c for c in columns}
    used: list[str] = []
    for col in tree.find_all(exp.Column):
        if col.table or col.args.get("db") or col.args.get("catalog"):
            raise _Refused(f"names '{_one_line(col.sql())}': use bare column names")
        name = col.name
        actual = by_lower.get(name.lower())
        if actual is None:
            close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
            hint = f" (did you mean '{by_lower[close[0]]}'?)" if close else ""
            raise _Refused(f"names unknown column '{name}'{hint}")
        col.set("this", exp.to_identifier(actual, quoted=True))
        if actual not in used:
            used.append(actual)
    return used


def _type_of(node: exp.Expr, columns: Mapping[str, str]) -> str:
    """The coarse type of ``node``, checking its operands on the way (raises _Refused)."""

    def t(n: exp.Expr | None) -> str:
        return _NULL if n is None else _type_of(n, columns)

    def need(n: exp.Expr, allowed: tuple[str, ...], what: str) -> str:
        got = t(n)
        if got not in (*allowed, _NULL):
            raise _Refused(
                f"{what} needs {' or '.join(allowed)}, got {got} "
                f"('{_one_line(n.sql(dialect='spark'))[:60]}')"
            )
        return got

    if isinstance(node, exp.Paren):
        return t(node.this)
    if isinstance(node, exp.Column):
        return type_class(columns[node.name])
    if isinstance(node, exp.Literal):
        return _STRING if node.is_string else _NUMERIC
    if isinstance(node, exp.Boolean):
        return _BOOLEAN
    if isinstance(node, exp.Null):
        return _NULL
    if isinstance(node, _LOGIC):
        need(node.this, (_BOOLEAN,), node.key.upper())
        need(node.expression, (_BOOLEAN,), node.key.upper())
        return _BOOLEAN
    if isinstance(node, exp.Not):
        need(node.this, (_BOOLEAN,), "NOT")
        return _BOOLEAN
    if isinstance(node, _COMPARISONS):
        _comparable(t(node.this), t(node.expression), node)
        return _BOOLEAN
    if isinstance(node, exp.Between):
        left = t(node.this)
        _comparable(left, t(node.args["low"]), node)
        _comparable(left, t(node.args["high"]), node)
        return _BOOLEAN
    if isinstance(node, exp.In):
        left = t(node.this)
        for value in node.expressions:
            _comparable(left, t(value), node)
        return _BOOLEAN
    if isinstance(node, exp.Is):
        t(node.this)
        return _BOOLEAN
    if isinstance(node, exp.Like | exp.ILike):
        need(node.this, (_STRING,), "LIKE")
        need(node.expression, (_STRING,), "LIKE")
        return _BOOLEAN
    if isinstance(node, _ARITHMETIC):
        need(node.this, (_NUMERIC,), "arithmetic")
        need(node.expression, (_NUMERIC,), "arithmetic")
        return _NUMERIC
    if isinstance(node, exp.Neg):
        need(node.this, (_NUMERIC,), "minus")
        return _NUMERIC
    if isinstance(node, exp.Abs | exp.Round | exp.Floor | exp.Ceil):
        need(node.this, (_NUMERIC,), FUNCTIONS[type(node)])
        if node.args.get("decimals") is not None:
            need(node.args["decimals"], (_NUMERIC,), FUNCTIONS[type(node)])
        return _NUMERIC
    if isinstance(node, exp.Lower | exp.Upper):
        need(node.this, (_STRING,), FUNCTIONS[type(node)])
        return _STRING
    if isinstance(node, exp.Length):
        need(node.this, (_STRING,), "length")
        return _NUMERIC
    if isinstance(node, exp.ArraySize):
        need(node.this, (_ARRAY,), "size")
        return _NUMERIC
    if isinstance(node, exp.ArrayContains):
        need(node.this, (_ARRAY,), "array_contains")
        t(node.expression)
        return _BOOLEAN
    if isinstance(node, exp.DateDiff):
        for arg in (node.this, node.expression):
            inner = arg.this if isinstance(arg, exp.TsOrDsToDate) else arg
            need(inner, (*_TEMPORAL, _STRING), "datediff")
        return _NUMERIC
    if isinstance(node, exp.Coalesce | exp.Greatest | exp.Least):
        return _common([t(node.this), *(t(e) for e in node.expressions)], node)
    if isinstance(node, exp.If):
        need(node.this, (_BOOLEAN,), "IF/WHEN condition")
        return _common([t(node.args.get("true")), t(node.args.get("false"))], node)
    if isinstance(node, exp.Case):
        subject = node.this
        results = []
        for branch in node.args.get("ifs") or []:
            if subject is None:
                need(branch.this, (_BOOLEAN,), "CASE WHEN condition")
            else:
                _comparable(t(subject), t(branch.this), node)
            results.append(t(branch.args.get("true")))
        results.append(t(node.args.get("default")))
        return _common(results, node)
    # _check_nodes refuses everything else before types are looked at.
    raise _Refused(f"uses {_describe(node)}, which is not allowed in a rule")


def _comparable(a: str, b: str, node: exp.Expr) -> None:
    """Spark would cast between these (and fail at run time on a bad value under ANSI):
    refuse a comparison of unlike types up front instead."""
    if _NULL in (a, b) or a == b:
        return
    # A date or timestamp compares with another, or with a literal like '2026-01-01'.
    if {a, b} <= {*_TEMPORAL, _STRING}:
        return
    raise _Refused(f"compares {a} with {b} in '{_one_line(node.sql(dialect='spark'))[:60]}'")


def _common(types: list[str], node: exp.Expr) -> str:
    known = [x for x in types if x != _NULL]
    if not known:
        return _NULL
    for other in known[1:]:
        if other != known[0] and not {known[0], other} <= set(_TEMPORAL):
            raise _Refused(
                f"mixes {known[0]} and {other} in '{_one_line(node.sql(dialect='spark'))[:60]}'"
            )
    return known[0]


def _clean(message: str) -> str:
    """A parser message as one short line: no terminal colours, no Python class names."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    message = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", message)
    return _one_line(message)[:200]


def _parse_error(e: sqlglot.ParseError) -> str:
    if e.errors:
        first = e.errors[0]
        return _clean(
            f"{first.get('description')} (line {first.get('line')}, column {first.get('col')})"
        )
    return _clean(str(e))


def _parse(rule: str) -> exp.Expr:
    dialect = sqlglot.Dialect.get_or_raise("spark")
    try:
        tokens = dialect.tokenize(rule)
    except Exception as e:  # sqlglot raises TokenError; anything else is junk input too
        raise _Refused(f"cannot be read: {_clean(str(e))}") from None
    if any(tok.token_type == sqlglot.TokenType.SEMICOLON for tok in tokens):
        raise _Refused("contains ';': a rule is one expression, not statements")
    try:
        statements = sqlglot.parse(rule, read="spark")
    except RecursionError:
        raise _Refused("is nested too deeply") from None
    except sqlglot.ParseError as e:
        raise _Refused(f"is not a valid expression: {_parse_error(e)}") from None
    except Exception as e:  # the odd internal error sqlglot raises on junk input
        raise _Refused(f"is not a valid expression: {_clean(str(e))}") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise _Refused("must be exactly one expression")
    return statements[0]


def check_rule(rule: object, columns: Mapping[str, str], where: str = "") -> CheckedRule:
    """Parse and check ``rule`` against the audience ``columns`` (name -> Spark SQL type).

    Raises CdpError, one line prefixed with ``where`` (file and segment), when the rule is
    malformed, names an unknown column, uses anything but the allowed expressions and
    functions, or is not boolean. Never runs anything.
    """
    prefix = f"{where}: " if where else ""
    try:
        if not isinstance(rule, str) or not rule.strip():
            raise _Refused("is empty or not text")
        if len(rule) > MAX_RULE_LENGTH:
            raise _Refused(f"is longer than {MAX_RULE_LENGTH} characters")
        tree = _parse(rule)
        _check_nodes(tree)
        used = _resolve_columns(tree, columns)
        kind = _type_of(tree, columns)
        if kind != _BOOLEAN:
            raise _Refused(f"is {kind}-valued; a rule must be a condition (true or false)")
        sql = tree.sql(dialect="spark", identify=True, comments=False)
    except _Refused as e:
        raise CdpError(_one_line(f"{prefix}rule {e}")) from None
    except RecursionError:
        raise CdpError(f"{prefix}rule is nested too deeply") from None
    return CheckedRule(rule=rule, sql=sql, columns=tuple(used))


def compile_rule(
    checked: CheckedRule, audience: DataFrame | None = None, where: str = ""
) -> Column:
    """The Spark Column of a checked rule (needs an active Spark session).

    With ``audience``, Spark also resolves the rule against that frame's plan (analysis
    only, no job runs), so a type Spark rejects fails here as a CdpError naming ``where``,
    not halfway through the night."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    try:
        column = F.expr(checked.sql)
        if audience is not None:
            audience.select(column.alias("_rule")).schema  # noqa: B018 - forces analysis
    except PySparkException as e:
        prefix = f"{where}: " if where else ""
        reason = e.getCondition() if hasattr(e, "getCondition") else type(e).__name__
        raise CdpError(_one_line(f"{prefix}rule is refused by Spark ({reason})")) from None
    return column

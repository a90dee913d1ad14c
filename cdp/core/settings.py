"""Typed settings: defaults, then an optional YAML file, then environment variables.

Every key is a dotted path into the dataclasses below (``spark.master``,
``propensity.horizon_days``). In YAML they nest; in the environment they are upper-case with
``CDP_`` in front and ``__`` between levels (``CDP_SPARK__MASTER=spark://host:7077``,
``CDP_PROPENSITY__HORIZON_DAYS=45``). Settings serialise to JSON so a run (and later an MLflow
run) can record exactly what it used, the habit splink's ``SettingsCreator`` follows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cdp.core import storage
from cdp.core.errors import CdpError

ENV_PREFIX = "CDP_"


def _repo_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


DEFAULT_DATA_DIR = _repo_root() / "data"


@dataclass
class PathSettings:
    """Where extracts land and where tables live. Any Hadoop URI works (file:, s3a:, abfss:)."""

    # Where extracts land, as <landing>/<source>/<YYYY-MM-DD>/<file>; any Hadoop or pyarrow URI.
    landing: str = str(DEFAULT_DATA_DIR / "landing")
    # Where the Delta tables live, as <warehouse>/<layer>/<entity>.
    warehouse: str = str(DEFAULT_DATA_DIR / "warehouse")
    # The JVM jars fetched by `make jars` (infra/fetch_jars.sh).
    jars_dir: str = str(_repo_root() / ".cache" / "jars")


@dataclass
class SparkSettings:
    """How the Spark session is built; the same code runs on a laptop and on a cluster."""

    # Spark master URL: local[N], spark://host:7077, yarn, k8s://...
    master: str = "local[*]"
    # A Spark Connect server (sc://host:15002) to run on instead of a driver of this
    # process's own: jobs are then thin clients of a long-lived driver that keeps its JVM, its
    # executors and its compiled code warm between tasks (`cdp connect-server` starts one).
    # The server's own settings (master, memory, jars) are fixed when it starts.
    remote: str = ""
    # The Spark application's name (Spark UI, cluster manager).
    app_name: str = "cdp"
    # Memory of the driver JVM (in local mode the whole of Spark runs in it).
    driver_memory: str = "6g"
    # Few cores locally: 200 default shuffle partitions would mean 200 tiny tasks per stage.
    shuffle_partitions: int = 8
    # The Spark web UI; off locally, where nobody watches it.
    ui_enabled: bool = False
    # "registry": tables are registered by name from cdp.core.catalog at session start (no metastore
    # process, no lock, works on object storage). "hive": use an external Hive metastore instead.
    catalog: str = "registry"
    # Spark's WARN level floods the console (every splink checkpoint read warns once).
    log_level: str = "ERROR"
    # Free-form extra Spark conf for cluster deployments (spark.executor.memory, s3a keys, ...).
    conf: dict[str, str] = field(default_factory=dict)


@dataclass
class IngestSettings:
    """Bronze landing rules."""

    # The sources the bronze step lands (schemas/landing.py).
    sources: tuple[str, ...] = ("crm", "pos", "web", "loyalty")


@dataclass
class StandardiseSettings:
    """Silver standardisation rules."""

    # Used to read national phone numbers when a record carries no country.
    default_phone_region: str = "US"
    # Date formats accepted for dates in landed text, tried in order.
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d.%m.%Y")
    # Birth dates before this year are implausible and read as unknown.
    min_birth_year: int = 1900
    # Birth dates systems write when they do not know one ("unknown" defaults, a spreadsheet's
    # day zero: 1904-01-01 in Excel's 1904 date system); read as unknown, so they neither
    # link two people nor contradict a real birth date.
    placeholder_birth_dates: tuple[str, ...] = (
        "1900-01-01",
        "1901-01-01",
        "1904-01-01",
        "1111-11-11",
    )


@dataclass
class IdentitySettings:
    """Identity graph guard rails (what Adobe, Segment and RudderStack all had to add)."""

    # Values never used to link, per namespace ("*" = every namespace); Python regular
    # expressions matched against the whole normalised value, case-insensitively.
    blocked_values: dict[str, str] = field(
        default_factory=lambda: {
            "*": r"(null|none|n/?a|unknown|test|-+|0+|x+)",
            "email": r"(test|noemail|no-?reply|none|null|no|x+|a|abc|asdf|kund|customer|info)@.*"
            r"|.*@(test|example|none|invalid|noemail)\.(com|org|net)",
            "phone": r"\+?\d{0,3}(\d)\1{5,}|\+?\d*(0123456789|1234567890|123456789)",
        }
    )
    # An identifier seen with more distinct identifiers of one linked namespace than this is
    # shared (a store's walk-in loyalty card, a family email, a shop's tablet) and does not link.
    # CRM ids and loyalty ids get room for one person's duplicate records (a registry may
    # hold one person up to ten times, each copy with the same email); a family's shared
    # email or landline is caught by the household rule instead (graph.household_identifiers).
    max_neighbours: dict[str, int] = field(
        default_factory=lambda: {
            "crm_id": 10,
            "loyalty_id": 10,
            "card_token": 6,
            "device_id": 4,
            "anonymous_id": 8,
        }
    )
    # A loyalty card presented at the till proves nothing (anyone may borrow it): a payment
    # card links to it only when at least this share of the payment card's receipts carry it.
    min_link_share: dict[str, float] = field(default_factory=lambda: {"card_token": 0.5})
    # Probabilistic person matching (jobs/identity/matching.py). The link threshold comes
    # from the trained model: the lowest match probability at which the candidate pairs kept
    # (those past the same-person checks) are, by the model's own probabilities, at least
    # match_precision true; never below match_probability. This is the model's own estimate
    # before the same-person checks and the clustering that refuses contradictions, which
    # remove most of the pairs it doubts wrongly: clusters come out far more precise than
    # the target (0.996 on heavily corrupted registry-like records, 0.998 on the default
    # generator's; `cdp evaluate identity --matrix` measures it).
    probabilistic_matching: bool = True
    # The share of kept pairs the link threshold aims to have true (see above).
    match_precision: float = 0.95
    # The floor under the link threshold: no pair below this probability links.
    match_probability: float = 0.5
    # Random record pairs used to estimate the model's u probabilities.
    match_u_max_pairs: float = 2_000_000.0
    # The person model is trained without labels and kept for this many nights (0: train
    # every night); a saved model is reused only for the comparisons it was trained for.
    model_max_age_days: int = 7
    # At most this many identifiers of a namespace in one profile; a component over any
    # limit (or over max_profile_identifiers in all) is split by dropping its weakest edges
    # first: probabilistic before deterministic, lower-priority namespaces first.
    max_per_profile: dict[str, int] = field(
        default_factory=lambda: {
            # A registry may hold one person many times over (1 to 9 duplicates).
            "crm_id": 10,
            "loyalty_id": 10,
            "email": 6,
            "phone": 5,
            "card_token": 10,
            "device_id": 8,
        }
    )
    # At most this many identifiers in one profile, all namespaces together.
    max_profile_identifiers: int = 500


# RFM segments, first match wins: (name, r_score range, fm range) where fm is the rounded
# mean of f_score and m_score. The widely used 11-segment map of RFM practice.
DEFAULT_RFM_SEGMENTS: tuple[tuple[str, int, int, int, int], ...] = (
    ("Champions", 4, 5, 4, 5),
    ("Loyal", 3, 3, 4, 5),
    ("Potential loyalist", 4, 5, 2, 3),
    ("New customers", 5, 5, 1, 1),
    ("Promising", 4, 4, 1, 1),
    ("Need attention", 3, 3, 3, 3),
    ("About to sleep", 3, 3, 1, 2),
    ("Cannot lose them", 1, 2, 5, 5),
    ("At risk", 1, 2, 3, 4),
    ("Hibernating", 2, 2, 1, 2),
    ("Lost", 1, 1, 1, 2),
)


@dataclass
class ProfileSettings:
    """Golden records (survivorship), money, and RFM."""

    # Survivorship rule per golden attribute, as Adobe merge policies and Unomi merge
    # strategies offer: source_priority (the first source in `source_priority` that has a
    # value; ties: most recent), most_recent, most_frequent (ties: most recent), oldest.
    # Every rule skips empty values. Attributes: name, email, phone, address, birth_date.
    survivorship: dict[str, str] = field(
        default_factory=lambda: {
            "name": "source_priority",
            "email": "most_recent",
            "phone": "most_recent",
            "address": "most_recent",
            "birth_date": "most_frequent",
        }
    )
    # Source order for the source_priority survivorship rule.
    source_priority: tuple[str, ...] = ("crm", "loyalty", "web")
    # Money is reported in one currency; rates are units of each currency per 1 unit of it.
    reporting_currency: str = "EUR"
    # Units of each currency per 1 unit of the reporting currency.
    fx_rates: dict[str, float] = field(
        default_factory=lambda: {
            "EUR": 1.0,
            "SEK": 11.2,
            "NOK": 11.6,
            "DKK": 7.46,
            "GBP": 0.85,
            "USD": 1.08,
        }
    )
    # RFM looks back this many days from the batch date; 0 means all history.
    rfm_lookback_days: int = 0
    # Named RFM segments (name, r_min, r_max, fm_min, fm_max), first match wins; the default
    # is the 11-segment map of RFM practice (docs/profiles.md).
    rfm_segments: tuple[tuple[str, int, int, int, int], ...] = DEFAULT_RFM_SEGMENTS


@dataclass
class GovernanceSettings:
    """Consent, purpose-bound processing, data-usage labels and GDPR requests."""

    # GDPR Article 6 lawful basis per processing purpose. Under "consent" a purpose is
    # allowed only where consent is granted; under any other basis it is allowed unless the
    # person objected (denied). Unknown never counts as granted.
    lawful_basis: dict[str, str] = field(
        default_factory=lambda: {
            "email": "consent",
            "sms": "consent",
            "personalization": "legitimate_interest",
            "ad_sharing": "consent",
            "analytics": "legitimate_interest",
        }
    )
    # Purpose-bound processing: a source's behaviour feeds a profile only where every
    # purpose listed for it is allowed (web behaviour -> personalisation, receipts -> analytics).
    source_purposes: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"web": ("personalization",), "pos": ("analytics",)}
    )
    # Analysts' SQL (`cdp sql`) sees identifying columns hashed or redacted unless granted.
    analyst_full_access: bool = False
    # Secret key of the keyed hash (HMAC-SHA256) that pseudonymises GDPR subjects and the
    # suppression list. Empty: a random key is created once at <warehouse>/_keys/subject.key;
    # on a cluster set CDP_GOVERNANCE__SUBJECT_HASH_KEY from a secret store instead.
    subject_hash_key: str = ""


@dataclass
class QualitySettings:
    """Great Expectations suites that gate publishing (expectations/)."""

    # Validate silver and the staged gold tables before gold is replaced; off only for
    # debugging a failing build.
    gate: bool = True


@dataclass
class AirflowSettings:
    """The embedded Airflow run behind `cdp run` (cdp/app/orchestration.py)."""

    # Metadata database and logs of the embedded run; empty means <warehouse>/_airflow.
    home: str = ""


@dataclass
class SqlEndpointSettings:
    """The governed SQL endpoint for JDBC/ODBC and DB-API clients (`cdp serve-sql`,
    cdp/app/sql_endpoint.py): Spark's Thrift server (HiveServer2 protocol)."""

    # Bind address; the login travels in clear (SASL PLAIN), so keep it on loopback or put
    # a TLS proxy in front.
    host: str = "127.0.0.1"
    # The analysts' endpoint: masked views (`cdp serve-sql`).
    port: int = 10000
    # The privacy officers' endpoint: every table in clear (`cdp serve-sql --role officer`).
    officer_port: int = 10001
    # Who may log in: name:role:pbkdf2 lines written by `cdp sql-user add`, read at every
    # login. Not committed anywhere; the default sits in the ignored .stack/ folder.
    users_file: str = str(_repo_root() / ".stack" / "sql_users")
    # How often the endpoint looks for tables published since it started, or whose columns
    # changed (new rows need nothing: every query reads the table's latest version).
    refresh_seconds: int = 30
    # The endpoint's driver: it answers queries, it does not build tables.
    driver_memory: str = "2g"


@dataclass
class PropensitySettings:
    """Propensity models (purchase and churn), trained and tracked in MLflow (jobs/models/)."""

    # How far ahead the purchase propensity looks (CONTRACTS.md).
    horizon_days: int = 30
    # Churn: a buyer of the last `churn_lookback_days` who buys nothing in the next
    # `churn_horizon_days`.
    churn_horizon_days: int = 60
    # Churn is scored for buyers of this many days before the cutoff.
    churn_lookback_days: int = 365
    # Behaviour windows (days before the cutoff) the features are counted over.
    windows: tuple[int, ...] = (30, 90, 180, 365)
    # Processing purpose models serve: only profiles allowed for it are trained on and scored.
    purpose: str = "analytics"
    # MLflow tracking store and registry; empty means a local SQLite store and artifact folder
    # at <warehouse>/_mlflow (no server). Any tracking server URI works (http://..., databricks).
    tracking_uri: str = ""
    # MLflow experiment of the training runs.
    experiment: str = "cdp-propensity"
    # Registered model names are <registry_prefix><model>, e.g. cdp_purchase_propensity.
    registry_prefix: str = "cdp_"
    # The kinds of model each training run fits on the same split; the best on the holdout
    # goes forward (jobs/models/training.py CANDIDATES: rfm_logistic, the textbook baseline;
    # bgnbd, the buy-till-you-die model of purchase days; gbt, boosted trees stacked on both).
    # The baseline is fitted and logged either way.
    candidates: tuple[str, ...] = ("rfm_logistic", "bgnbd", "gbt")
    # Gradient-boosted trees (Spark ML): size of the ensemble and of each tree.
    max_iter: int = 60
    # Depth of each tree.
    max_depth: int = 3
    # Learning rate of the boosting.
    step_size: float = 0.05
    # Regularisation: every leaf holds at least this many profiles, and each tree sees a
    # random share of them (stochastic gradient boosting).
    min_instances_per_node: int = 20
    # Share of the profiles each tree is trained on.
    subsampling_rate: float = 0.8
    # Random seed of the training (subsampling), so a run can be repeated.
    seed: int = 7
    # A new model becomes champion only when its holdout ROC AUC beats the champion's on the
    # same holdout by more than this.
    min_improvement: float = 0.0
    # The weekly training DAG (cdp_models) retrains on this cron schedule; nightly runs only
    # score, training first when no champion exists yet.
    training_schedule: str = "0 4 * * 0"


@dataclass
class SegmentSettings:
    """Segments defined in YAML files (jobs/segments/)."""

    # Folder of segment definition files (*.yaml); empty means the bundled
    # jobs/segments/definitions/.
    definitions: str = ""


@dataclass
class Destination:
    """One activation destination: which segment goes where, and in what shape."""

    # The segment (gold.segments) the destination receives.
    segment: str = ""
    # The processing purpose the destination serves (email, sms, ad_sharing, ...): only
    # profiles allowed for it (and for the segment's purpose) are exported.
    purpose: str = ""
    format: str = "csv"  # csv or parquet
    # Fields of gold.profiles to export, plus email_sha256 / phone_sha256 (SHA-256 of the
    # normalised email or E.164 phone, as ad platforms expect).
    fields: tuple[str, ...] = ("profile_id",)
    # A third party (an ad platform) never receives fields labelled no-third-party-export (C2).
    third_party: bool = True


@dataclass
class ActivationSettings:
    """Activation exports of segments to channels (jobs/activation/)."""

    # Export folder; empty means <warehouse>/_exports. Files land under
    # <exports>/<destination>/<batch_date>/.
    exports: str = ""
    # Where each segment goes: destination name -> Destination (below).
    destinations: dict[str, Destination] = field(
        default_factory=lambda: {
            "ads_lookalike": Destination(
                segment="lookalike_champions",
                purpose="ad_sharing",
                format="csv",
                fields=("email_sha256", "phone_sha256", "country"),
                third_party=True,
            ),
            "email_win_back": Destination(
                segment="win_back",
                purpose="email",
                format="parquet",
                fields=("profile_id", "email", "first_name", "rfm_segment"),
                third_party=False,
            ),
        }
    )


@dataclass
class ClvSettings:
    """Customer lifetime value (jobs/models/clv.py): BG/NBD purchases and Gamma-Gamma spend,
    fitted with pymc-marketing and tracked in MLflow beside the propensity models."""

    # The fitted models are judged on the purchases of this many days after a calibration
    # period that ends this many days before the batch date (a third of a shorter history).
    holdout_days: int = 90
    # BG/NBD and Gamma-Gamma are fitted on the driver on a sample of at most this many
    # customers (also BG/NBD as a propensity candidate): their few parameters describe the
    # population, which a sample finds as well as everyone.
    fit_rows: int = 50_000


@dataclass
class Settings:
    """All settings of one run."""

    paths: PathSettings = field(default_factory=PathSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    standardise: StandardiseSettings = field(default_factory=StandardiseSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    profiles: ProfileSettings = field(default_factory=ProfileSettings)
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    airflow: AirflowSettings = field(default_factory=AirflowSettings)
    sql_endpoint: SqlEndpointSettings = field(default_factory=SqlEndpointSettings)
    propensity: PropensitySettings = field(default_factory=PropensitySettings)
    clv: ClvSettings = field(default_factory=ClvSettings)
    segments: SegmentSettings = field(default_factory=SegmentSettings)
    activation: ActivationSettings = field(default_factory=ActivationSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """JSON form, e.g. for logging the settings a run used."""
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def with_paths(self, landing: str | None = None, warehouse: str | None = None) -> Settings:
        """A copy with command-line path overrides applied (local paths made absolute)."""
        paths = dataclasses.replace(
            self.paths,
            landing=_absolute(landing or self.paths.landing),
            warehouse=_absolute(warehouse or self.paths.warehouse),
            jars_dir=_absolute(self.paths.jars_dir),
        )
        return dataclasses.replace(self, paths=paths)


def _absolute(location: str) -> str:
    """Local paths become absolute (Spark would resolve a relative table location against its
    own warehouse folder); URIs with a scheme (s3a://, abfss://, file:) stay as they are."""
    if storage.is_uri(location):
        return location
    return str(Path(location).expanduser().resolve())


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML or environment value to the field's declared type."""
    origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if annotation in (int, float, str):
            return annotation(value)
        if origin is tuple:
            args = typing.get_args(annotation)
            if isinstance(value, str):
                value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
            items = list(value)
            if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
                if args[0] is str:
                    return tuple(str(i).strip() for i in items)
                return tuple(_coerce(i, args[0], key) for i in items)
            if len(items) != len(args):  # a fixed-length tuple such as an RFM segment rule
                raise ValueError(value)
            return tuple(_coerce(i, a, key) for i, a in zip(items, args, strict=True))
        if origin is dict:
            if isinstance(value, str):
                value = json.loads(value)
            value_type = (typing.get_args(annotation) or (str, str))[1]
            return {str(k): _coerce(v, value_type, f"{key}.{k}") for k, v in dict(value).items()}
        if origin in (typing.Union, types.UnionType):
            return value
        if dataclasses.is_dataclass(annotation):
            if isinstance(value, str):
                value = json.loads(value)
            if dataclasses.is_dataclass(value):
                return value
            if not isinstance(value, dict):
                raise ValueError(value)
            return _apply(annotation(), value, f"{key}.")
    except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise CdpError(f"setting '{key}': cannot read {value!r} as {annotation}") from exc
    return value


# Mappings a later layer adds to key by key instead of replacing: a YAML file's cluster-wide
# Spark conf plus CDP_SPARK__CONF='{"spark.executor.memory": "8g"}' from one job's
# environment. Every other mapping is replaced whole, so a configured list of export
# destinations never silently keeps the demo ones.
MERGED_KEY_BY_KEY = frozenset({"spark.conf"})


def _apply(obj: Any, values: dict[str, Any], prefix: str) -> Any:
    """Return a copy of dataclass ``obj`` with nested ``values`` applied, checking every key."""
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in known:
            raise CdpError(f"unknown setting '{key}'")
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise CdpError(f"setting '{key}' is a section; give it keys")
            changes[name] = _apply(current, value, f"{key}.")
        elif key in MERGED_KEY_BY_KEY:
            changes[name] = {**current, **_coerce(value, hints[name], key)}
        else:
            changes[name] = _coerce(value, hints[name], key)
    return dataclasses.replace(obj, **changes)


def _env_overrides(environ: typing.Mapping[str, str]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def load_settings(
    config_file: str | os.PathLike | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> Settings:
    """Defaults, then the YAML ``config_file`` if given, then ``CDP_*`` environment variables."""
    settings = Settings()
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise CdpError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CdpError(
                f"config file {path}: not valid YAML ({exc.__class__.__name__})"
            ) from exc
        if not isinstance(loaded, dict):
            raise CdpError(f"config file {path}: expected a mapping of settings")
        settings = _apply(settings, loaded, "")
    env = _env_overrides(os.environ if environ is None else environ)
    # CDP_HOME-style plain variables are not settings; only CDP_SECTION__KEY ones are.
    settings = _apply(settings, env, "") if env else settings
    return settings.with_paths()

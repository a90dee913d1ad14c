"""MLflow tracking and model registry for the propensity models.

By default MLflow runs embedded: a SQLite tracking and registry store and an artifact folder
at ``<warehouse>/_mlflow/`` (no server to start); ``propensity.tracking_uri`` points it at
any tracking server instead. Each model is registered as ``<registry_prefix><model>``; the
version that scores the nightly build carries the ``champion`` alias.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cdp.core import storage
from cdp.core.errors import CdpError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from pyspark.ml import PipelineModel

    from cdp.core.settings import Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
MLFLOW_DIR = "_mlflow"


def _local_mlflow_folder(settings: Settings) -> Path:
    """``<warehouse>/_mlflow``, for the embedded store; an error for a warehouse that is not
    on local disk (SQLite needs a local file)."""
    warehouse = settings.paths.warehouse
    local = storage.local_path(warehouse)
    if local is None:
        raise CdpError(
            f"warehouse {warehouse} is not a local folder: set propensity.tracking_uri to an "
            "MLflow tracking server"
        )
    return local / MLFLOW_DIR


def tracking_uri(settings: Settings) -> str:
    """The tracking store: the setting, or SQLite beside the warehouse."""
    if settings.propensity.tracking_uri:
        return settings.propensity.tracking_uri
    folder = _local_mlflow_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def artifact_location(settings: Settings) -> str | None:
    """Where runs keep their artifacts (the models): beside a local SQLite store (MLflow's
    own default would be ./mlruns in whatever folder the process runs in); a tracking
    server decides its own."""
    uri = settings.propensity.tracking_uri
    if not uri:
        return str(_local_mlflow_folder(settings) / "artifacts")
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return None


def connect(settings: Settings) -> tuple[MlflowClient, str]:
    """(client, experiment id) of the settings' tracking store, creating the experiment."""
    import mlflow

    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = settings.propensity.experiment
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return client, experiment.experiment_id
    return client, client.create_experiment(name, artifact_location=artifact_location(settings))


def registered_name(settings: Settings, model: str) -> str:
    return f"{settings.propensity.registry_prefix}{model}"


@dataclass(frozen=True)
class Champion:
    """The registered version that scores."""

    name: str
    version: str
    run_id: str
    horizon_days: int

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def champion(client: MlflowClient, settings: Settings, model: str) -> Champion | None:
    """The current champion of ``model``, or None on a new installation."""
    from mlflow.exceptions import MlflowException

    name = registered_name(settings, model)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    horizon = int(client.get_run(version.run_id).data.params.get("label_days", 0))
    return Champion(name, str(version.version), version.run_id, horizon)


def load(champ: Champion) -> PipelineModel:
    """The champion's Spark pipeline."""
    import mlflow.spark

    return mlflow.spark.load_model(champ.uri)


def promote(client: MlflowClient, settings: Settings, model: str, version: str) -> None:
    client.set_registered_model_alias(registered_name(settings, model), CHAMPION, version)

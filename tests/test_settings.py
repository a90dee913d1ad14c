"""Settings: defaults, then YAML, then environment; typed; serialisable."""

from __future__ import annotations

import json

import pytest
import yaml

from cdp.core.errors import CdpError
from cdp.core.settings import Settings, load_settings


def test_settings_serialise_to_json_and_load_back_equal(tmp_path):
    changed = load_settings(environ={"CDP_PROPENSITY__HORIZON_DAYS": "9"})
    data = json.loads(changed.to_json())
    assert data["propensity"]["horizon_days"] == 9
    assert data["spark"]["master"] == "local[*]"
    saved = tmp_path / "saved.yaml"
    saved.write_text(yaml.safe_dump(data))
    assert load_settings(saved, environ={}) == changed
    assert Settings() != changed


def test_yaml_overrides_defaults_and_environment_overrides_yaml(tmp_path):
    config = tmp_path / "cdp.yaml"
    config.write_text(
        "propensity:\n  horizon_days: 45\nspark:\n  master: local[1]\n  shuffle_partitions: 4\n"
    )
    settings = load_settings(config, environ={"CDP_PROPENSITY__HORIZON_DAYS": "60"})
    assert settings.propensity.horizon_days == 60  # environment wins
    assert settings.spark.master == "local[1]"  # from YAML
    assert settings.spark.shuffle_partitions == 4
    assert isinstance(settings.spark.shuffle_partitions, int)


def test_spark_conf_from_the_environment_adds_to_the_yaml_one(tmp_path):
    config = tmp_path / "cdp.yaml"
    config.write_text(
        "spark:\n  conf:\n    spark.eventLog.enabled: 'true'\n    spark.executor.memory: 2g\n"
        "activation:\n  destinations:\n    crm_sync:\n      segment: champions\n"
    )
    env = {"CDP_SPARK__CONF": '{"spark.executor.memory": "8g", "spark.executor.cores": "4"}'}
    settings = load_settings(config, environ=env)
    assert settings.spark.conf == {
        "spark.eventLog.enabled": "true",
        "spark.executor.memory": "8g",  # the environment wins key by key
        "spark.executor.cores": "4",
    }
    # Other mappings are replaced whole: the demo destinations are gone.
    assert set(settings.activation.destinations) == {"crm_sync"}


def test_environment_values_are_typed():
    env = {
        "CDP_SPARK__UI_ENABLED": "true",
        "CDP_INGEST__SOURCES": "crm, pos",
        "CDP_SPARK__CONF": '{"spark.executor.memory": "4g"}',
    }
    settings = load_settings(environ=env)
    assert settings.spark.ui_enabled is True
    assert settings.ingest.sources == ("crm", "pos")
    assert settings.spark.conf == {"spark.executor.memory": "4g"}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("propensity:\n  horizon_dayz: 3\n", "unknown setting 'propensity.horizon_dayz'"),
        ("propensity:\n  horizon_days: soon\n", "setting 'propensity.horizon_days'"),
        ("spark: local\n", "setting 'spark' is a section"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_bad_settings_give_one_line_errors_naming_the_key(tmp_path, yaml_text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    with pytest.raises(CdpError) as err:
        load_settings(config, environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_config_file_is_named():
    with pytest.raises(CdpError, match="config file not found: /no/such.yaml"):
        load_settings("/no/such.yaml", environ={})


def test_relative_local_paths_become_absolute_and_uris_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"CDP_PATHS__WAREHOUSE": "data/warehouse"})
    assert settings.paths.warehouse == str(tmp_path / "data" / "warehouse")
    assert (
        settings.with_paths(landing="s3a://bucket/landing").paths.landing == "s3a://bucket/landing"
    )

"""Customer data platform: a lakehouse batch pipeline on Spark, Delta Lake and Airflow."""

__version__ = "0.1.0"

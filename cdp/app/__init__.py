"""The applications on top of the jobs: the one step list (pipeline), the CLI, the
Airflow orchestration helpers and the run report."""

"""Great Expectations suites that gate publishing (issue 5).

``suites.py`` derives one suite per silver and gold table from its schema (schemas/xdm.py,
schemas/gold.py) plus the table rules a schema cannot state; ``gate.py`` runs them each night
as checkpoints on the batch date's silver slice and tonight's staged gold tables, writes Data
Docs, and stops the build before gold is published when any expectation fails.
"""

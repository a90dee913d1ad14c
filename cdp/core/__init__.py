"""The core every job needs: errors, typed settings, the Spark session, storage URIs and
the table catalog. Imports nothing above it but the table contracts (schemas/)."""

"""Value standardisation every layer shares (below bronze: landing suppression checks
identifiers as silver will standardise them): the pure normalisers (values), their Spark
UDFs, and the identifier keys GDPR lookups, suppression and activation hashing use."""

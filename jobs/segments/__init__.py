"""Segments: YAML-defined rule and look-alike segments, consent-filtered, with entered and
exited times (gold.segments, gold.segment_membership)."""

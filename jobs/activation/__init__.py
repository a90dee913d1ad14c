"""Activation: segments exported to channels (ad platforms, email tools) as files."""

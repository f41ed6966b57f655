"""The error every bad checkpoint file raises (a module of its own so that config.py can raise it too)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A weight or configuration file is missing, truncated, corrupt, hostile, or does not fit the configuration."""

"""Errors a user can fix. The CLI turns them into a one-line message and exit code 2."""

from __future__ import annotations


class AuditUserError(Exception):
    """Bad input (config, data, model path): reported without a traceback, exit code 2."""

    exit_code = 2


class ConfigError(AuditUserError):
    """The YAML config, or a suite's config block, is invalid."""


class DataError(AuditUserError):
    """A dataset or probe file is missing, empty, or malformed (the message names file and row)."""


class ModelLoadError(AuditUserError):
    """A model path cannot be loaded, or loading it would need an unsafe option."""


class CapabilityError(AuditUserError):
    """A suite needs a capability that the model's adapter does not have."""

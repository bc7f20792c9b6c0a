"""The audit config: schema (AuditConfig, ModelSpec, Gate, ...), its extra sections, and loading.

`from audit.config import load_config` is the public entry; the schema lives in
audit/config/schema.py and the regression / variant / compliance blocks in sections.py.
"""

from audit.config.schema import (AuditConfig, Gate, LoadedConfig, ModelSpec, ReportSpec, SuiteRun,
                                 format_validation_error, load_config)

__all__ = ["AuditConfig", "Gate", "LoadedConfig", "ModelSpec", "ReportSpec", "SuiteRun",
           "format_validation_error", "load_config"]

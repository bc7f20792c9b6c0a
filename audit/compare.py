"""Deprecated location: `audit.compare` moved to `audit.regression.compare` (kept for old imports)."""

import warnings

from audit.regression.compare import *  # noqa: F401,F403  (the public names of the new module)
from audit.regression.compare import compare_runs  # noqa: F401

warnings.warn("audit.compare is deprecated; import from audit.regression.compare", DeprecationWarning,
              stacklevel=2)

"""The robustness suite: natural perturbations and query-budgeted adversarial attacks (see suite.py)."""

"""Verdicts over results: gates, run comparisons and their comparability, the baseline check, the variant report."""

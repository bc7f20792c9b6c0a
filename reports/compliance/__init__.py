"""The compliance report: a model card and transparency report built only from a stored run."""

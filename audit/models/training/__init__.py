"""Producing new model artifacts (fine-tunes, DP fine-tunes) without touching the audited model.

Suites describe *what* to train as plain data (`FineTuneRecipe` + `TrainingData`); the
`ModelFactory` (audit.models.factory) builds the artifact once into the cache, keyed by the hashes of
the recipe, the data and the base model, and hands back an adapter over it.
"""

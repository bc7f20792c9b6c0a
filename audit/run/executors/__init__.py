"""Executors: how (model x suite) jobs are run (in process today; shipped to workers by others)."""

"""Benchmarks against the tools a user would otherwise use, on the same machine and inputs."""

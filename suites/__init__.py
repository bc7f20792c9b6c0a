"""The built-in audit suites, one package each, registered through entry points; no suite imports another."""

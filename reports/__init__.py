"""Renderers: read only stored results (audit.results), never suite code."""

"""Shared fixtures: tiny models (session-scoped, built once) and a temporary cache folder."""

from __future__ import annotations

import pytest

from tests.tiny_models import build_tiny_causal, build_tiny_classifier, build_tiny_llama, build_tiny_mlm, minilm_dir


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory):
    return build_tiny_mlm(tmp_path_factory.mktemp("tiny_mlm"))


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny_clf"))


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory):
    return build_tiny_causal(tmp_path_factory.mktemp("tiny_causal"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def real_minilm_dir():
    return minilm_dir()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own result cache unless it sets RAI_AUDIT_CACHE itself."""
    monkeypatch.setenv("RAI_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("RAI_AUDIT_PDF", "0")        # Chromium prints PDFs only in the tests that check them


from tests.e2e_fixtures import prepared_dir  # noqa: E402,F401  (session fixture for end-to-end tests)

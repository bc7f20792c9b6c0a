"""Malformed configs give one clear message naming the file and the key, and exit code 2."""

from __future__ import annotations

import pytest

from audit.cli.app import main
from audit.config.schema import load_config
from audit.errors import ConfigError
from tests.fakes import write

GOOD = """
models:
  m: {path: /nowhere}
suites:
  - suite: accuracy
    config: {}
gates:
  - "accuracy.accuracy >= 0.7"
"""

BAD = [
    ("models:\n  m: {path: x}\nsuites:\n  - suite: accuracy\n    modles: [m]\n",
     "suites[0].modles: unknown key"),
    ("models:\n  m: {path: x, batch_size: many}\nsuites: [{suite: accuracy}]\n", "models.m.batch_size"),
    ("models:\n  m: {path: x}\nsuites: [{suite: accuracy, models: [other]}]\n", "unknown model 'other'"),
    ("models:\n  m: {path: x}\nsuites: [{suite: accuracy}]\ngates: ['accuracy.accuracy ~ 3']\n",
     "is not of the form"),
    ("models:\n  m: {path: x}\nsuites: [{suite: accuracy}]\ngates: [{metric: a.b}]\n",
     "needs 'min', 'max' or 'max_deviation'"),
    ("suites: [{suite: accuracy}]\n", "models: required key is missing"),
    ("models: {}\nsuites: [{suite: accuracy}]\n", "at least one model"),
    ("models:\n  m: {path: x}\n suites: [oops\n", "invalid YAML at line"),
    ("- just\n- a list\n", "must be a mapping"),
    ("models:\n  m: {path: x, max_length: -3}\nsuites: [{suite: accuracy}]\n", "models.m.max_length"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_bad_config_names_file_and_key(tmp_path, text, expected):
    path = write(tmp_path / "audit.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_good_config_and_gate_shorthand(tmp_path):
    loaded = load_config(write(tmp_path / "ok.yaml", GOOD))
    gate = loaded.config.gates[0]
    assert (gate.metric, gate.min, gate.max, gate.severity) == ("accuracy.accuracy", 0.7, None, "fail")
    assert len(loaded.sha256) == 64


def test_yaml_is_safe_loaded(tmp_path):
    path = write(tmp_path / "evil.yaml", "models: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_cli_exit_code_2_and_no_traceback(tmp_path, capsys):
    path = write(tmp_path / "bad.yaml", BAD[0][0])
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unknown key" in err and "Traceback" not in err


def test_unknown_suite_and_bad_suite_config(tmp_path, capsys):
    path = write(tmp_path / "a.yaml", "models:\n  m: {path: x}\nsuites: [{suite: nope}]\n")
    assert main([str(path), "--out", str(tmp_path / "o")]) == 2
    assert "suites[0].suite: unknown suite 'nope'" in capsys.readouterr().err
    path = write(tmp_path / "b.yaml", "models:\n  m: {path: x}\nsuites: [{suite: accuracy, config: {bogus: 1}}]\n")
    assert main([str(path), "--out", str(tmp_path / "o")]) == 2
    assert "suites[0].config.bogus: unknown key" in capsys.readouterr().err


def test_missing_config_file(tmp_path, capsys):
    assert main([str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


# Metrics the shipped examples gate on that are proportions (fractions in [0, 1] since schema 2.0).
PROPORTION_METRICS = {"accuracy.accuracy", "crows_pairs.metric", "counterfactual.flip_rate",
                      "fairness.equalized_odds_difference", "fairness.demographic_parity_difference"}


@pytest.mark.parametrize("name", ["default.yaml", "full.yaml"])
def test_example_gates_use_fractions_for_proportions(name):
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parent.parent / "examples" / name).config
    gated = [g for g in config.gates if g.metric in PROPORTION_METRICS]
    assert gated
    for gate in gated:
        for bound in (gate.min, gate.max):
            assert bound is None or 0.0 <= bound <= 1.0, f"{name}: {gate.label} is not a fraction"

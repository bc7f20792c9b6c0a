"""Exit codes CI can rely on: anything unexpected is exit 2 with one line on the terminal and the
traceback in a log file; a crashed suite makes the whole run exit 2."""

from __future__ import annotations

import json

import pytest

import audit.cli.app as cli
import audit.run.runner as runner_module
from tests.fakes import load_fake_or_real, write


def _boom(args):
    raise ZeroDivisionError("division by zero\nsecond line")


def test_unexpected_exception_is_exit_2_with_the_traceback_in_a_log_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(cli.COMMANDS, "suites", _boom)
    assert cli.main(["suites"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "unexpected ZeroDivisionError: division by zero second line" in err
    log = tmp_path / "cache" / "logs"                      # RAI_AUDIT_CACHE is tmp_path/cache in tests
    [path] = list(log.glob("rai-audit-suites-*.log"))
    assert str(path) in err
    text = path.read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text and "_boom" in text


def test_unexpected_exception_in_a_run_logs_into_the_output_folder(monkeypatch, capsys, tmp_path):
    def broken_run_audit(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("audit.api.run_audit", broken_run_audit)
    config = write(tmp_path / "a.yaml", "models:\n  m: {path: x}\nsuites: [{suite: accuracy}]\n")
    assert cli.main([str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unexpected OSError: disk full" in err and "Traceback" not in err
    assert "Traceback" in (tmp_path / "out" / cli.LOG_FILENAME).read_text()


def test_a_crashed_suite_makes_the_run_exit_2_without_a_terminal_traceback(monkeypatch, capsys, tmp_path,
                                                                          tiny_classifier_dir):
    monkeypatch.setattr(runner_module, "load_suite", load_fake_or_real)
    config = write(tmp_path / "a.yaml", f"models:\n  m: {{path: {tiny_classifier_dir}}}\n"
                                        "suites:\n  - {suite: fake, config: {crash: true}}\n"
                                        "  - {suite: fake, config: {value: 0.9}}\n"
                                        "gates: ['fake.value >= 0.5']\n")
    out = tmp_path / "out"
    assert cli.main([str(config), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert "RuntimeError: boom" in captured.out and str(out / cli.LOG_FILENAME) in captured.err
    assert "Traceback" in (out / cli.LOG_FILENAME).read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["status"] == "error"
    assert [s["status"] for s in data["suites"]] == ["error", "passed"]


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"]])
def test_help_still_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0

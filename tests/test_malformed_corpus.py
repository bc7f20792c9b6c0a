"""A corpus of malformed and adverse inputs (#17): config, data, model folders, CLI, store and signals.

Each case is one command through the CLI entry point. It must exit with the documented code (2 for bad
input, 130 for Ctrl-C, 0 for a closed pipe), print no traceback, and name the key, file or row in the
first line of its message. Most cases stop in the config validation or the preflight (no model loads).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import audit.cli.app as cli
from audit.run.outdir import LOCK_FILE
from tests.malformed_config_cases import CONFIG_CASES

GOOD_ROWS = [{"id": "a", "text": "a wonderful film", "label": "positive"},
             {"id": "b", "text": "a dull film", "label": "negative"}]
MODEL = "models:\n  m: {{path: {clf}{model_extra}}}\n"
SUITE = "suites:\n  - suite: accuracy\n    config:\n      datasets: [{{name: d, path: {data}{data_extra}}}]\n"
TIMES: list[float] = []


@dataclass
class Env:
    tmp: Path
    clf: Path

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
        return path

    def rows(self, name: str, rows: list[dict]) -> Path:
        return self.file(name, "".join(json.dumps(r) + "\n" for r in rows))

    def data(self) -> Path:
        return self.rows("good.jsonl", GOOD_ROWS)

    def config(self, text: str | None = None, *, model_extra: str = "", data_extra: str = "", data: Path | str | None = None,
               suites: str | None = None, tail: str = "", model: Path | str | None = None) -> Path:
        if text is None:
            text = MODEL.format(clf=model or self.clf, model_extra=model_extra)
            text += suites if suites is not None else SUITE.format(data=data or self.data(), data_extra=data_extra)
            text += tail
        return self.file("audit.yaml", text)

    def model_copy(self, name: str, drop: tuple[str, ...] = (), config: dict | None = None) -> Path:
        folder = self.tmp / name
        shutil.copytree(self.clf, folder)
        for file in drop:
            (folder / file).unlink()
        if config is not None:
            cfg = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(json.dumps({**cfg, **config}))
        return folder

    def run(self, cfg: Path, *extra: str) -> list[str]:
        return ["run", str(cfg), "--out", str(self.tmp / "out"), "--no-progress", *extra]


Builder = Callable[[Env], list[str]]
CASES: list[tuple[str, Builder, int, str]] = []


def case(name: str, builder: Builder, needle: str, code: int = 2) -> None:
    CASES.append((name, builder, code, needle))


def config_text(name: str, text: str, needle: str) -> None:
    case(f"config-{name}", lambda e, t=text: e.run(e.config(t.replace("CLF", str(e.clf)).replace("DATA", str(e.data())))),
         needle)


# ---------------------------------------------------------------- config files (YAML and schema)
for name, text, needle in CONFIG_CASES:
    config_text(name, text, needle)

case("config-not-found", lambda e: e.run(e.tmp / "nope.yaml"), "config file not found")
case("config-is-folder", lambda e: e.run(e.tmp), "config file not found")
case("config-not-utf8", lambda e: e.run(e.file("latin.yaml", b"models:\n  m: {path: caf\xe9}\n")), "invalid YAML")


# ---------------------------------------------------------------- data files (the labelled-data contract)
def data_case(name: str, make: Callable[[Env], Path], needle: str, extra: str = "") -> None:
    case(f"data-{name}", lambda e: e.run(e.config(data=make(e), data_extra=extra)), needle)


ROW = GOOD_ROWS[0]
data_case("missing-file", lambda e: e.tmp / "missing.jsonl", "missing.jsonl")
data_case("unsupported-format", lambda e: e.file("d.xlsx", "x"), "d.xlsx: unsupported format")
data_case("empty-csv", lambda e: e.file("d.csv", "id,text,label\n"), "d.csv: the dataset is empty")
data_case("empty-jsonl", lambda e: e.file("d.jsonl", "\n"), "d.jsonl: the dataset is empty")
data_case("invalid-json-line", lambda e: e.file("d.jsonl", json.dumps(ROW) + "\n{oops\n"), "line 2 is not valid JSON")
data_case("no-text-column", lambda e: e.rows("d.jsonl", [{"id": "a", "sentence": "x", "label": "positive"}]),
          "column(s) 'text' not found")
data_case("no-label-column", lambda e: e.rows("d.jsonl", [{"id": "a", "text": "x"}]), "column(s) 'label' not found")
data_case("renamed-text-column", lambda e: e.data(), "'sentence' not found", ", text_column: sentence")
data_case("blank-text", lambda e: e.rows("d.jsonl", GOOD_ROWS + [{"id": "c", "text": "", "label": "positive"}]),
          "row 3 (id c): column 'text' is blank")
data_case("whitespace-text", lambda e: e.rows("d.jsonl", [{"id": "c", "text": " \t ", "label": "positive"}]),
          "row 1 (id c): column 'text' is blank")
data_case("null-text", lambda e: e.rows("d.jsonl", [{"id": "c", "text": None, "label": "positive"}]),
          "row 1 (id c): column 'text' is blank")
data_case("number-text", lambda e: e.rows("d.jsonl", [{"id": "c", "text": 7, "label": "positive"}]),
          "row 1 (id c): column 'text' is not text")
data_case("blank-label", lambda e: e.rows("d.jsonl", [{"id": "c", "text": "fine", "label": ""}]),
          "row 1 (id c): column 'label' is blank")
data_case("unknown-label", lambda e: e.rows("d.jsonl", [{"id": "c", "text": "fine", "label": "neutral"}]),
          "row 1 (id c): label 'neutral'")
data_case("zero-one-labels", lambda e: e.file("d.csv", "id,text,label\na,good,1\nb,bad,0\n"),
          "row 1 (id a): label 1 in column 'label' is unknown; it looks like a class index")
data_case("label-map-missing-key", lambda e: e.data(), "label 'positive' in column 'label' is unknown; label_map keys",
          ", label_map: {pos: positive}")
data_case("repeated-id", lambda e: e.rows("d.jsonl", GOOD_ROWS + [GOOD_ROWS[0]]), "row 3: id 'a' in column 'id' is repeated")
data_case("blank-id", lambda e: e.rows("d.jsonl", [{"id": "", "text": "fine", "label": "positive"}]),
          "row 1: column 'id' (the id) is blank")
data_case("builtin-escape", lambda e: "builtin:../../../etc/passwd", "points outside")
data_case("prepared-escape", lambda e: "prepared:../../x.jsonl", "points outside")
data_case("prepared-missing", lambda e: "prepared:nothing/test.jsonl", "run `python run_audit.py prepare` first")
data_case("csv-unbalanced-quote", lambda e: e.file("d.csv", 'id,text,label\na,"open quote,positive\n'), "d.csv: cannot parse")
data_case("not-utf8", lambda e: e.file("d.csv", b"id,text,label\na,caf\xe9,positive\n"), "d.csv: line 2, column 6: not UTF-8")
data_case("bad-gzip", lambda e: e.file("d.jsonl.gz", b"not gzip at all"), "d.jsonl.gz: cannot read")
data_case("folder-as-file", lambda e: (e.tmp / "folder.jsonl").mkdir() or e.tmp / "folder.jsonl", "folder.jsonl: cannot read")
data_case("tsv-no-label", lambda e: e.file("d.tsv", "id\ttext\na\tfine\n"), "column(s) 'label' not found")
data_case("second-row-of-many", lambda e: e.rows("d.jsonl", [ROW] + [{"id": f"x{i}", "text": "", "label": "positive"}
                                                                   for i in range(20)]), "row 2 (id x0)")


def suite_case(name: str, block: Callable[[Env], str], needle: str) -> None:
    case(f"data-{name}", lambda e: e.run(e.config(suites="suites:\n" + block(e))), needle)


BLANK = [{"id": "z", "text": "  ", "label": "negative"}]
suite_case("robustness-missing", lambda e: f"  - suite: robustness\n    config: {{data: {{path: {e.tmp / 'r.csv'}}}}}\n",
           "r.csv")
suite_case("robustness-blank", lambda e: f"  - suite: robustness\n    config: {{data: {{path: "
           f"{e.rows('r.jsonl', GOOD_ROWS + BLANK)}}}}}\n", "r.jsonl: row 3 (id z): column 'text' is blank")
suite_case("robustness-label", lambda e: f"  - suite: robustness\n    config: {{data: {{path: "
           f"{e.rows('r.jsonl', [{'id': 'q', 'text': 'ok', 'label': 'meh'}])}}}}}\n", "r.jsonl: row 1 (id q): label 'meh'")
suite_case("explain-missing", lambda e: f"  - suite: explainability\n    config: {{examples: {{dataset: {{path: "
           f"{e.tmp / 'x.csv'}}}}}}}\n", "x.csv")
suite_case("explain-blank", lambda e: f"  - suite: explainability\n    config: {{examples: {{dataset: {{path: "
           f"{e.rows('x.jsonl', GOOD_ROWS + BLANK)}}}}}}}\n", "x.jsonl: row 3 (id z): column 'text' is blank")
suite_case("explain-repeated-id", lambda e: f"  - suite: explainability\n    config: {{examples: {{dataset: {{path: "
           f"{e.rows('x.jsonl', GOOD_ROWS + GOOD_ROWS[:1])}}}}}}}\n", "x.jsonl: row 3: id 'a'")
PRIV = "  - suite: privacy\n    config: {{parts: [membership], membership: {{reference: null, members: {{path: {m}}}, " \
       "non_members: [{{path: {n}}}]}}}}\n"
suite_case("privacy-missing", lambda e: PRIV.format(m=e.tmp / "mem.jsonl", n=e.data()), "mem.jsonl")
suite_case("privacy-blank", lambda e: PRIV.format(m=e.data(), n=e.rows("non.jsonl", GOOD_ROWS + BLANK)),
           "non.jsonl: row 3 (id z): column 'text' is blank")
suite_case("privacy-label", lambda e: PRIV.format(m=e.rows("mem.jsonl", [{"id": "q", "text": "ok", "label": 3}]), n=e.data()),
           "mem.jsonl: row 1 (id q): label 3")
FAIR = "  - suite: bias\n    config: {{parts: [fairness], fairness: {{dataset: {d}, text_column: text, label_column: label, " \
       "positive_label: positive, sensitive_columns: [g]}}}}\n"
suite_case("fairness-missing", lambda e: FAIR.format(d=e.tmp / "f.csv"), "f.csv")
suite_case("fairness-no-sensitive", lambda e: FAIR.format(d=e.file("f.csv", "text,label\nok,positive\n")),
           "sensitive column(s) 'g' not found")
suite_case("fairness-blank-group", lambda e: FAIR.format(d=e.file("f.csv", "text,label,g\nok,positive,a\nno,negative,\n")),
           "f.csv: row 2: column 'g' is blank")
suite_case("fairness-blank-text", lambda e: FAIR.format(d=e.file("f.csv", "text,label,g\n ,positive,a\n")),
           "f.csv: row 1: column 'text' is blank")
suite_case("fairness-no-positive", lambda e: FAIR.format(d=e.file("f.csv", "text,label,g\nok,negative,a\n")),
           "never holds 'positive'")
suite_case("fairness-no-text-column", lambda e: FAIR.format(d=e.file("f.csv", "words,label,g\nok,positive,a\n")),
           "'text' not found")
suite_case("crows-missing", lambda e: f"  - suite: bias\n    config: {{crows_pairs: {{data: {e.tmp / 'cp.csv'}}}}}\n", "cp.csv")
suite_case("counterfactual-missing", lambda e: "  - suite: bias\n    config: {counterfactual: {hatecheck: "
           f"{e.tmp / 'hc.csv'}}}}}\n", "hc.csv")


# ---------------------------------------------------------------- model folders
def model_case(name: str, make: Callable[[Env], Path | str], needle: str, extra: str = "") -> None:
    case(f"model-{name}", lambda e: e.run(e.config(model=make(e), model_extra=extra)), needle)


def truncated(e: Env) -> Path:
    folder = e.model_copy("cut")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    return folder


def overwrite(e: Env, name: str, file: str, content: bytes) -> Path:
    folder = e.model_copy(name)
    (folder / file).write_bytes(content)
    return folder


model_case("missing-folder", lambda e: e.tmp / "no_model", "no such local folder")
model_case("relative-missing", lambda e: "no_model_here", "no such local folder")
model_case("file-not-folder", lambda e: e.file("weights.bin", "x"), "no such local folder")
model_case("empty-folder", lambda e: (e.tmp / "empty").mkdir() or e.tmp / "empty", "no model weights")
model_case("no-config", lambda e: e.model_copy("nocfg", drop=("config.json",)), "no config.json")
model_case("bad-config-json", lambda e: overwrite(e, "badcfg", "config.json", b"{nope"), "config.json: invalid JSON")
model_case("pickle-only", lambda e: overwrite(e.__class__(e.tmp, e.model_copy("pk", drop=("model.safetensors",))), "pk2",
                                              "pytorch_model.bin", b"x"), "only pickle weights")
model_case("truncated-weights", truncated, "truncated safetensors")
model_case("zero-byte-weights", lambda e: overwrite(e, "zero", "model.safetensors", b""), "truncated safetensors")
model_case("garbage-header", lambda e: overwrite(e, "garbage", "model.safetensors", (20).to_bytes(8, "little") + b"x" * 30),
           "not JSON")
model_case("no-tokenizer", lambda e: e.model_copy("notok", drop=("tokenizer.json",)), "no tokenizer files")
model_case("five-token-vocab", lambda e: overwrite(e.__class__(e.tmp, e.model_copy("v5", drop=("tokenizer.json",))), "v5b",
                                                   "vocab.txt", b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"), "round-trip")
model_case("corrupt-tokenizer", lambda e: overwrite(e, "ct", "tokenizer.json", b"{broken"), "tokenizer")
model_case("unknown-model-type", lambda e: e.model_copy("typ", config={"model_type": "fancy-arch"}), "model_type: 'fancy-arch'")
model_case("remote-code", lambda e: e.model_copy("rc", config={"auto_map": {"AutoModel": "x.Y"}}), "remote code")
model_case("label-count", lambda e: e.model_copy("lc", config={"id2label": {"0": "a", "1": "b", "2": "c"},
                                                               "label2id": {"a": 0, "b": 1, "c": 2}}), "3 label(s)")
model_case("prepared-missing", lambda e: "prepared:no-such-model", "run the prepare step first")
model_case("prepared-escape", lambda e: "prepared:../../etc", "must name a folder inside")
model_case("prepared-empty", lambda e: "'prepared:'", "needs a name")
model_case("package-missing", lambda e: "package:no_such_pkg_xyz/model", "no installed package")
model_case("cuda-absent", lambda e: e.clf, "models.m.device: 'cuda:7'", ", device: 'cuda:7'")


# ---------------------------------------------------------------- CLI and output folders
def out_is_file(e: Env) -> list[str]:
    return ["run", str(e.config()), "--out", str(e.file("taken", "x"))]


def out_under_file(e: Env) -> list[str]:
    return ["run", str(e.config()), "--out", str(e.file("taken", "x") / "sub")]


def locked(e: Env) -> list[str]:
    (e.tmp / "out").mkdir()
    (e.tmp / "out" / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    return e.run(e.config())


case("cli-out-is-file", out_is_file, "--out")
case("cli-out-under-file", out_under_file, "is a file, so the folder cannot be created")
case("cli-out-locked", locked, "another run (pid")
case("cli-unknown-baseline", lambda e: e.run(e.config(), "--baseline", "nightly"), "no run or tag 'nightly'")
case("cli-report-missing", lambda e: ["report", str(e.tmp / "nothing" / "results.json")], "results file not found")
case("cli-report-folder", lambda e: ["report", str((e.tmp / "f").mkdir() or e.tmp / "f")], "results file not found")
case("cli-report-bad-json", lambda e: ["report", str(e.file("results.json", "{nope"))], "results.json: not valid JSON")
case("cli-report-list-json", lambda e: ["report", str(e.file("results.json", "[]"))], "expected a JSON object")
case("cli-report-bad-format", lambda e: ["report", str(e.file("results.json", "{nope"))] + ["--format", "pptx"],
     "results.json")
case("cli-compare-unknown", lambda e: ["compare", "nope1", "nope2"], "no run or tag 'nope1'")
case("cli-compare-bad-json", lambda e: ["compare", str(e.file("a.json", "{x")), str(e.file("b.json", "{x"))], "a.json")
case("cli-runs-show-unknown", lambda e: ["runs", "show", "zzzz"], "zzzz")
case("cli-runs-tag-unknown", lambda e: ["runs", "tag", "zzzz", "baseline"], "zzzz")
case("cli-runs-untag-unknown", lambda e: ["runs", "untag", "never"], "never")
case("cli-runs-delete-unknown", lambda e: ["runs", "delete", "zzzz"], "zzzz")

# ---------------------------------------------------------------- run history (store)
case("store-runs-missing", lambda e: ["runs", "--store", str(e.tmp / "typo.sqlite")], "no such run history file")
case("store-history-missing", lambda e: ["runs", "history", "accuracy.accuracy", "--store", str(e.tmp / "t.sqlite")],
     "no such run history file")
case("store-compare-missing", lambda e: ["compare", "a", "b", "--store", str(e.tmp / "t.sqlite")], "no such run history file")
case("store-tag-missing", lambda e: ["runs", "tag", "a", "b", "--store", str(e.tmp / "t.sqlite")], "no such run history file")
case("store-not-sqlite", lambda e: ["runs", "--store", str(e.file("h.sqlite", "this is not a database" * 40))],
     "h.sqlite")
case("store-run-is-folder", lambda e: e.run(e.config(), "--store", str((e.tmp / "sf").mkdir() or e.tmp / "sf")),
     "is a folder, not a history database")
case("store-run-under-file", lambda e: e.run(e.config(), "--store", str(e.file("blocker", "x") / "h.sqlite")),
     "is a file, so the folder cannot be created")
case("store-bad-url", lambda e: ["runs", "--store", "nosuchdriver://x/y"], "nosuchdriver")
case("store-config-folder", lambda e: e.run(e.config(tail=f"store: {(e.tmp / 'sdir').mkdir() or e.tmp / 'sdir'}\n")),
     "is a folder")


# ---------------------------------------------------------------- signals
def interrupted(e: Env) -> list[str]:
    import audit.run.runner as runner_module

    def stop(self):
        raise KeyboardInterrupt

    e.monkeypatch.setattr(runner_module.Runner, "run", stop)
    return e.run(e.config())


def closed_pipe(e: Env) -> list[str]:
    def closed(_args):
        raise BrokenPipeError

    e.monkeypatch.setitem(cli.COMMANDS, "runs", closed)
    return ["runs"]


case("signal-ctrl-c", interrupted, "interrupted: run the same command again to resume", code=130)
case("signal-closed-pipe", closed_pipe, "", code=0)


@pytest.mark.parametrize("name, builder, code, needle", CASES, ids=[c[0] for c in CASES])
def test_malformed_input(name, builder, code, needle, tmp_path, tiny_classifier_dir, capsys, monkeypatch):
    env = Env(tmp_path, tiny_classifier_dir)
    env.monkeypatch = monkeypatch  # type: ignore[attr-defined]
    argv = builder(env)
    capsys.readouterr()
    started = time.perf_counter()
    got = cli.main(argv)
    TIMES.append(time.perf_counter() - started)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert got == code, err
    if needle:
        first = next((line for line in err.splitlines() if line.strip()), "")
        assert needle in first, f"first line: {first!r}\nall: {err}"
        assert "unexpected" not in first


def test_corpus_size_and_runtime():
    """At least 150 cases across the six families; prints the corpus runtime (run after the cases)."""
    families = {name.split("-", 1)[0] for name, *_ in CASES}
    assert len(CASES) >= 150 and families == {"config", "data", "model", "cli", "store", "signal"}
    total = sum(TIMES)
    print(f"\nmalformed-input corpus: {len(CASES)} cases, {len(TIMES)} run here, {total:.1f} s "
          f"({total / max(len(TIMES), 1):.2f} s per case)")

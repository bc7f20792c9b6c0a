"""Safety of what a config can name: model names become folder names, `builtin:` / `prepared:` /
`suite:` references stay inside their folders, and the transformers floor matches the API used."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from audit.config.schema import load_config
from audit.data.resolver import BUILTIN_DIR, DataResolver
from audit.errors import ConfigError, DataError
from suites.bias.template_probes import resolve_probe_path
from tests.fakes import write

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "x y", "m;rm -rf", "~home", "ü", "a:b"])
def test_unsafe_model_names_are_config_errors_naming_the_key(tmp_path, name):
    path = write(tmp_path / "a.yaml", f"models:\n  {name!r}: {{path: x}}\nsuites: [{{suite: accuracy}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "models" in str(err.value) and repr(name) in str(err.value)


@pytest.mark.parametrize("name", ["minilm-sentiment", "smollm2-135m", "Model_v1.2", "a.b"])
def test_ordinary_model_names_are_fine(tmp_path, name):
    path = write(tmp_path / "a.yaml", f"models:\n  {name}: {{path: x}}\nsuites: [{{suite: accuracy}}]\n")
    assert list(load_config(path).config.models) == [name]


@pytest.fixture
def resolver(tmp_path) -> DataResolver:
    prepared = tmp_path / "prepared"
    (prepared / "rt").mkdir(parents=True)
    (prepared / "rt" / "test.jsonl").write_text("{}\n")
    (tmp_path / "secret.txt").write_text("not for you\n")
    return DataResolver(config_dir=tmp_path, prepared_dir=prepared)


@pytest.mark.parametrize("ref", ["builtin:../../config.py", "builtin:/etc/passwd", "builtin:crows_pairs/../../../x",
                                 "prepared:../secret.txt", "prepared:/etc/passwd", "prepared:rt/../../secret.txt"])
def test_builtin_and_prepared_references_cannot_leave_their_folder(resolver, ref):
    with pytest.raises(DataError, match=r"bias\.x\.data: .*points outside"):
        resolver.resolve(ref, what="bias.x.data")


def test_a_symlink_out_of_the_prepared_folder_is_refused(resolver, tmp_path):
    (resolver.prepared_dir / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DataError, match="points outside"):
        resolver.resolve("prepared:link.txt")


def test_references_inside_their_folders_still_resolve(resolver):
    assert resolver.resolve("prepared:rt/test.jsonl").read_text() == "{}\n"
    assert resolver.resolve("prepared:rt/./test.jsonl").name == "test.jsonl"
    path = resolver.resolve("builtin:crows_pairs/crows_pairs_anonymized.csv")
    assert path.is_relative_to(BUILTIN_DIR)
    # a plain relative path is the config author's own file, as before
    assert resolver.resolve("secret.txt").read_text() == "not for you\n"


def test_suite_probe_references_are_confined(resolver):
    with pytest.raises(DataError, match="points outside"):
        resolve_probe_path(resolver, "suite:../templates.py")
    assert resolve_probe_path(resolver, "suite:occupations.yaml").name == "occupations.yaml"


def test_transformers_floor_matches_the_api_the_code_uses():
    """from_pretrained(dtype=...) first exists in transformers 4.56.0 (4.55 silently ignores it)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [spec] = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "transformers"]
    assert not spec.specifier.contains("4.55.4") and spec.specifier.contains("4.56.0")
    assert spec.specifier.contains(version("transformers"))

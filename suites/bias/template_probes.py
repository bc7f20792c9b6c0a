"""Template probe files: the YAML of group words, attribute words and templates, parsed and validated.

Shipped probe sets live in suites/bias/data (`suite:NAME`); a user's file is any data reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from audit.data.resolver import DataResolver, confined_path, read_text
from audit.errors import DataError

KEY = "templates"               # the part's config key: errors name bias.templates.*
TARGET_SLOT = "[TARGET]"
ATTRIBUTE_SLOT = "[ATTRIBUTE]"
SUITE_PREFIX = "suite:"
SUITE_DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PROBES = SUITE_PREFIX + "occupations.yaml"
_ARTICLE_RE = re.compile(r"\b([Aa]) " + re.escape(ATTRIBUTE_SLOT))


@dataclass(frozen=True)
class Template:
    index: int
    text: str
    targets: dict[str, list[str]]   # group -> words

    @property
    def id(self) -> str:
        """Short stable id (its position in the probe file), used as the metric group."""
        return template_id(self.index)


def template_id(index: int) -> str:
    return f"t{index:02d}"


@dataclass(frozen=True)
class Attribute:
    word: str
    label: str


@dataclass(frozen=True)
class ProbeSet:
    name: str
    path: str
    groups: list[str]
    templates: list[Template]
    attributes: list[Attribute]


def resolve_probe_path(data: DataResolver, ref: str) -> Path:
    """'suite:NAME' is a file shipped in suites/bias/data/; anything else goes through the DataResolver."""
    if ref.startswith(SUITE_PREFIX):
        path = confined_path(SUITE_DATA_DIR, ref[len(SUITE_PREFIX):], what=f"bias.{KEY}.probes", prefix=SUITE_PREFIX)
        if not path.is_file():
            raise DataError(f"bias.{KEY}.probes: file not found: {path}")
        return path
    return data.resolve(ref, what=f"bias.{KEY}.probes")


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected a mapping")
    return value


def _word_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(w, str) and w.strip() for w in value):
        raise DataError(f"{where}: expected a non-empty list of words")
    return [w.strip() for w in value]


def _parse_target_sets(raw: object, groups: list[str], path: str) -> dict[str, dict[str, list[str]]]:
    sets: dict[str, dict[str, list[str]]] = {}
    for name, by_group in _mapping(raw, f"{path}: target_sets").items():
        by_group = _mapping(by_group, f"{path}: target_sets.{name}")
        unknown = [g for g in by_group if g not in groups]
        if unknown:
            raise DataError(f"{path}: target_sets.{name}: unknown group {unknown[0]!r}; groups are {groups}")
        missing = [g for g in groups if g not in by_group]
        if missing:
            raise DataError(f"{path}: target_sets.{name}: no words for group {missing[0]!r}")
        sets[str(name)] = {g: _word_list(by_group[g], f"{path}: target_sets.{name}.{g}") for g in groups}
    return sets


def _parse_templates(raw: object, sets: dict[str, dict[str, list[str]]], path: str) -> list[Template]:
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: templates: expected a non-empty list")
    templates = []
    for i, item in enumerate(raw):
        where = f"{path}: templates[{i}]"
        item = _mapping(item, where)
        text = item.get("text")
        if not isinstance(text, str):
            raise DataError(f"{where}: missing 'text'")
        for slot in (TARGET_SLOT, ATTRIBUTE_SLOT):
            if text.count(slot) != 1:
                raise DataError(f"{where}: template {text!r} must contain the slot {slot} exactly once")
        set_name = item.get("targets")
        if set_name not in sets:
            raise DataError(f"{where}: targets {set_name!r} is not a target set; known: {sorted(sets)}")
        templates.append(Template(index=i, text=text, targets=sets[set_name]))
    return templates


def _parse_attributes(raw: object, groups: list[str], data: DataResolver, path: str) -> list[Attribute]:
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: attributes: expected a non-empty list")
    attributes: list[Attribute] = []
    for i, item in enumerate(raw):
        where = f"{path}: attributes[{i}]"
        item = _mapping(item, where)
        label = item.get("label")
        if label not in groups:
            raise DataError(f"{where}: label {label!r} is not a group; groups are {groups}")
        if "words" in item:
            words = _word_list(item["words"], f"{where}.words")
        elif "file" in item:
            file_path = data.resolve(str(item["file"]), what=f"{where}.file")
            words = [w.strip() for w in read_text(file_path).splitlines() if w.strip()]
            if not words:
                raise DataError(f"{file_path}: the attribute list is empty ({where})")
            data.record(file_path, rows=len(words))
        else:
            raise DataError(f"{where}: needs 'words' or 'file'")
        attributes.extend(Attribute(word=w, label=label) for w in words)
    return attributes


def load_probes(data: DataResolver, ref: str) -> ProbeSet:
    """Read and validate a probe file; every problem names the file and the key / template index."""
    path = resolve_probe_path(data, ref)
    where = str(path)
    try:
        raw = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise DataError(f"{where}: invalid YAML ({exc})") from None
    raw = _mapping(raw, where)
    groups = raw.get("groups")
    if not isinstance(groups, list) or len(groups) < 2 or not all(isinstance(g, str) for g in groups):
        raise DataError(f"{where}: groups: expected a list of at least two group names")
    sets = _parse_target_sets(raw.get("target_sets"), groups, where)
    templates = _parse_templates(raw.get("templates"), sets, where)
    attributes = _parse_attributes(raw.get("attributes"), groups, data, where)
    data.record(path, rows=len(templates))
    return ProbeSet(name=str(raw.get("name", path.stem)), path=where, groups=groups, templates=templates,
                    attributes=attributes)


def fill(template: str, target: str, attribute: str, article_for: str | None = None) -> str:
    """Fill both slots; 'a [ATTRIBUTE]' agrees with `article_for` (default the attribute); capitalise."""
    word = article_for if article_for is not None else attribute
    if word[:1].lower() in "aeiou":
        template = _ARTICLE_RE.sub(lambda m: m.group(1) + "n " + ATTRIBUTE_SLOT, template)
    text = template.replace(TARGET_SLOT, target).replace(ATTRIBUTE_SLOT, attribute)
    return text[:1].upper() + text[1:]


def balanced_subset(attributes: Sequence[Attribute], limit: int | None,
                    rng: np.random.Generator) -> list[Attribute]:
    """A seeded subset of `limit` attributes taking labels in turn (all when limit is None)."""
    if limit is None or limit >= len(attributes):
        return list(attributes)
    by_label: dict[str, list[Attribute]] = {}
    for a in attributes:
        by_label.setdefault(a.label, []).append(a)
    queues = [[items[i] for i in rng.permutation(len(items))] for items in by_label.values()]
    chosen: list[Attribute] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen

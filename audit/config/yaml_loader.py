"""A YAML safe loader that refuses duplicate keys at every level (YAML's last-wins hides copy-paste slips)."""

from __future__ import annotations

from typing import Any

import yaml

from audit.errors import ConfigError


class UniqueKeySafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader, except that a mapping naming one key twice is an error (with both lines)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue                       # SafeLoader itself reports an unhashable key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: bytes | str, source: str) -> Any:
    """Parse YAML safely; a syntax error or a duplicate key is a ConfigError naming file, line and column."""
    try:
        return yaml.load(text, Loader=UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None

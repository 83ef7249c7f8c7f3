"""Service configuration files: YAML or JSON → a ``cqc.config.v1`` message, validated.

Exposed as :func:`cqc.config.load` (``cqc/config/__init__.py`` is generated and re-exports it). The file's
keys are proto field names or JSON names, values as in canonical proto JSON (durations ``"30s"``, enums by
name). Every failure is a :class:`ConfigError` naming the file, the field path and the rule: ``"parse"``
for a file that is not a YAML/JSON mapping or does not decode as the message (unknown field, wrong type),
otherwise the protovalidate/CQC rule id. Requires PyYAML for YAML files (extra ``config``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from cqc.validation import ContractViolation, violations

__all__ = ["ConfigError", "load", "load_text"]

M = TypeVar("M", bound=Message)


class ConfigError(ValueError):
    """A configuration file that cannot be used: ``file``, ``field`` (proto path, ``""`` when unknown),
    ``rule`` (``"parse"`` or a rule id) of the first problem, and ``violations`` (every broken rule)."""

    def __init__(self, file: str, field: str, rule: str, detail: str, found: list[ContractViolation] | None = None):
        self.file, self.field, self.rule, self.violations = file, field, rule, found or []
        where = f" field {field}" if field else ""
        super().__init__(f"{file}:{where}: {detail} [{rule}]")


_UNKNOWN_FIELD = re.compile(r'no field named "([^"]+)" at "([^"]*)"')
_BAD_FIELD = re.compile(r"Failed to parse (\w+) field")


def _parse_error_field(text: str) -> str:
    """The field path a protobuf JSON ParseError names ("" when it names none)."""
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown:
        name, at = unknown.groups()
        scope = at.split(".", 1)[1] if "." in at else ""
        return f"{scope}.{name}" if scope else name
    return ".".join(_BAD_FIELD.findall(text))


def load_text(text: str, message_type: type[M], *, file: str = "<config>", yaml: bool = True) -> M:
    """Decodes and validates configuration ``text`` (YAML when ``yaml``, else JSON) as ``message_type``."""
    try:
        if yaml:
            import yaml as pyyaml  # type: ignore[import-untyped]

            data: Any = pyyaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:
        raise ConfigError(file, "", "parse", f"not valid {'YAML' if yaml else 'JSON'}: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(file, "", "parse", f"the top level must be a mapping, not {type(data).__name__}")
    message = message_type()
    try:
        json_format.ParseDict(data, message)
    except json_format.ParseError as error:
        raise ConfigError(file, _parse_error_field(str(error)), "parse", str(error)) from error
    found = violations(message)
    if found:
        first = found[0]
        raise ConfigError(file, first.field, first.rule_id, "; ".join(str(v) for v in found), found)
    return message


def load(path: str | Path, message_type: type[M]) -> M:
    """Reads a configuration file (``.yaml``/``.yml`` as YAML, anything else as JSON) as ``message_type``,
    e.g. ``cqc.config.load("asset-registry.yaml", AssetRegistryConfig)``; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(str(path), "", "parse", f"cannot read: {error}") from error
    return load_text(text, message_type, file=str(path), yaml=path.suffix.lower() in (".yaml", ".yml"))

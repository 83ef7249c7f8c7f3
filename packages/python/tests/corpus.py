"""Reads testdata/: the examples and the conformance cases that every package's tests run."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import TESTDATA

Json = Any


@dataclass(frozen=True)
class Case:
    """One conformance case: decode `value` as `type`, then expect `valid` or exactly `violations`."""

    name: str
    type: str
    value: Json
    valid: bool
    violations: frozenset[tuple[str, str]]


def merge_patch(target: Json, patch: Json) -> Json:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def examples() -> dict[str, Json]:
    """Every example message, keyed "<full message name>/<example name>"."""
    found = {}
    for path in sorted((TESTDATA / "examples").glob("*/*.json")):
        found[f"{path.parent.name}/{path.stem}"] = json.loads(path.read_text())
    return found


def cases() -> list[Case]:
    """Every case: each example as a valid case, then every case file under testdata/conformance/cases."""
    loaded = examples()
    result = [
        Case(name=f"example/{key}", type=key.split("/")[0], value=value, valid=True, violations=frozenset())
        for key, value in loaded.items()
    ]
    for path in sorted((TESTDATA / "conformance" / "cases").glob("*.json")):
        for raw in json.loads(Path(path).read_text())["cases"]:
            value = raw["json"] if "json" in raw else merge_patch(loaded[raw["base"]], raw.get("patch", {}))
            expect = raw["expect"]
            violations = frozenset() if expect == "valid" else frozenset(
                (v["field"], v["rule"]) for v in expect["violations"]
            )
            result.append(Case(raw["name"], raw["type"], value, expect == "valid", violations))
    return result

"""Service configuration files: the loader (cqc.config) on the shared cases (testdata/helpers/config-cases.json,
also run by Go and TypeScript), and every example configuration (examples/config/*.yaml) against its JSON
Schema with a standard validator (jsonschema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from conftest import REPO_ROOT, TESTDATA
from google.protobuf import json_format
from google.protobuf.message import Message
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

import cqc.config
from cqc.registry import message_class

CASES: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "config-cases.json").read_text())["cases"]
CONFIGS = sorted((REPO_ROOT / "examples" / "config").glob("*.yaml"))
SCHEMAS = REPO_ROOT / "schemas" / "jsonschema"


def _load(case: dict[str, Any], tmp_path: Path) -> Message:
    cls = message_class(case["type"])
    if "file" in case:
        return cqc.config.load(REPO_ROOT / case["file"], cls)
    path = tmp_path / f"config.{case['format']}"
    path.write_text(case["content"])
    return cqc.config.load(path, cls)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_config_case(case: dict[str, Any], tmp_path: Path) -> None:
    expect = case["expect"]
    if "message" in expect:
        assert json_format.MessageToDict(_load(case, tmp_path)) == expect["message"]
        return
    with pytest.raises(cqc.config.ConfigError) as caught:
        _load(case, tmp_path)
    error = caught.value
    assert error.rule == expect["error"]["rule"], str(error)
    if "field" in expect["error"]:
        assert error.field == expect["error"]["field"], str(error)
    assert error.file in str(error)


def _schema_type(config: Path) -> str:
    """The message a config file declares in its header comment ("message cqc.config.v1.X")."""
    head = config.read_text().split("\n", 2)[:2]
    return next(w.rstrip(";") for line in head for w in line.split() if w.startswith("cqc.config.v1."))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_example_config_matches_json_schema(config: Path) -> None:
    registry = (
        Registry()
        .with_resources(
            (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("cqc.config.v1.*.json")
        )
        .with_resources(
            (p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("google.*.json")
        )
    )
    schema = json.loads((SCHEMAS / f"{_schema_type(config)}.jsonschema.json").read_text())
    errors = [
        e.message
        for e in Draft202012Validator(schema, registry=registry).iter_errors(yaml.safe_load(config.read_text()))
    ]
    assert not errors, errors


def test_every_service_has_an_example_config() -> None:
    assert [p.stem for p in CONFIGS] == ["asset-registry", "market-data", "portfolio", "risk-engine", "venue-gateway"]

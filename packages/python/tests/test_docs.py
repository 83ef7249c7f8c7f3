"""docs/reference (the generated API reference, `nox -s docs`) is what tools/cqcdocs.py makes from proto/."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO_ROOT

REFERENCE = REPO_ROOT / "docs" / "reference"


def test_reference_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "cqcdocs.py"), "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_catalog_lists_every_service_and_links_schemas() -> None:
    catalog = json.loads((REFERENCE / "catalog.json").read_text())
    services = {s["name"] for p in catalog["packages"] for s in p["services"]}
    assert {
        f"cqc.services.v1.{s}" for s in ("AssetRegistry", "VenueGateway", "MarketData", "Portfolio", "RiskEngine")
    } <= services
    messages = [m for p in catalog["packages"] for m in p["messages"]]
    missing = [m["name"] for m in messages if not m["json_schema"] or not (REPO_ROOT / m["json_schema"]).exists()]
    assert not missing, missing
    undocumented = [m["name"] for m in messages if not m["comment"]]
    assert not undocumented, undocumented

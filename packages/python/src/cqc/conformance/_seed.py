"""The seed examples the cases refer to (``{"$example": "<Type>/<name>"}``), through one function.

The reference servers load the same examples at start, so a ``seed: true`` case may rely on them. Source, in
order: the examples packaged with ``cqc.testing`` (``cqc.testing.seed.examples``), else
the ``testdata/examples`` directory of a CQC checkout (``$CQC_TESTDATA`` or found above this file).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

Json = Any


@cache
def _testdata_examples() -> Path | None:
    configured = os.environ.get("CQC_TESTDATA")
    if configured:
        return Path(configured) / "examples"
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "testdata" / "examples"
        if candidate.is_dir():
            return candidate
    return None


@cache
def _packaged() -> dict[str, dict[str, Json]] | None:
    """The bundle of ``cqc.testing.seed`` (``examples.json``: {type: {name: example}}), read without importing
    ``cqc.testing`` (which starts nothing but imports the whole server); None when not installed or generated."""
    spec = importlib.util.find_spec("cqc.testing")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        bundle = Path(location) / "seed" / "examples.json"
        if bundle.is_file():
            loaded: dict[str, dict[str, Json]] = json.loads(bundle.read_text(encoding="utf-8"))
            return loaded
    return None


def example(ref: str) -> Json:
    """The canonical JSON of the example ``"<full message name>/<example name>"``; KeyError when unknown."""
    type_name, _, name = ref.partition("/")
    if not type_name or not name:
        raise KeyError(f"bad $example reference {ref!r}: want '<full message name>/<example name>'")
    found = (_packaged() or {}).get(type_name, {})
    if name in found:
        return copy.deepcopy(found[name])
    base = _testdata_examples()
    path = base / type_name / f"{name}.json" if base is not None else None
    if path is None or not path.is_file():
        raise KeyError(f"no example {ref!r} (looked in {base})")
    return json.loads(path.read_text(encoding="utf-8"))


def examples_of(type_name: str) -> list[Json]:
    """Every example of ``type_name`` (canonical JSON), in name order."""
    found = (_packaged() or {}).get(type_name, {})
    if found:
        return [copy.deepcopy(found[name]) for name in sorted(found)]
    base = _testdata_examples()
    folder = base / type_name if base is not None else None
    if folder is None or not folder.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]

"""The version is written in two places (pyproject.toml, cqc/__init__.py); they and the installed metadata agree.

`nox -s release -- python <major|minor|patch>` bumps both; see docs/RELEASING.md.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import cqc

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_version_is_semver() -> None:
    assert re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", cqc.__version__)


def test_version_matches_pyproject_and_installed_metadata() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert cqc.__version__ == declared
    assert importlib.metadata.version("cqc-contracts") == declared

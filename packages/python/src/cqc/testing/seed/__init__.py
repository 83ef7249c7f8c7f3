"""The reference servers' seed data, shipped inside the package: the examples of every type the servers seed
(and every type the conformance suites name with ``$example``), generated from the repository's
``testdata/examples`` by ``nox -s generate`` into ``examples.json`` beside this module.

``examples(type_name)`` returns one type's examples by name (the example's file name without ``.json``) as
canonical proto JSON objects; ``types()`` lists the types the bundle holds. A reference server started without
``testdata`` seeds itself from this bundle.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["examples", "types"]


@cache
def _bundle() -> dict[str, dict[str, dict[str, Any]]]:
    text = resources.files(__name__).joinpath("examples.json").read_text(encoding="utf-8")
    loaded: dict[str, dict[str, dict[str, Any]]] = json.loads(text)
    return loaded


def types() -> list[str]:
    """The full names of the message types the bundle holds examples of, sorted."""
    return sorted(_bundle())


def examples(type_name: str) -> dict[str, dict[str, Any]]:
    """The examples of ``type_name`` (e.g. ``"cqc.assets.v1.Asset"``) by example name, sorted by name, as
    canonical proto JSON objects (copies: change them freely). A type the bundle does not hold gives ``{}``."""
    found = _bundle().get(type_name, {})
    return {name: copy.deepcopy(found[name]) for name in sorted(found)}

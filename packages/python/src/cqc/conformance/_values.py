"""JSON helpers of the case format: RFC 7386 merge patch, json paths, ``${...}`` substitution, ``$example``."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cqc.conformance._seed import example

Json = Any


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Missing()
"""What :func:`at_path` returns for a path that names nothing."""

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")
_VARIABLE = re.compile(r"\$\{([^{}]+)\}")


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


def at_path(value: Json, path: str) -> Json:
    """The value at a json path like ``orderBook.bids[0].price`` (``[-1]``: the last item); MISSING if absent."""
    if path in ("", "."):
        return value
    for name, index in _PATH_PART.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                return MISSING
            value = value[name]
        else:
            position = int(index)
            if not isinstance(value, list) or not -len(value) <= position < len(value):
                return MISSING
            value = value[position]
    return value


def show(value: Json) -> str:
    import json

    return "(absent)" if value is MISSING else json.dumps(value, sort_keys=True)


class Variables:
    """The values of one case run: ``${ulid:NAME}`` / ``${uuid:NAME}`` (fresh per run, stable within it) and
    captured ``${VAR}``s."""

    def __init__(self, new_ulid: Callable[[], str] | None = None) -> None:
        self.values: dict[str, Json] = {}
        self._new_ulid = new_ulid or _new_ulid

    def lookup(self, name: str) -> Json:
        if name.startswith("ulid:"):
            return self.values.setdefault(name, self._new_ulid())
        if name.startswith("uuid:"):
            return self.values.setdefault(name, str(uuid.uuid4()))
        if name not in self.values:
            raise KeyError(f"${{{name}}} is not set (no earlier step captured it)")
        return self.values[name]

    def expand(self, value: Json) -> Json:
        """``value`` with every ``${...}`` replaced and every ``{"$example", "$patch"}`` resolved."""
        if isinstance(value, str):
            whole = _VARIABLE.fullmatch(value)
            if whole:  # "${VAR}" alone keeps the captured value's JSON type
                return copy.deepcopy(self.lookup(whole.group(1)))
            return _VARIABLE.sub(lambda m: _as_text(self.lookup(m.group(1))), value)
        if isinstance(value, list):
            return [self.expand(item) for item in value]
        if isinstance(value, Mapping):
            if "$example" in value:
                unknown = set(value) - {"$example", "$patch"}
                if unknown:
                    raise ValueError(f"$example takes only $patch beside it, not {sorted(unknown)}")
                base = example(str(self.expand(value["$example"])))
                return merge_patch(base, self.expand(value.get("$patch", {})))
            return {str(self.expand(key)): self.expand(item) for key, item in value.items()}
        return value


def _as_text(value: Json) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _new_ulid() -> str:
    from ulid import ULID  # python-ulid (the conformance extra)

    return str(ULID())

"""The generated JSON Schemas (schemas/jsonschema, `nox -s generate`) agree with the contract.

Every example in testdata/examples validates against its message's schema, and every rejecting conformance
case whose violated rule JSON Schema can express (EXPRESSIBLE below) is rejected by the schema. A rule
counts as expressible only where the violating value is present in the JSON: proto3 JSON omits default
values, so an absent field (e.g. an enum left at 0 against `enum.not_in`, an empty string against
`string.min_len`) is invisible to a schema that must also accept canonical output; `required` is the
exception and is always checked (except on a oneof). CEL message rules, uniqueness, decimals compared as
numbers and the other CQC predefined rules (secret material, CAIP-10) are not counted. The CQC string rules
that a pattern states exactly (ids, decimals, fractions, fee rates) are added to the plugin's output by
tools/cqcgen.py and are counted.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import corpus
import pytest
from conftest import REPO_ROOT
from jsonschema import Draft202012Validator, ValidationError, validators  # type: ignore[import-untyped]
from referencing import Registry, Resource

SCHEMAS = REPO_ROOT / "schemas" / "jsonschema"

# protovalidate rule ids that protoc-gen-jsonschema turns into JSON Schema keywords.
EXPRESSIBLE = frozenset(
    {
        "required",
        "string.pattern",
        "string.min_len",
        "string.max_len",
        "string.len",
        "string.in",
        "string.uuid",
        "enum.defined_only",
        "enum.in",
        "enum.not_in",
        "repeated.min_items",
        "repeated.max_items",
        # CQC's predefined string rules, added to the plugin's output by tools/cqcgen.py.
        "cqc.id",
        "cqc.decimal",
        "cqc.decimal.non_negative",
        "cqc.decimal.positive",
        "cqc.fraction",
        "cqc.fee_rate",
    }
    | {f"{t}.{r}" for t in ("int32", "uint32", "sint32") for r in ("gt", "gte", "lt", "lte", "gte_lte", "gt_lte")}
)


@cache
def _registry() -> Registry:
    resources = [(p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.json")]
    return Registry().with_resources(resources)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The `pattern` keyword with ECMA-262 semantics (what JSON Schema specifies): a final `$` matches only
    at the very end, where Python's `re` also matches before a trailing newline ("ast_...\\n")."""
    if isinstance(instance, str) and not re.search(re.sub(r"\$$", r"\\Z", pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


@cache
def validator(type_name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{type_name}.jsonschema.json").read_text())
    return _Validator(schema, registry=_registry())


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def present(value: Any, path: str) -> bool:
    """Whether the field at a protovalidate path (proto names, `a.b[0].c`, `m["k"]`) is in the JSON value."""
    cursor = value
    for segment in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[[^\]]*\]", path):
        if segment.startswith("["):
            key = segment[1:-1]
            key = json.loads(key) if key.startswith('"') else int(key)
            if isinstance(cursor, list) and isinstance(key, int) and key < len(cursor):
                cursor = cursor[key]
            elif isinstance(cursor, dict) and str(key) in cursor:
                cursor = cursor[str(key)]
            else:
                return False
        elif isinstance(cursor, dict) and (segment in cursor or _camel(segment) in cursor):
            cursor = cursor[segment] if segment in cursor else cursor[_camel(segment)]
        else:
            return False
    return True


def _is_oneof(type_name: str, path: str) -> bool:
    """Whether a protovalidate path ends at a oneof (its `required` is a oneof rule the plugin leaves out)."""
    from google.protobuf import descriptor_pool

    from cqc.registry import generated_modules

    generated_modules()  # registers every CQC type
    message = descriptor_pool.Default().FindMessageTypeByName(type_name)
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", re.sub(r"\[[^\]]*\]", "", path))
    for name in names[:-1]:
        field = message.fields_by_name.get(name)
        if field is None or field.message_type is None:  # a map key or an unknown name: not a oneof
            return False
        message = field.message_type
    return bool(names) and names[-1] in message.oneofs_by_name


def expressible(case: corpus.Case) -> bool:
    return case.value is not None and any(
        rule in EXPRESSIBLE and (present(case.value, field) if rule != "required" else not _is_oneof(case.type, field))
        for field, rule in case.violations
    )


CASES = corpus.cases()
EXAMPLES = [c for c in CASES if c.example]
REJECTING = [c for c in CASES if c.violations and expressible(c)]


def test_every_message_has_a_schema() -> None:
    names = {p.name.removesuffix(".jsonschema.json") for p in SCHEMAS.glob("*.jsonschema.json")}
    missing = sorted({c.type for c in CASES if c.type not in names})
    assert not missing, missing


def test_counts() -> None:
    """The numbers reported for issue 14 (printed with `pytest -s`)."""
    rejecting = [c for c in CASES if c.violations]
    print(
        f"\nschemas: {len(list(SCHEMAS.glob('*.jsonschema.json')))}; examples: {len(EXAMPLES)}; "
        f"rejecting cases: {len(rejecting)}, expressible: {len(REJECTING)}"
    )
    assert REJECTING


@pytest.mark.parametrize("case", EXAMPLES, ids=lambda c: c.name)
def test_example_validates(case: corpus.Case) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator(case.type).iter_errors(case.value)
    ]
    assert not errors, errors


@pytest.mark.parametrize("case", REJECTING, ids=lambda c: c.name)
def test_expressible_rejecting_case_is_rejected(case: corpus.Case) -> None:
    assert not validator(case.type).is_valid(case.value), sorted(case.violations)

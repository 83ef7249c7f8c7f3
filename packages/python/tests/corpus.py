"""Reads testdata/: the examples, the conformance cases, the golden JSON and the expected failures.

The format is documented in testdata/conformance/README.md; tools/conformance.py runs the corpus with it. The
Go (internal/corpus) and TypeScript (test/corpus.ts) readers, used by those packages' own tests, implement the
same rules.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import TESTDATA
from google.protobuf import json_format
from google.protobuf.message import Message

from cqc.conformance import merge_patch  # RFC 7386, one implementation for the suite and the corpus
from cqc.registry import message_class
from cqc.wire import decode_binary, decode_json, decode_json_text

Json = Any

CONFORMANCE = TESTDATA / "conformance"
GOLDEN = CONFORMANCE / "golden"
LANGUAGES = ("python", "go", "typescript")


@dataclass(frozen=True)
class Case:
    """One conformance case: decode the input as `type`, then expect `valid`, exactly `violations`, or a
    decode error (`parse_error`).

    Exactly one input is set: `value` (a JSON value: `json`, or `base` + `patch`), `json_text` (raw JSON
    text, for key order, duplicate keys and number spelling) or `binary` (wire format bytes).
    """

    name: str
    type: str
    value: Json = None
    json_text: str | None = None
    binary: bytes | None = None
    valid: bool = False
    violations: frozenset[tuple[str, str]] = frozenset()
    parse_error: bool = False
    reencoded: bytes | None = None  # binary cases: the exact bytes decode + encode must give
    json_encodable: bool = True  # False: decodes (binary) but has no canonical JSON form
    example: str | None = None  # "<Type>/<name>" for the examples themselves
    file: str = ""
    problem: str | None = None  # set when the case itself is malformed (e.g. a duplicate name): it fails

    @property
    def input_kind(self) -> str:
        return "binary" if self.binary is not None else "json_text" if self.json_text is not None else "json"

    @property
    def expected_verdict(self) -> str:
        return "parse_error" if self.parse_error else "valid" if self.valid else "invalid"


def examples() -> dict[str, Json]:
    """Every example message, keyed "<full message name>/<example name>"."""
    found = {}
    for path in sorted((TESTDATA / "examples").glob("*/*.json")):
        found[f"{path.parent.name}/{path.stem}"] = json.loads(path.read_text())
    return found


def _binary(raw: dict[str, Json], key: str) -> bytes | None:
    if f"{key}_hex" in raw:
        return bytes.fromhex("".join(str(raw[f"{key}_hex"]).split()))
    if f"{key}_base64" in raw:
        return base64.b64decode(raw[f"{key}_base64"])
    return None


def parse_case(raw: dict[str, Json], loaded: dict[str, Json], file: str) -> Case:
    """One case of a case file, its input resolved and its expectation normalized."""
    name, type_name, expect = raw["name"], raw["type"], raw["expect"]
    value: Json = None
    json_text: str | None = None
    binary = _binary(raw, "binary")
    if binary is None:
        if "json_text" in raw:
            json_text = raw["json_text"]
        elif "json" in raw:
            value = raw["json"]
        else:
            if raw.get("base") not in loaded:
                raise KeyError(f"{file}: case {name!r} names unknown base {raw.get('base')!r}")
            value = merge_patch(loaded[raw["base"]], raw.get("patch", {}))
    parse_error = isinstance(expect, dict) and bool(expect.get("parse_error"))
    violations: frozenset[tuple[str, str]] = frozenset()
    if isinstance(expect, dict) and "violations" in expect:
        violations = frozenset((v["field"], v["rule"]) for v in expect["violations"])
    if expect != "valid" and not parse_error and not violations:
        raise ValueError(f'{file}: case {name!r}: expect must be "valid", violations or parse_error')
    return Case(
        name=name,
        type=type_name,
        value=value,
        json_text=json_text,
        binary=binary,
        valid=expect == "valid",
        violations=violations,
        parse_error=parse_error,
        reencoded=_binary(raw, "reencoded"),
        json_encodable=bool(raw.get("json_encodable", True)),
        file=file,
    )


def cases() -> list[Case]:
    """Every case: each example as a valid case, then every case file under testdata/conformance/cases.
    Case names are unique across the corpus (a duplicate is an error)."""
    loaded = examples()
    result = [
        Case(name=f"example/{key}", type=key.split("/")[0], value=value, valid=True, example=key, file="examples")
        for key, value in loaded.items()
    ]
    for path in sorted((CONFORMANCE / "cases").glob("*.json")):
        for raw in json.loads(Path(path).read_text())["cases"]:
            result.append(parse_case(raw, loaded, path.name))
    # A repeated name is kept as a failing case, "<name> (duplicate 2)", so every language reports it.
    seen: dict[str, int] = {}
    for index, case in enumerate(result):
        seen[case.name] = seen.get(case.name, 0) + 1
        if seen[case.name] > 1:
            result[index] = dataclasses.replace(
                case,
                name=f"{case.name} (duplicate {seen[case.name]})",
                problem=f"case name used twice (second use in {case.file})",
            )
    return result


@dataclass(frozen=True)
class ExpectedFailure:
    """A known, justified runtime difference: `case` fails in `languages` for `reason`."""

    case: str
    languages: frozenset[str]
    reason: str


def expected_failures() -> dict[str, ExpectedFailure]:
    """testdata/conformance/expected-failures.json, keyed by case name."""
    path = CONFORMANCE / "expected-failures.json"
    if not path.exists():
        return {}
    found = {}
    for raw in json.loads(path.read_text())["expected_failures"]:
        if not raw.get("reason"):
            raise ValueError(f"expected failure {raw['case']!r} has no reason")
        found[raw["case"]] = ExpectedFailure(raw["case"], frozenset(raw["languages"]), raw["reason"])
    return found


def golden_path(example: str) -> Path:
    """testdata/conformance/golden/<Type>/<name>.json for the example "<Type>/<name>"."""
    type_name, name = example.split("/", 1)
    return GOLDEN / type_name / f"{name}.json"


def decode(case: Case) -> Message:
    """The case's input decoded as its type with CQC's decode helpers; raises on malformed input."""
    cls = message_class(case.type)
    if case.binary is not None:
        return decode_binary(cls, case.binary)
    if case.json_text is not None:
        return decode_json_text(cls, case.json_text)
    return decode_json(cls, case.value)


def canonical_json(message: Message) -> Any:
    """The message as a canonical proto3 JSON value (lowerCamelCase names, default values omitted)."""
    return json_format.MessageToDict(message)

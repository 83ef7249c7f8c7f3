"""One name, one meaning: the contract against the curated glossary in testdata/glossary.json.

Walks every descriptor of the contract (messages, fields, enums, enum values, services, RPCs) and fails when
1. a name uses a forbidden synonym of a concept (`qty` for quantity, `maker_rate` for maker_fee_rate, ...);
2. an id field validated with `(cqc.types.v1.id_prefix) = P` is not named after P's entity (`exec_id` for an
   `exe_` id instead of `execution_id`), or a prefix in use is missing from the glossary or proto/README.md;
3. two enums have the same set of values under different names (one concept, two enums);
4. the glossary rots: a canonical name no longer exists in the contract.

The descriptors come from the generated package. To check a tree before regenerating, point
`CQC_GLOSSARY_IMAGE` at a FileDescriptorSet built from the protos (protoc --include_imports
--descriptor_set_out=...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from conftest import REPO_ROOT, TESTDATA
from google.protobuf import descriptor_pb2, descriptor_pool

from cqc._gen.buf.validate import validate_pb2
from cqc.registry import generated_modules
from cqc.types.v1 import rules_pb2

GLOSSARY = TESTDATA / "glossary.json"


@dataclass(frozen=True)
class Name:
    """One name declared in the contract."""

    kind: str  # "message", "field", "enum", "value", "service", "rpc"
    full_name: str  # where it is declared, e.g. "cqc.venues.v1.Order.quantity"
    name: str  # the declared name as written ("quantity", "QuantityUnit", "QUANTITY_UNIT_BASE")
    words: tuple[str, ...]  # lower-case words of the name (enum values without their enum's prefix)
    field: descriptor_pb2.FieldDescriptorProto | None = None


@cache
def glossary() -> dict[str, Any]:
    loaded = json.loads(GLOSSARY.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@cache
def contract_files() -> tuple[descriptor_pb2.FileDescriptorProto, ...]:
    """Every cqc/**/*.proto file of the contract as a FileDescriptorProto."""
    image = os.environ.get("CQC_GLOSSARY_IMAGE")
    files: list[descriptor_pb2.FileDescriptorProto] = []
    if image:
        found = descriptor_pb2.FileDescriptorSet()
        with open(image, "rb") as handle:
            found.ParseFromString(handle.read())
        files.extend(found.file)
    else:
        pool = descriptor_pool.Default()
        for module in generated_modules():
            proto = descriptor_pb2.FileDescriptorProto()
            pool.FindFileByName(module.replace(".", "/").removesuffix("_pb2") + ".proto").CopyToProto(proto)
            files.append(proto)
    return tuple(f for f in files if f.package.startswith("cqc."))


def words(name: str) -> tuple[str, ...]:
    """`last_qty` -> (last, qty); `LastQty` -> (last, qty); `QUANTITY_UNIT_BASE` -> (quantity, unit, base)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return tuple(part.lower() for part in spaced.split("_") if part)


def enum_prefix(enum_name: str) -> str:
    return "_".join(words(enum_name)).upper() + "_"


def _enum_names(enum: descriptor_pb2.EnumDescriptorProto, scope: str) -> Iterator[Name]:
    full = f"{scope}.{enum.name}"
    yield Name("enum", full, enum.name, words(enum.name))
    prefix = enum_prefix(enum.name)
    for value in enum.value:
        short = value.name.removeprefix(prefix)
        yield Name("value", f"{full}.{value.name}", value.name, words(short))


def _message_names(message: descriptor_pb2.DescriptorProto, scope: str) -> Iterator[Name]:
    full = f"{scope}.{message.name}"
    if message.options.map_entry:
        return
    yield Name("message", full, message.name, words(message.name))
    for field in message.field:
        yield Name("field", f"{full}.{field.name}", field.name, words(field.name), field)
    for enum in message.enum_type:
        yield from _enum_names(enum, full)
    for nested in message.nested_type:
        yield from _message_names(nested, full)


@cache
def contract_names() -> tuple[Name, ...]:
    found: list[Name] = []
    for file in contract_files():
        for message in file.message_type:
            found.extend(_message_names(message, file.package))
        for enum in file.enum_type:
            found.extend(_enum_names(enum, file.package))
        for service in file.service:
            full = f"{file.package}.{service.name}"
            found.append(Name("service", full, service.name, words(service.name)))
            for method in service.method:
                found.append(Name("rpc", f"{full}.{method.name}", method.name, words(method.name)))
    return tuple(found)


def _ends_with(name_words: tuple[str, ...], phrase: str) -> bool:
    target = tuple(phrase.split("_"))
    return len(name_words) >= len(target) and name_words[-len(target) :] == target


def forbidden_uses() -> list[str]:
    """Every name that uses a forbidden synonym, as "<full name>: <synonym> (use <canonical>)"."""
    problems = []
    for concept in glossary()["concepts"]:
        canonical = " / ".join(concept["canonical"])
        for item in contract_names():
            for token in concept.get("forbidden_tokens", []):
                if token in item.words:
                    problems.append(f"{item.full_name}: word {token!r} (use {canonical})")
            canonical_suffix = any(_ends_with(item.words, "_".join(words(c))) for c in concept["canonical"])
            if item.kind in ("field", "message", "enum") and not canonical_suffix:
                for phrase in concept.get("forbidden_names", []):
                    if _ends_with(item.words, phrase):
                        problems.append(f"{item.full_name}: {phrase!r} (use {canonical})")
            if item.kind in ("message", "enum") and item.name in concept.get("forbidden_types", []):
                problems.append(f"{item.full_name}: type {item.name} (use {canonical})")
    return sorted(set(problems))


def _id_prefix(field: descriptor_pb2.FieldDescriptorProto) -> str | None:
    options = descriptor_pb2.FieldOptions()
    options.ParseFromString(field.options.SerializeToString())  # re-parse: extensions of another pool
    if not options.HasExtension(validate_pb2.field):
        return None
    rules = options.Extensions[validate_pb2.field]
    strings = None
    if rules.HasField("string"):
        strings = rules.string
    elif rules.HasField("repeated") and rules.repeated.items.HasField("string"):
        strings = rules.repeated.items.string
    if strings is None or not strings.HasExtension(rules_pb2.id_prefix):
        return None
    prefix = strings.Extensions[rules_pb2.id_prefix]
    return prefix or None


def id_field_problems() -> list[str]:
    table: dict[str, str] = glossary()["id_fields"]["prefixes"]
    problems = []
    for item in contract_names():
        if item.field is None:
            continue
        prefix = _id_prefix(item.field)
        if prefix is None:
            continue
        canonical = table.get(prefix)
        if canonical is None:
            problems.append(f"{item.full_name}: prefix {prefix!r} is not in testdata/glossary.json id_fields")
            continue
        repeated = item.field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
        expected = canonical + ("s" if repeated else "")
        if not _ends_with(item.words, expected):
            problems.append(f"{item.full_name}: a {prefix}_ id field must be named {expected} or *_{expected}")
    return problems


def same_value_sets() -> list[str]:
    """Pairs of enums declaring the same values (UNSPECIFIED aside), unless the glossary allows the pair."""
    allowed = {frozenset(pair) for pair in glossary()["same_value_set_allowed"]}
    by_values: dict[frozenset[str], list[str]] = {}
    enum_full_names = [item for item in contract_names() if item.kind == "enum"]
    values: dict[str, set[str]] = {item.full_name: set() for item in enum_full_names}
    for item in contract_names():
        if item.kind == "value":
            enum_full = item.full_name.rsplit(".", 1)[0]
            short = "_".join(item.words).upper()
            if short != "UNSPECIFIED":
                values[enum_full].add(short)
    for enum, declared in values.items():
        if len(declared) >= 2:
            by_values.setdefault(frozenset(declared), []).append(enum)
    problems = []
    for names, enums in by_values.items():
        if len(enums) > 1 and frozenset(enums) not in allowed:
            problems.append(
                f"{' and '.join(sorted(enums))} declare the same values {sorted(names)}: one concept, one enum"
            )
    return problems


def test_glossary_is_well_formed() -> None:
    concepts = glossary()["concepts"]
    assert concepts, "the glossary lists no concept"
    for concept in concepts:
        assert concept["concept"] and concept["canonical"], concept
        assert set(concept) <= {"concept", "canonical", "forbidden_tokens", "forbidden_names", "forbidden_types"}
        forbidden = concept.get("forbidden_tokens", []) + concept.get("forbidden_names", [])
        forbidden += concept.get("forbidden_types", [])
        assert forbidden, f"{concept['concept']}: no forbidden synonym"
        assert not set(forbidden) & set(concept["canonical"]), concept


def test_canonical_names_exist_in_the_contract() -> None:
    declared = {item.name for item in contract_names()}
    declared |= {word for item in contract_names() for word in item.words}
    missing = [name for concept in glossary()["concepts"] for name in concept["canonical"] if name not in declared]
    assert not missing, f"canonical names the contract no longer declares (update the glossary): {missing}"


def test_no_forbidden_synonym() -> None:
    problems = forbidden_uses()
    assert not problems, "forbidden synonyms in the contract:\n" + "\n".join(problems)


def test_id_fields_are_named_after_their_entity() -> None:
    problems = id_field_problems()
    assert not problems, "id fields not named after their entity:\n" + "\n".join(problems)


def test_every_id_prefix_is_documented() -> None:
    readme = (REPO_ROOT / "proto" / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\| `([a-z]{3})` \|", readme))
    in_use = set()
    for item in contract_names():
        if item.field is not None:
            prefix = _id_prefix(item.field)
            if prefix:
                in_use.add(prefix)
    assert in_use <= documented, f"id prefixes missing from proto/README.md: {sorted(in_use - documented)}"
    assert in_use <= set(glossary()["id_fields"]["prefixes"]), sorted(in_use - set(glossary()["id_fields"]["prefixes"]))


def test_no_two_enums_share_a_value_set() -> None:
    problems = same_value_sets()
    assert not problems, "\n".join(problems)


def test_the_checks_can_fail() -> None:
    """The matchers reject what they are meant to reject (guards against a test that cannot fail)."""
    assert words("last_qty") == ("last", "qty") and words("LastQty") == ("last", "qty")
    assert _ends_with(words("block_maker_rate"), "maker_rate")
    assert not _ends_with(words("maker_fee_rate"), "maker_rate")
    assert enum_prefix("QuantityUnit") == "QUANTITY_UNIT_"
    assert not _ends_with(words("exec_id"), "execution_id")
    assert _ends_with(words("ref_execution_id"), "execution_id")
    assert _ends_with(words("venue_trade_id"), "trade_id")  # hence the canonical-suffix exemption

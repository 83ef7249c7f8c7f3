"""Which messages of the contract the conformance corpus covers: a valid instance and a rejected one.

The measure (documented in testdata/conformance/README.md, "Coverage"), for every message declared in
proto/cqc/** (nested messages included, map entries excluded):

* **valid**: a case expected valid (every example is one) has the message as its type, or its decoded
  message tree holds a *populated* instance of it (present, with at least one field set; a message that
  declares no field counts when present) at any depth: singular fields, list items, map values (not
  below a field marked `ignore = IGNORE_ALWAYS`: a valid parent proves nothing about it);
* **rejected**: a case expected to fail validation has the message as its type, or one of its expected
  violations lands inside an instance of it. The violation's field path is resolved against the message
  descriptors from the case's type: every message the path passes through contains the violation; the
  message the path ends on contains it only when the rule id is one of that message's own message-level
  rules (a CEL rule or a oneof rule of the message), not a rule of the field holding it (`required`, ...);
  a path ending on a oneof name lands in the message declaring the oneof;
* a case expected to be a **decode error** counts as rejecting only its own type, and only when that type
  has no validation rule anywhere in its subtree (the decoder is then the only thing that can reject it).

The three languages give the same verdicts on every case (the conformance run fails otherwise), so this is
computed once, in Python, from the corpus and the Python descriptors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import cast

from corpus import Case, decode
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from cqc._gen.buf.validate import validate_pb2
from cqc.registry import message_class, message_names

_TOKEN = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*"|[^\]]*)\]')


@dataclass
class Coverage:
    """The messages shown valid and shown rejected, and the paths that could not be resolved."""

    messages: tuple[str, ...]
    valid: dict[str, set[str]] = field(default_factory=dict)  # message -> names of the cases showing it
    rejected: dict[str, set[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def covered(self) -> list[str]:
        return [m for m in self.messages if m in self.valid and m in self.rejected]

    def gaps(self) -> list[str]:
        gaps = []
        for name in self.messages:
            if name not in self.valid:
                gaps.append(f"corpus: {name} has no valid example or case (none holds a populated instance)")
            if name not in self.rejected:
                hint = "no violation lands in it"
                if not has_rules(name):
                    hint = "no rule in its subtree: add a parse-error case"
                gaps.append(f"corpus: {name} has no case it must reject ({hint})")
        return gaps


def _descriptor(name: str) -> Descriptor:
    return cast(Descriptor, message_class(name).DESCRIPTOR)


def _field_has_rule(fd: FieldDescriptor) -> bool:
    options = fd.GetOptions()
    if not options.HasExtension(validate_pb2.field):
        return False
    rules = options.Extensions[validate_pb2.field]
    # `ignore` alone is no rule; anything else (required, cel, a type's rules) is.
    return any(descriptor.name != "ignore" for descriptor, _ in rules.ListFields())


@cache
def _own_rules(name: str) -> bool:
    descriptor = _descriptor(name)
    if descriptor.GetOptions().HasExtension(validate_pb2.message):
        if descriptor.GetOptions().Extensions[validate_pb2.message].ListFields():
            return True
    if any(o.GetOptions().HasExtension(validate_pb2.oneof) for o in descriptor.oneofs):
        return True
    return any(_field_has_rule(fd) for fd in descriptor.fields)


def _children(descriptor: Descriptor) -> list[Descriptor]:
    """The message types held by the fields of `descriptor` (map values instead of map entries)."""
    found = []
    for fd in descriptor.fields:
        child = fd.message_type
        if child is None:
            continue
        if child.GetOptions().map_entry:
            child = child.fields_by_name["value"].message_type
            if child is None:
                continue
        found.append(child)
    return found


@cache
def has_rules(name: str) -> bool:
    """Whether `name` or any CQC message reachable from its fields carries a protovalidate rule."""
    cqc = set(message_names())
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen or current not in cqc:
            continue
        seen.add(current)
        if _own_rules(current):
            return True
        pending.extend(child.full_name for child in _children(_descriptor(current)))
    return False


@cache
def _message_rule_ids(name: str) -> frozenset[str]:
    """Rule ids a violation of `name`'s own message-level rules carries (CEL ids, the oneof rule)."""
    descriptor = _descriptor(name)
    options = descriptor.GetOptions()
    ids: set[str] = set()
    if options.HasExtension(validate_pb2.message):
        rules = options.Extensions[validate_pb2.message]
        ids.update(rule.id for rule in rules.cel)
        if len(rules.oneof):
            ids.add("message.oneof")
    return frozenset(ids)


def _rules_skipped(fd: FieldDescriptor) -> bool:
    """A field marked `ignore = IGNORE_ALWAYS` is not validated: a valid parent proves nothing about it."""
    options = fd.GetOptions()
    if not options.HasExtension(validate_pb2.field):
        return False
    return options.Extensions[validate_pb2.field].ignore == validate_pb2.IGNORE_ALWAYS


def _populated_instances(message: Message, found: set[str]) -> None:
    for fd, value in message.ListFields():
        if fd.message_type is None or _rules_skipped(fd):
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        elif fd.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if item.ListFields() or not item.DESCRIPTOR.fields:
                found.add(item.DESCRIPTOR.full_name)
            _populated_instances(item, found)


def _landing(type_name: str, path: str, rule: str) -> list[str]:
    """The messages a violation (`path`, `rule`) of a `type_name` message lands inside (see module doc)."""
    descriptor = _descriptor(type_name)
    inside = [descriptor.full_name]
    if path == "":
        return inside
    tokens = []
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot parse field path {path!r} at {position}")
        tokens.append(("field", match.group(1)) if match.group(1) is not None else ("subscript", match.group(2)))
        position = match.end()
    current: Descriptor | None = descriptor
    pending: Descriptor | None = None  # the message a field names, entered on the next field or at the end
    for index, (kind, text) in enumerate(tokens):
        if kind == "subscript":
            continue  # an index or a key selects an item: the item type was taken from the field
        if pending is not None:
            current = pending
            inside.append(current.full_name)
            pending = None
        if current is None:
            raise ValueError(f"field path {path!r} goes into a scalar at {text!r}")
        if text in current.fields_by_name:
            fd = current.fields_by_name[text]
        elif text in current.oneofs_by_name and index == len(tokens) - 1:
            return inside  # a oneof rule: lands in the message declaring the oneof
        else:
            raise ValueError(f"field path {path!r}: {current.full_name} has no field {text!r}")
        target = fd.message_type
        if target is not None and target.GetOptions().map_entry:
            target = target.fields_by_name["value"].message_type
        pending = target
        current = None
    if pending is not None and rule in _message_rule_ids(pending.full_name):
        inside.append(pending.full_name)  # the rule is the field's message's own rule: it lands inside
    return inside


def compute(corpus: list[Case]) -> Coverage:
    """Coverage of every CQC message by `corpus` (see the module docstring for the measure)."""
    cqc = message_names()
    known = set(cqc)
    result = Coverage(messages=cqc)

    def mark(where: dict[str, set[str]], name: str, case: Case) -> None:
        if name in known:
            where.setdefault(name, set()).add(case.name)

    for case in corpus:
        if case.problem is not None or case.type not in known:
            continue
        if case.valid:
            mark(result.valid, case.type, case)
            try:
                message = decode(case)
            except Exception as error:  # the run itself reports a valid case that does not decode
                result.problems.append(f"corpus: {case.name}: does not decode: {error}")
                continue
            found: set[str] = set()
            _populated_instances(message, found)
            for name in found:
                mark(result.valid, name, case)
        elif case.parse_error:
            if not has_rules(case.type):
                mark(result.rejected, case.type, case)
        else:
            mark(result.rejected, case.type, case)
            for path, rule in case.violations:
                try:
                    landing = _landing(case.type, path, rule)
                except ValueError as error:
                    result.problems.append(f"corpus: {case.name}: {error}")
                    continue
                for name in landing:
                    mark(result.rejected, name, case)
    return result

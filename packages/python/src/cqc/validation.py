"""Validation of CQC messages with the protovalidate rules written in the protos.

The same rules run in Go (protovalidate-go) and TypeScript (@bufbuild/protovalidate); this module gives
them one Python face: :func:`violations` lists what is wrong, :func:`validate` raises on the first bad
message with every violation in the error, each naming the field path and the rule id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import protovalidate
from google.protobuf.message import Message

__all__ = ["ContractViolation", "InvalidMessageError", "validate", "violations"]

_validator = protovalidate.Validator()


@dataclass(frozen=True, order=True)
class ContractViolation:
    """One broken rule: ``field`` is a path such as ``"asset_id"`` or ``"levels[2].price"``, ``rule_id`` the
    rule's id (``"cqc.decimal"``, ``"string.pattern"``, ``"chain.evm_chain_id_matches_caip2"``)."""

    field: str
    rule_id: str
    message: str

    def __str__(self) -> str:
        where = self.field or "(message)"
        return f"{where}: {self.message} [{self.rule_id}]"


class InvalidMessageError(ValueError):
    """Raised by :func:`validate`; ``violations`` holds every broken rule, sorted by field then rule."""

    def __init__(self, message_type: str, found: list[ContractViolation]) -> None:
        self.message_type = message_type
        self.violations = found
        details = "; ".join(str(v) for v in found)
        super().__init__(f"invalid {message_type}: {details}")


def _path(field_path: Any) -> str:
    parts: list[str] = []
    for element in field_path.elements:
        name = element.field_name
        parts.append(f".{name}" if parts else name)
        subscript = element.subscript  # a oneof: repeated index or map key, or None
        if subscript is not None:
            if subscript.field == "string_key":
                parts.append(f'["{subscript.value}"]')
            elif subscript.field == "bool_key":
                parts.append(f"[{str(subscript.value).lower()}]")
            else:
                parts.append(f"[{subscript.value}]")
    return "".join(parts)


def violations(message: Message) -> list[ContractViolation]:
    """Every rule ``message`` breaks, sorted; an empty list means the message is valid."""
    found = []
    for violation in _validator.collect_violations(message):
        proto = violation.proto
        field = _path(proto.field) if proto.has_field("field") else ""
        found.append(ContractViolation(field=field, rule_id=proto.rule_id, message=proto.message))
    return sorted(found)


def validate(message: Message) -> None:
    """Raises :class:`InvalidMessageError` naming every broken rule, or returns if ``message`` is valid."""
    found = violations(message)
    if found:
        raise InvalidMessageError(message.DESCRIPTOR.full_name, found)

"""CQC errors as gRPC rich status: build them on the server, read them on the client.

Every error a CQC service sends is a gRPC status whose details hold one ``google.rpc.ErrorInfo``
(``domain = "cqc.crypto-quant"``, ``reason`` = an :class:`~cqc.services.v1.errors_pb2.ErrorReason` name without
its ``ERROR_REASON_`` prefix, ``metadata`` = the offending ids) and, for validation failures, one
``google.rpc.BadRequest`` (one field violation per broken rule: ``field``, ``reason`` = the rule id,
``description = "<message> [<rule id>]"``). The status code and the allowed metadata keys of each reason are
data in the contract (``(cqc.services.v1.error_reason)`` on every ErrorReason value); :func:`error` reads them,
so a handler cannot send a reason with the wrong code or an undocumented key::

    raise errors.error("NOT_FOUND_RESOURCE", f"no portfolio {pid!r}", portfolio_id=pid)

Clients call :func:`parse` on a caught ``grpc.RpcError`` and branch on ``reason``, never on the message.
This module needs only the base package (``googleapis-common-protos`` ships ``google.rpc``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import google.rpc.error_details_pb2 as error_details_pb2  # `from google.rpc import` hides the stubs from mypy
import google.rpc.status_pb2 as status_pb2
import grpc
from google.protobuf import any_pb2

from cqc.services.v1 import error_options_pb2, errors_pb2
from cqc.validation import ContractViolation

__all__ = [
    "DOMAIN",
    "STATUS_DETAILS_KEY",
    "FieldViolation",
    "ParsedError",
    "ReasonSpec",
    "ServiceError",
    "error",
    "parse",
    "parse_status",
    "reason_spec",
    "validation_error",
]

DOMAIN = "cqc.crypto-quant"
"""``ErrorInfo.domain`` of every CQC error."""

STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""The trailing metadata key that carries the serialized ``google.rpc.Status``."""

_PREFIX = "ERROR_REASON_"
_ANY_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*_id$")
_CODES = {code.name: code for code in grpc.StatusCode}
_RULE_SUFFIX = re.compile(r"\[([^\[\]]+)\]\s*$")


@dataclass(frozen=True)
class ReasonSpec:
    """The ``(cqc.services.v1.error_reason)`` of one ErrorReason: its gRPC code and allowed metadata keys."""

    reason: str
    """The reason as sent in ``ErrorInfo.reason`` (``"NOT_FOUND_ASSET"``)."""
    code: grpc.StatusCode
    metadata_keys: tuple[str, ...]
    """The allowed keys; ``"*_id"`` admits any snake_case key ending in ``_id``."""

    def allows(self, key: str) -> bool:
        """True when ``key`` may appear in this reason's ``ErrorInfo.metadata``."""
        return key in self.metadata_keys or ("*_id" in self.metadata_keys and bool(_ANY_ID.match(key)))


def _reason_name(reason: str | int) -> str:
    if isinstance(reason, int):
        try:
            name = errors_pb2.ErrorReason.Name(reason)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"{reason} is not a cqc.services.v1.ErrorReason value") from None
        return name.removeprefix(_PREFIX)
    return reason.removeprefix(_PREFIX)


@cache
def _spec(name: str) -> ReasonSpec:
    value = errors_pb2.ErrorReason.DESCRIPTOR.values_by_name.get(_PREFIX + name)
    if value is None or name == "UNSPECIFIED":
        raise ValueError(f"{name!r} is not a cqc.services.v1.ErrorReason (without the ERROR_REASON_ prefix)")
    options = value.GetOptions()
    if not options.HasExtension(error_options_pb2.error_reason):
        raise ValueError(f"ErrorReason {name} has no (cqc.services.v1.error_reason) spec")
    spec = options.Extensions[error_options_pb2.error_reason]
    return ReasonSpec(reason=name, code=_CODES[spec.code], metadata_keys=tuple(spec.metadata_keys))


def reason_spec(reason: str | int) -> ReasonSpec:
    """The spec of ``reason``: a name with or without ``ERROR_REASON_`` (``"NOT_FOUND_ASSET"``) or an
    ``ErrorReason`` number. Raises ``ValueError`` for anything that is not an ErrorReason value."""
    return _spec(_reason_name(reason))


@dataclass(frozen=True)
class FieldViolation:
    """One broken rule as a client reads it from ``google.rpc.BadRequest``."""

    field: str
    """The field path (``"order.account_id"``), ``""`` for a rule on the request itself."""
    rule_id: str
    """The rule id (``"string.min_len"``, ``"cqc.decimal"``), from ``FieldViolation.reason`` or, for a server
    that sets only the description, from its ``[rule id]`` suffix; ``""`` when neither has one."""
    description: str


class ServiceError(Exception):
    """An error a handler raises; :class:`cqc.kit.server.ValidationInterceptor` sends it as the gRPC status
    ``code`` with the rich details (``to_rpc_status``). Build it with :func:`error` or
    :func:`validation_error`, which take the code from the contract."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
        violations: Sequence[ContractViolation] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata = dict(metadata or {})
        self.violations = tuple(violations)

    def to_rpc_status(self) -> status_pb2.Status:
        """The ``google.rpc.Status`` sent in ``grpc-status-details-bin``: ErrorInfo, then BadRequest if any."""
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata))
        packed = [info]
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, reason=v.rule_id, description=f"{v.message} [{v.rule_id}]"
                    )
                    for v in self.violations
                ]
            )
            item = any_pb2.Any()
            item.Pack(bad_request)
            packed.append(item)
        code_value: int = self.code.value[0]
        return status_pb2.Status(code=code_value, message=self.message, details=packed)

    def to_status(self) -> grpc.Status:
        """A ``grpc.Status`` for ``context.abort_with_status``: the code, the message and the rich details
        in the trailing metadata."""
        return _Status(self.code, self.message, ((STATUS_DETAILS_KEY, self.to_rpc_status().SerializeToString()),))


class _Status(grpc.Status):
    """A ``grpc.Status`` value (what ``grpc_status.rpc_status.to_status`` returns, without that package)."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, bytes], ...]) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def error(reason: str | int, message: str, **metadata: str) -> ServiceError:
    """A :class:`ServiceError` for ``reason`` with the gRPC code its spec names. A metadata key the spec does
    not allow is a programming error: ``ValueError`` naming the reason and the key, raised here (so the
    mistake shows in the first test that reaches it, not in a client)."""
    spec = reason_spec(reason)
    for key in metadata:
        if not spec.allows(key):
            allowed = ", ".join(spec.metadata_keys) or "none"
            raise ValueError(f"ErrorReason {spec.reason} does not carry metadata key {key!r} (allowed: {allowed})")
    return ServiceError(spec.code, spec.reason, message, {k: str(v) for k, v in metadata.items()})


def validation_error(message_type: str, violations: Iterable[ContractViolation]) -> ServiceError:
    """INVALID_ARGUMENT ``VALIDATION_FAILED`` with one BadRequest field violation per broken rule
    (``reason`` = the rule id, ``description = "<message> [<rule id>]"``). ``message_type`` names the
    request (``"cqc.services.v1.GetPortfolioRequest"``); ``violations`` come from
    :func:`cqc.validation.violations` or are built by the handler (``ContractViolation(field, rule_id, message)``)."""
    found = tuple(violations)
    details = "; ".join(str(v) for v in found)
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED", f"invalid {message_type}: {details}", violations=found
    )


@dataclass(frozen=True)
class ParsedError:
    """A CQC error as data, from :func:`parse`."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    """``ErrorInfo.reason`` (``"NOT_FOUND_ASSET"``); ``""`` when the status has no ErrorInfo."""
    domain: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The rule id of every field violation, in order."""
        return tuple(v.rule_id for v in self.violations)


def _rule_id(violation: error_details_pb2.BadRequest.FieldViolation) -> str:
    if violation.reason:
        return violation.reason
    found = _RULE_SUFFIX.search(violation.description)
    return found.group(1) if found else ""


def parse_status(status: status_pb2.Status) -> ParsedError:
    """:func:`parse` for a ``google.rpc.Status`` already decoded."""
    reason, domain, metadata, violations = "", "", {}, []
    for detail in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if not reason and detail.Unpack(info):
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Unpack(bad_request):
            violations += [FieldViolation(v.field, _rule_id(v), v.description) for v in bad_request.field_violations]
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
    return ParsedError(code, status.message, reason, domain, metadata, tuple(violations))


def parse(rpc_error: grpc.RpcError) -> ParsedError:
    """Reads a failed call: the status code, message, ErrorInfo (reason, domain, metadata) and the BadRequest
    field violations with their rule ids. Works on the ``grpc.RpcError`` of sync and asyncio stubs; an error
    without rich details gives ``reason == ""``."""
    code_of, details_of, trailers_of = (getattr(rpc_error, n, None) for n in ("code", "details", "trailing_metadata"))
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    message = details_of() if callable(details_of) else str(rpc_error)
    trailers = trailers_of() if callable(trailers_of) else None
    for key, value in trailers or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            parsed = parse_status(status)
            return ParsedError(code, message or "", parsed.reason, parsed.domain, parsed.metadata, parsed.violations)
    return ParsedError(code or grpc.StatusCode.UNKNOWN, message or "")

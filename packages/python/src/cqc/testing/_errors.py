"""Typed gRPC errors of the reference servers, as google.rpc rich status (ErrorInfo + BadRequest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import google.rpc.error_details_pb2 as error_details_pb2  # `from google.rpc import` hides the stubs from mypy
import google.rpc.status_pb2 as status_pb2
import grpc
from google.protobuf import any_pb2

from cqc.validation import ContractViolation

__all__ = [
    "DOMAIN",
    "ServiceError",
    "already_exists",
    "failed_precondition",
    "invalid_argument",
    "not_found",
    "validation_failed",
]

DOMAIN = "cqc.crypto-quant"
"""ErrorInfo.domain of every CQC error."""


class ServiceError(Exception):
    """An error a handler raises; the server interceptor turns it into the gRPC status with details."""

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
        """The google.rpc.Status sent in grpc-status-details-bin: ErrorInfo, then BadRequest if any."""
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN, metadata=self.metadata))
        packed = [info]
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=f"{v.message} [{v.rule_id}]")
                    for v in self.violations
                ]
            )
            item = any_pb2.Any()
            item.Pack(bad_request)
            packed.append(item)
        code_value: int = self.code.value[0]
        return status_pb2.Status(code=code_value, message=self.message, details=packed)


def not_found(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, reason, message, metadata)


def already_exists(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, reason, message, metadata)


def failed_precondition(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata)


def invalid_argument(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, metadata)


def validation_failed(message_type: str, violations: Sequence[ContractViolation]) -> ServiceError:
    details = "; ".join(str(v) for v in violations)
    return ServiceError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_FAILED",
        f"invalid {message_type}: {details}",
        violations=violations,
    )

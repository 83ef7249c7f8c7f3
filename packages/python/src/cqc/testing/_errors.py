"""Typed gRPC errors of the reference servers: thin wrappers over :mod:`cqc.kit.errors`, so every reason
is sent with the code and only the metadata keys of its ``(cqc.services.v1.error_reason)`` spec."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from cqc.kit.errors import DOMAIN, ServiceError, error, validation_error
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


def _typed(code: grpc.StatusCode, reason: str, message: str, metadata: dict[str, str]) -> ServiceError:
    built = error(reason, message, **metadata)  # ValueError for a key outside the reason's spec
    if built.code is not code:
        raise ValueError(f"ErrorReason {built.reason} is sent with {built.code.name}, not {code.name}")
    return built


def not_found(reason: str, message: str, **metadata: str) -> ServiceError:
    return _typed(grpc.StatusCode.NOT_FOUND, reason, message, metadata)


def already_exists(reason: str, message: str, **metadata: str) -> ServiceError:
    return _typed(grpc.StatusCode.ALREADY_EXISTS, reason, message, metadata)


def failed_precondition(reason: str, message: str, **metadata: str) -> ServiceError:
    return _typed(grpc.StatusCode.FAILED_PRECONDITION, reason, message, metadata)


def invalid_argument(reason: str, message: str, **metadata: str) -> ServiceError:
    return _typed(grpc.StatusCode.INVALID_ARGUMENT, reason, message, metadata)


def validation_failed(message_type: str, violations: Sequence[ContractViolation]) -> ServiceError:
    return validation_error(message_type, violations)

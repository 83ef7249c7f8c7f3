"""Status details of a grpcio call for the reference-server tests: the ``google.rpc.ErrorInfo`` and
``google.rpc.BadRequest`` of its ``grpc-status-details-bin`` trailer, and metadata as (key, value) pairs.
(The service conformance suite, ``cqc.conformance``, reads the same details as data for its checks.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"


def metadata_pairs(metadata: Iterable[Any] | None) -> list[tuple[str, str | bytes]]:
    """(key, value) pairs of gRPC metadata (grpcio gives tuples or _Metadatum named tuples)."""
    return [(str(item[0]), item[1]) for item in metadata or ()]


def rich_status(trailers: Iterable[Any] | None) -> status_pb2.Status | None:
    """The google.rpc.Status of a call's grpc-status-details-bin trailer, or None."""
    for key, value in metadata_pairs(trailers):
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def error_details(
    trailers: Iterable[Any] | None,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest of a call's grpc-status-details-bin trailer (None when absent)."""
    status = rich_status(trailers)
    info: error_details_pb2.ErrorInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    for detail in status.details if status is not None else ():
        candidate_info, candidate_bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(candidate_info):
            info = candidate_info
        elif detail.Unpack(candidate_bad_request):
            bad_request = candidate_bad_request
    return info, bad_request

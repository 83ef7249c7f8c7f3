"""Kept only for imports still naming it: the interop scenario client is replaced by the service conformance
suite (``cqc.conformance``, tests/test_service_conformance.py); the status-detail helpers live in
grpc_details.py. Import them from there."""

from grpc_details import error_details, metadata_pairs, rich_status

__all__ = ["error_details", "metadata_pairs", "rich_status"]

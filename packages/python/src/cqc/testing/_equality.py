"""Comparing requests for idempotency: :func:`cqc.kit.idempotency.same_request` (unknown fields ignored)."""

from __future__ import annotations

from cqc.kit.idempotency import same_request

__all__ = ["same_request"]

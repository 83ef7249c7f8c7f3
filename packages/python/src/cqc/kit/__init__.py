"""The CQC service kit: what a Python service needs to implement a CQC contract the way every other CQC
service does. Import the submodules; this package imports nothing itself (so a client that only needs
:mod:`cqc.kit.errors` installs nothing more than the base package):

- :mod:`cqc.kit.errors` — build errors from an ErrorReason (code and metadata keys from the contract),
  validation errors with rule ids, and parse any CQC error on the client side (base package);
- :mod:`cqc.kit.server` — the validation interceptor (request validation, ``x-cqc-request-id`` echo, error
  mapping), health and reflection helpers (extra ``server``);
- :mod:`cqc.kit.pagination` — signed opaque page tokens bound to the RPC and its filters, page-size clamp;
- :mod:`cqc.kit.ids` — ``<prefix>_<ULID>`` resource ids and UUIDv7 event ids (extra ``server``: python-ulid);
- :mod:`cqc.kit.idempotency` — request-id idempotency (same request → first answer; different request →
  ALREADY_EXISTS ``REQUEST_ID_REUSED``; unknown fields ignored);
- :mod:`cqc.kit.resources` — stored resources: idempotent create by id, update masks (INVALID_UPDATE_MASK),
  server-set timestamps.

``pip install "cqc-contracts[server]"`` installs everything the kit uses.
"""

__all__ = ["errors", "idempotency", "ids", "pagination", "resources", "server"]

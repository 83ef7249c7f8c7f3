"""Crypto Quant Contracts (CQC) for Python.

Generated messages live in one module per proto file, mirroring proto/ (``cqc.assets.v1.asset_pb2`` is
generated from ``proto/cqc/assets/v1/asset.proto``). Hand-written helpers sit beside them:

- :mod:`cqc.validation`: validate any CQC message with the rules written in the protos.
- :mod:`cqc.registry`: look up every CQC message type by its full proto name.
- :mod:`cqc.decimal`: CQC decimal strings to exact ``Decimal`` values and back; tick and lot checks.
- :mod:`cqc.envelope`: wrap an event in the ``cqc.events.v1.Event`` envelope; CloudEvents attributes;
  ``EventStreamTracker`` (the consumer's ordering and de-duplication rules).
- :mod:`cqc.testing`: in-memory reference gRPC servers for tests (extra ``cqc-contracts[testing]``).
"""

__version__ = "1.0.0"

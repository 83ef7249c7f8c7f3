"""Crypto Quant Contracts (CQC) for Python.

Generated messages live in one module per proto file, mirroring proto/ (``cqc.assets.v1.asset_pb2`` is
generated from ``proto/cqc/assets/v1/asset.proto``). Hand-written helpers sit beside them:

- :mod:`cqc.validation`: validate any CQC message with the rules written in the protos.
- :mod:`cqc.registry`: look up every CQC message type by its full proto name.
"""

__version__ = "0.1.0"

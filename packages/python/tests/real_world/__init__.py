"""Maps real venue records (testdata/real-world) into CQC messages, for the losslessness tests.

Test code, not shipped: the mappers implement the conversions the proto comments document, and the ledgers say
where every key of a record goes.
"""

from __future__ import annotations

from .binance import binance_execution_report, binance_spot_symbol, binance_usdm_symbol
from .ids import ExecutionIds, ListingIds
from .okx import okx_instrument

__all__ = [
    "ExecutionIds",
    "ListingIds",
    "binance_execution_report",
    "binance_spot_symbol",
    "binance_usdm_symbol",
    "okx_instrument",
]

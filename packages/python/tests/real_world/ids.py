"""The CQC ids a mapper needs: assigned by the registry, never derived from a venue's record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ListingIds:
    """Ids for mapping one venue listing (exchangeInfo symbol, OKX instrument) to an Instrument and a Market."""

    market_id: str
    instrument_id: str
    venue_id: str
    assets: Mapping[str, str]
    """The venue's asset codes ("BTC", "USDT", OKX ctValCcy "USD") -> CQC asset ids ("ast_...")."""
    receive_time: datetime


@dataclass(frozen=True)
class ExecutionIds:
    """Ids for mapping one venue order update to an ExecutionReport."""

    exec_id: str
    account_id: str
    venue_id: str
    markets: Mapping[str, str]
    """The venue's symbols ("ETHUSDT") -> CQC market ids ("mkt_...")."""
    assets: Mapping[str, str]
    receive_time: datetime
    order_id: str | None = field(default=None)
    """The CQC order, when the order was placed through CQC."""

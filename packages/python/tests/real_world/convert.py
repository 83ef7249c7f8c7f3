"""The unit conversions and vocabularies the proto comments document, shared by the mappers and the ledgers.

Each function names the proto comment it implements. Decimal strings are never re-formatted when no conversion
is documented ("0.01000000" stays "0.01000000"); converted values are written in plain notation.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.markets.v1 import instrument_pb2, market_pb2
from cqc.types.v1 import source_pb2
from cqc.venues.v1 import trading_pb2

Json = Any
"""A parsed JSON value (dict, list, str, int, float, bool or None)."""

# Binance USD-M deliveryDate of a perpetual: 4133404800000 (2100-12-25) in the docs, 4133404802000 in real
# responses. Instrument: "venue sentinel dates (Binance year 2100) are dropped on ingest".
BINANCE_SENTINEL_FROM_MS = 4133404800000


def fmt(value: Decimal) -> str:
    """A Decimal in CQC's decimal grammar: plain notation, no exponent, no negative zero."""
    text = format(value, "f")
    return text.lstrip("-") if value == 0 else text


def binance_rule(value: str) -> str | None:
    """Binance filter value: "0" / "0.00000000" disables the rule (filters.md) -> unset; otherwise verbatim.
    OrderSizeLimits.min_quantity: 'Binance "0.00000000" in MARKET_LOT_SIZE = rule disabled -> unset'."""
    return None if Decimal(value) == 0 else value


def binance_sentinel_zero(value: str) -> str | None:
    """Binance executionReport P/F/Q/l/L/Y "0.00000000" = not applicable -> unset (ExecutionReport comment)."""
    return None if Decimal(value) == 0 else value


def okx_optional(value: str) -> str | None:
    """OKX "" = not applicable -> unset (OrderLimits.max_position_notional: 'Unset when none (OKX "")')."""
    return None if value == "" else value


def percent_to_fraction(value: str) -> str:
    """Percent string to fraction: Binance maintMarginPercent "2.5000" -> "0.025000" (MarginTerms)."""
    return fmt(Decimal(value).scaleb(-2))


def timestamp_ms(ms: int) -> Timestamp:
    """Epoch milliseconds (Binance E/T/O/W, onboardDate; OKX listTime) to a Timestamp."""
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def okx_timestamp(value: str) -> Timestamp | None:
    """OKX ms epoch as a string, "" = none."""
    return None if value == "" else timestamp_ms(int(value))


def binance_delivery(ms: int) -> Timestamp | None:
    """Binance deliveryDate: the year-2100 perpetual sentinel is dropped (PerpContract.delisting_time)."""
    return None if ms >= BINANCE_SENTINEL_FROM_MS else timestamp_ms(ms)


def minutes(count: int) -> Duration:
    """Binance avgPriceMins 5 -> "300s" (NotionalLimits.average_price_window)."""
    return Duration(seconds=60 * count)


def source_record(source: str, endpoint: str, payload: Json, receive_time: datetime) -> source_pb2.SourceRecord:
    """SourceRecord with the payload as compact JSON text (its strings, hence trailing zeros, are untouched)."""
    record = source_pb2.SourceRecord(
        source=source,
        endpoint=endpoint,
        raw_json=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
    )
    record.receive_time.FromDatetime(receive_time)
    return record


# --- Vocabularies (the venue codes each enum value's comment names) ---------------------------------------------

BINANCE_MARKET_STATUS: dict[str, int] = {
    "PRE_TRADING": market_pb2.MARKET_STATUS_PRE_OPEN,
    "PENDING_TRADING": market_pb2.MARKET_STATUS_PRE_LISTING,
    "TRADING": market_pb2.MARKET_STATUS_TRADING,
    "CANCEL_ONLY": market_pb2.MARKET_STATUS_CANCEL_ONLY,
    "HALT": market_pb2.MARKET_STATUS_HALTED,
    "BREAK": market_pb2.MARKET_STATUS_PAUSED,
    "END_OF_DAY": market_pb2.MARKET_STATUS_END_OF_DAY,
    "PRE_DELIVERING": market_pb2.MARKET_STATUS_DELIVERING,
    "DELIVERING": market_pb2.MARKET_STATUS_DELIVERING,
    "DELIVERED": market_pb2.MARKET_STATUS_EXPIRED,
    "CLOSE": market_pb2.MARKET_STATUS_DELISTED,
}

OKX_MARKET_STATUS: dict[str, int] = {
    "live": market_pb2.MARKET_STATUS_TRADING,
    "suspend": market_pb2.MARKET_STATUS_HALTED,
    "preopen": market_pb2.MARKET_STATUS_PRE_LISTING,
}


def instrument_status(market_status: int) -> int:
    """An instrument's lifecycle state implied by its only listing's state."""
    implied: dict[int, int] = {
        market_pb2.MARKET_STATUS_PRE_LISTING: instrument_pb2.INSTRUMENT_STATUS_PENDING,
        market_pb2.MARKET_STATUS_EXPIRED: instrument_pb2.INSTRUMENT_STATUS_EXPIRED,
        market_pb2.MARKET_STATUS_DELISTED: instrument_pb2.INSTRUMENT_STATUS_DELISTED,
    }
    return implied.get(market_status, instrument_pb2.INSTRUMENT_STATUS_ACTIVE)


# Order types: LIMIT_MAKER = LIMIT + post-only; take-profit is a trigger direction, not a type (OrderType).
BINANCE_SPOT_ORDER_TYPES: dict[str, int] = {
    "LIMIT": trading_pb2.ORDER_TYPE_LIMIT,
    "LIMIT_MAKER": trading_pb2.ORDER_TYPE_LIMIT,
    "MARKET": trading_pb2.ORDER_TYPE_MARKET,
    "STOP_LOSS": trading_pb2.ORDER_TYPE_STOP_MARKET,
    "TAKE_PROFIT": trading_pb2.ORDER_TYPE_STOP_MARKET,
    "STOP_LOSS_LIMIT": trading_pb2.ORDER_TYPE_STOP_LIMIT,
    "TAKE_PROFIT_LIMIT": trading_pb2.ORDER_TYPE_STOP_LIMIT,
}
BINANCE_FUTURES_ORDER_TYPES: dict[str, int] = {
    "LIMIT": trading_pb2.ORDER_TYPE_LIMIT,
    "MARKET": trading_pb2.ORDER_TYPE_MARKET,
    "STOP": trading_pb2.ORDER_TYPE_STOP_LIMIT,
    "TAKE_PROFIT": trading_pb2.ORDER_TYPE_STOP_LIMIT,
    "STOP_MARKET": trading_pb2.ORDER_TYPE_STOP_MARKET,
    "TAKE_PROFIT_MARKET": trading_pb2.ORDER_TYPE_STOP_MARKET,
    "TRAILING_STOP_MARKET": trading_pb2.ORDER_TYPE_TRAILING_STOP_MARKET,
}
# GTX (good till crossing) is GTC + post-only (TimeInForce), so it has no entry here.
BINANCE_TIME_IN_FORCE: dict[str, int] = {
    "GTC": trading_pb2.TIME_IN_FORCE_GTC,
    "GTX": trading_pb2.TIME_IN_FORCE_GTC,
    "IOC": trading_pb2.TIME_IN_FORCE_IOC,
    "FOK": trading_pb2.TIME_IN_FORCE_FOK,
    "GTD": trading_pb2.TIME_IN_FORCE_GTD,
}
BINANCE_POST_ONLY_CODES = frozenset({"LIMIT_MAKER", "GTX"})


def unified(codes: list[str], table: dict[str, int], skip: frozenset[str] = frozenset()) -> list[int]:
    """Venue codes to unified enum values, deduplicated in order of first appearance."""
    out: list[int] = []
    for code in codes:
        if code in skip:
            continue
        value = table[code]
        if value not in out:
            out.append(value)
    return out


BINANCE_SIDE = {"BUY": trading_pb2.SIDE_BUY, "SELL": trading_pb2.SIDE_SELL}
BINANCE_EXEC_TYPE: dict[str, int] = {
    "NEW": trading_pb2.EXEC_TYPE_NEW,
    "TRADE": trading_pb2.EXEC_TYPE_TRADE,
    "CANCELED": trading_pb2.EXEC_TYPE_CANCELED,
    "REPLACED": trading_pb2.EXEC_TYPE_REPLACED,
    "REJECTED": trading_pb2.EXEC_TYPE_REJECTED,
    "EXPIRED": trading_pb2.EXEC_TYPE_EXPIRED,
    "TRADE_PREVENTION": trading_pb2.EXEC_TYPE_TRADE_PREVENTION,
}
BINANCE_ORDER_STATUS: dict[str, int] = {
    "PENDING_NEW": trading_pb2.ORDER_STATUS_PENDING_NEW,
    "NEW": trading_pb2.ORDER_STATUS_NEW,
    "PARTIALLY_FILLED": trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
    "FILLED": trading_pb2.ORDER_STATUS_FILLED,
    "PENDING_CANCEL": trading_pb2.ORDER_STATUS_PENDING_CANCEL,
    "CANCELED": trading_pb2.ORDER_STATUS_CANCELED,
    "REJECTED": trading_pb2.ORDER_STATUS_REJECTED,
    "EXPIRED": trading_pb2.ORDER_STATUS_EXPIRED,
    "EXPIRED_IN_MATCH": trading_pb2.ORDER_STATUS_EXPIRED,
}
BINANCE_TERMINAL_STATUS = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"})
BINANCE_REJECT_REASON: dict[str, int] = {
    "NONE": trading_pb2.ORDER_REJECT_REASON_UNSPECIFIED,
    "INSUFFICIENT_BALANCES": trading_pb2.ORDER_REJECT_REASON_INSUFFICIENT_BALANCE,
    "STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY": trading_pb2.ORDER_REJECT_REASON_STOP_PRICE_WOULD_TRIGGER_IMMEDIATELY,
    "WOULD_MATCH_IMMEDIATELY": trading_pb2.ORDER_REJECT_REASON_WOULD_MATCH_IMMEDIATELY,
    "OCO_BAD_PRICES": trading_pb2.ORDER_REJECT_REASON_OCO_BAD_PRICES,
}
BINANCE_STP_MODE: dict[str, int] = {
    "NONE": trading_pb2.SELF_TRADE_PREVENTION_MODE_NONE,
    "EXPIRE_MAKER": trading_pb2.SELF_TRADE_PREVENTION_MODE_EXPIRE_MAKER,
    "EXPIRE_TAKER": trading_pb2.SELF_TRADE_PREVENTION_MODE_EXPIRE_TAKER,
    "EXPIRE_BOTH": trading_pb2.SELF_TRADE_PREVENTION_MODE_EXPIRE_BOTH,
    "DECREMENT": trading_pb2.SELF_TRADE_PREVENTION_MODE_DECREMENT,
    "TRANSFER": trading_pb2.SELF_TRADE_PREVENTION_MODE_TRANSFER,
}

BINANCE_FUTURES_CONTRACT_TYPE: dict[str, int] = {
    "U_MARGINED": instrument_pb2.CONTRACT_TYPE_LINEAR,
    "COIN_MARGINED": instrument_pb2.CONTRACT_TYPE_INVERSE,
}
OKX_CONTRACT_TYPE: dict[str, int] = {
    "linear": instrument_pb2.CONTRACT_TYPE_LINEAR,
    "inverse": instrument_pb2.CONTRACT_TYPE_INVERSE,
}
# Binance USD-M contractType -> (market type, expiry cycle of a dated contract).
BINANCE_CONTRACT_KIND: dict[str, tuple[int, int]] = {
    "PERPETUAL": (market_pb2.MARKET_TYPE_PERPETUAL, instrument_pb2.EXPIRY_CYCLE_UNSPECIFIED),
    "CURRENT_MONTH": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.EXPIRY_CYCLE_THIS_MONTH),
    "NEXT_MONTH": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.EXPIRY_CYCLE_NEXT_MONTH),
    "CURRENT_QUARTER": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.EXPIRY_CYCLE_QUARTER),
    "NEXT_QUARTER": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.EXPIRY_CYCLE_NEXT_QUARTER),
}
OKX_INST_TYPE: dict[str, int] = {
    "SWAP": market_pb2.MARKET_TYPE_PERPETUAL,
    "FUTURES": market_pb2.MARKET_TYPE_FUTURE,
}
OKX_ALIAS: dict[str, int] = {
    "this_week": instrument_pb2.EXPIRY_CYCLE_THIS_WEEK,
    "next_week": instrument_pb2.EXPIRY_CYCLE_NEXT_WEEK,
    "this_month": instrument_pb2.EXPIRY_CYCLE_THIS_MONTH,
    "next_month": instrument_pb2.EXPIRY_CYCLE_NEXT_MONTH,
    "quarter": instrument_pb2.EXPIRY_CYCLE_QUARTER,
    "next_quarter": instrument_pb2.EXPIRY_CYCLE_NEXT_QUARTER,
}

# --- Deribit, Bybit, Coinbase (documentation-example records) ----------------------------------------------------


def deribit_decimal(value: float | int) -> str:
    """Deribit sends JSON numbers: written in plain notation from their shortest repr (0.0005 -> "0.0005")."""
    return fmt(Decimal(repr(value)))


DERIBIT_KIND: dict[str, int] = {
    "future": market_pb2.MARKET_TYPE_FUTURE,
    "option": market_pb2.MARKET_TYPE_OPTION,
}
DERIBIT_CONTRACT_TYPE: dict[str, int] = {
    "linear": instrument_pb2.CONTRACT_TYPE_LINEAR,
    "reversed": instrument_pb2.CONTRACT_TYPE_INVERSE,
}
# ExpiryCycle comments: Deribit settlement_period day / week / month.
DERIBIT_SETTLEMENT_PERIOD: dict[str, int] = {
    "day": instrument_pb2.EXPIRY_CYCLE_DAY,
    "week": instrument_pb2.EXPIRY_CYCLE_THIS_WEEK,
    "month": instrument_pb2.EXPIRY_CYCLE_THIS_MONTH,
}
DERIBIT_OPTION_TYPE = {"call": "CALL", "put": "PUT"}


def deribit_is_active(active: bool) -> int:
    """Deribit is_active: true = open for trading; false = no longer trading (expired / closed)."""
    return market_pb2.MARKET_STATUS_TRADING if active else market_pb2.MARKET_STATUS_EXPIRED


BYBIT_MARKET_STATUS: dict[str, int] = {
    "PreLaunch": market_pb2.MARKET_STATUS_PRE_LISTING,
    "Trading": market_pb2.MARKET_STATUS_TRADING,
    "Delivering": market_pb2.MARKET_STATUS_DELIVERING,
    "Closed": market_pb2.MARKET_STATUS_DELISTED,
}
BYBIT_CONTRACT_TYPE: dict[str, tuple[int, int]] = {
    "LinearPerpetual": (market_pb2.MARKET_TYPE_PERPETUAL, instrument_pb2.CONTRACT_TYPE_LINEAR),
    "InversePerpetual": (market_pb2.MARKET_TYPE_PERPETUAL, instrument_pb2.CONTRACT_TYPE_INVERSE),
    "LinearFutures": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.CONTRACT_TYPE_LINEAR),
    "InverseFutures": (market_pb2.MARKET_TYPE_FUTURE, instrument_pb2.CONTRACT_TYPE_INVERSE),
}


def bybit_base(coin: str) -> tuple[str, str]:
    """Bybit multiplier-prefixed base coin "1000000BABYDOGE" -> ("BABYDOGE", "1000000"): one unit of the venue's
    base is 10^k of the asset (DOMAIN-CHECKLIST DENOMINATION_MULTIPLE). A plain coin "BTC" -> ("BTC", "1")."""
    digits = len(coin) - len(coin.lstrip("0123456789"))
    if digits and coin[:digits].startswith("1") and set(coin[1:digits]) <= {"0"} and digits < len(coin):
        return coin[digits:], coin[:digits]
    return coin, "1"


def bybit_ms(value: str) -> Timestamp | None:
    """Bybit ms epoch string; "0" = none (deliveryTime of a perpetual)."""
    return None if value in ("", "0") else timestamp_ms(int(value))


COINBASE_MARKET_STATUS: dict[str, int] = {
    "online": market_pb2.MARKET_STATUS_TRADING,
    "offline": market_pb2.MARKET_STATUS_HALTED,
    "internal": market_pb2.MARKET_STATUS_HALTED,
    "delisted": market_pb2.MARKET_STATUS_DELISTED,
}

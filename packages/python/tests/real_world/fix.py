"""FIX tag=value records -> the contract (Binance Spot FIX API ExecutionReport <8>).

A FIX message is text, not JSON: `fix_fields` splits it into an ordered {tag: value} mapping (SOH, or '|' as the
documentation writes SOH), which the ledger accounts key by key like any payload; the SourceRecord keeps the text
itself (`raw_text`, `format = SOURCE_FORMAT_FIX`, with real SOH separators). Conversions: FIX UTCTimestamp
`YYYYMMDD-HH:MM:SS.ffffff` -> Timestamp; Y/N -> bool; enum codes per the value comments of trading.proto
(39 OrdStatus, 40 OrdType, 54 Side, 59 TimeInForce, 150 ExecType); Binance's 25001 SelfTradePreventionMode 1 = NONE.
Session-layer fields (8 BeginString, 9 BodyLength, 10 CheckSum, 34 MsgSeqNum, 35 MsgType, 49/56 CompIDs,
52 SendingTime) are transport, kept only in the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.types.v1 import source_pb2
from cqc.venues.v1 import execution_pb2, trading_pb2

from .gaps import raw
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import same

SOH = "\x01"
REPORT = "report"
ORD_STATUS = {"0": trading_pb2.ORDER_STATUS_NEW, "1": trading_pb2.ORDER_STATUS_PARTIALLY_FILLED,
              "2": trading_pb2.ORDER_STATUS_FILLED, "4": trading_pb2.ORDER_STATUS_CANCELED,
              "8": trading_pb2.ORDER_STATUS_REJECTED, "C": trading_pb2.ORDER_STATUS_EXPIRED}  # fmt: skip
EXEC_TYPE = {"0": trading_pb2.EXEC_TYPE_NEW, "4": trading_pb2.EXEC_TYPE_CANCELED, "8": trading_pb2.EXEC_TYPE_REJECTED,
             "F": trading_pb2.EXEC_TYPE_TRADE, "C": trading_pb2.EXEC_TYPE_EXPIRED}  # fmt: skip
ORD_TYPE = {"1": trading_pb2.ORDER_TYPE_MARKET, "2": trading_pb2.ORDER_TYPE_LIMIT}
SIDE = {"1": trading_pb2.SIDE_BUY, "2": trading_pb2.SIDE_SELL}
TIF = {"1": trading_pb2.TIME_IN_FORCE_GTC, "3": trading_pb2.TIME_IN_FORCE_IOC, "4": trading_pb2.TIME_IN_FORCE_FOK}
BINANCE_STP = {"1": trading_pb2.SELF_TRADE_PREVENTION_MODE_NONE}


def fix_fields(text: str) -> dict[str, str]:
    """'8=FIX.4.4|9=330|35=8|...|10=095|' (SOH or '|') -> {"8": "FIX.4.4", "9": "330", ...}, in order. A tag
    that repeats (a repeating group) is refused: the records here carry none, and a dict would lose it."""
    fields: dict[str, str] = {}
    for item in text.replace(SOH, "|").rstrip("|").split("|"):
        tag, sep, value = item.partition("=")
        if not sep or not tag.isdigit():
            raise ValueError(f"not a FIX tag=value field: {item!r}")
        if tag in fields:
            raise ValueError(f"FIX tag {tag} repeats (a repeating group): not supported by this mapping")
        fields[tag] = value
    return fields


def fix_time(value: str) -> Timestamp:
    """FIX UTCTimestamp '20240611-09:01:46.228000' -> Timestamp (microseconds kept)."""
    stamp = Timestamp()
    stamp.FromDatetime(datetime.strptime(value, "%Y%m%d-%H:%M:%S.%f").replace(tzinfo=UTC))
    return stamp


def _ms(value: str) -> int:
    return fix_time(value).ToMilliseconds()


@dataclass(frozen=True)
class FixIds:
    execution_id: str
    account_id: str
    venue_id: str
    markets: Mapping[str, str]
    receive_time: datetime


def binance_fix_execution_report(fields: Mapping[str, str], text: str, ids: FixIds) -> dict[str, Message]:
    f = fields
    record = source_pb2.SourceRecord(
        source="binance",
        endpoint="FIX order entry ExecutionReport <8>",
        format=source_pb2.SOURCE_FORMAT_FIX,
        raw_text=text.replace("|", SOH),
    )
    record.receive_time.FromDatetime(ids.receive_time)
    report = execution_pb2.ExecutionReport(
        execution_id=ids.execution_id,
        venue_execution_id=f["17"],
        exec_type=EXEC_TYPE[f["150"]],
        venue_exec_type=f["150"],
        order_status=ORD_STATUS[f["39"]],
        venue_order_status=f["39"],
        client_order_id=f["11"],
        venue_order_id=f["37"],
        account_id=ids.account_id,
        venue_id=ids.venue_id,
        market_id=ids.markets[f["55"]],
        side=SIDE[f["54"]],
        order_type=ORD_TYPE[f["40"]],
        venue_order_type=f["40"],
        time_in_force=TIF[f["59"]],
        order_quantity=f["38"],
        order_price=f["44"],
        cum_quantity=f["14"],
        leaves_quantity=f["151"],
        cum_quote_quantity=f["25017"],
        is_working=f["636"] == "Y",
        transact_time=fix_time(f["60"]),
        order_create_time=fix_time(f["25018"]),
        working_time=fix_time(f["25023"]),
        self_trade_prevention_mode=BINANCE_STP[f["25001"]],
        is_aggressor=f["1057"] == "Y",
        source_record=record,
    )
    if Decimal(f["32"]) != 0:  # LastQty 0 on a report without a fill: no last fill
        report.last_quantity = f["32"]
    report.receive_time.FromDatetime(ids.receive_time)
    return {REPORT: report}


def binance_fix_execution_report_ledger(ids: FixIds) -> dict[str, Entry]:
    def dec(path: str) -> Target:
        return Target(REPORT, path, lambda v, _r: Decimal(str(v)), "decimal")

    def time(path: str) -> Target:
        return Target(REPORT, path, lambda v, _r: _ms(str(v)), "time")

    def code(path: str, table: Mapping[str, int]) -> Target:
        return Target(REPORT, path, lambda v, _r: table[str(v)])

    session = "FIX session layer (framing, sequencing, routing): transport, not the report's content"
    return {
        **{tag: raw(session) for tag in ("8", "9", "10", "34", "49", "52", "56")},
        "35": raw("MsgType 8 = ExecutionReport: the kind of the mapped message itself"),
        "11": mapped(same(REPORT, "client_order_id")),
        "14": mapped(dec("cum_quantity")),
        "17": mapped(same(REPORT, "venue_execution_id")),
        "32": mapped(
            Target(REPORT, "last_quantity", lambda v, _r: UNSET if Decimal(str(v)) == 0 else Decimal(str(v)), "decimal")
        ),
        "37": mapped(same(REPORT, "venue_order_id")),
        "38": mapped(dec("order_quantity")),
        "39": mapped(code("order_status", ORD_STATUS), same(REPORT, "venue_order_status")),
        "40": mapped(code("order_type", ORD_TYPE), same(REPORT, "venue_order_type")),
        "44": mapped(dec("order_price")),
        "54": mapped(code("side", SIDE)),
        "55": mapped(Target(REPORT, "market_id", lambda v, _r: ids.markets[str(v)])),
        "59": mapped(code("time_in_force", TIF)),
        "60": mapped(time("transact_time")),
        "150": mapped(code("exec_type", EXEC_TYPE), same(REPORT, "venue_exec_type")),
        "151": mapped(dec("leaves_quantity")),
        "636": mapped(Target(REPORT, "is_working", lambda v, _r: v == "Y")),
        "1057": mapped(Target(REPORT, "is_aggressor", lambda v, _r: v == "Y")),
        "25001": mapped(code("self_trade_prevention_mode", BINANCE_STP)),
        "25017": mapped(dec("cum_quote_quantity")),
        "25018": mapped(time("order_create_time")),
        "25023": mapped(time("working_time")),
    }

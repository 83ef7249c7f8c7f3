"""Binance wallet (SAPI) capital records -> portfolio Transaction (a deposit or withdrawal ledger entry).

Sources: GET /sapi/v1/capital/withdraw/history and GET /sapi/v1/capital/deposit/hisrec elements.
Conversions (Transaction / OnChainDetails comments): a withdrawal is a debit (amount negative, direction OUT,
the fee separate, charged in the withdrawn coin as Binance's per-network withdrawFee is), a deposit a credit;
the numeric status is kept verbatim in venue_status and normalised per the TransactionStatus comments;
applyTime / completeTime are "YYYY-MM-DD hh:mm:ss" in UTC, insertTime epoch ms; network -> venue_network_code,
and, through the registry's venue-network table, the chain and the deployment that moved; transferType 1 =
internal transfer; walletType 1 = funding wallet, 0 = spot wallet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.portfolio.v1 import transaction_pb2
from cqc.types.v1 import amount_pb2
from cqc.venues.v1 import balance_pb2

from .convert import Json, fmt, source_record
from .gaps import raw
from .ledger import UNSET, Entry, Target, mapped
from .ledgers import same

TXN = "transaction"

WITHDRAWAL_STATUS: dict[int, int] = {
    0: transaction_pb2.TRANSACTION_STATUS_AWAITING_USER_CONFIRMATION,  # Email Sent
    1: transaction_pb2.TRANSACTION_STATUS_CANCELED,
    2: transaction_pb2.TRANSACTION_STATUS_AWAITING_APPROVAL,
    3: transaction_pb2.TRANSACTION_STATUS_REJECTED,
    4: transaction_pb2.TRANSACTION_STATUS_PROCESSING,
    5: transaction_pb2.TRANSACTION_STATUS_FAILED,
    6: transaction_pb2.TRANSACTION_STATUS_COMPLETED,
}
DEPOSIT_STATUS: dict[int, int] = {
    0: transaction_pb2.TRANSACTION_STATUS_PENDING,
    1: transaction_pb2.TRANSACTION_STATUS_COMPLETED,
    2: transaction_pb2.TRANSACTION_STATUS_REJECTED,
    6: transaction_pb2.TRANSACTION_STATUS_CREDITED,
    7: transaction_pb2.TRANSACTION_STATUS_REJECTED,  # wrong deposit
    8: transaction_pb2.TRANSACTION_STATUS_AWAITING_USER_CONFIRMATION,
}
WALLET_TYPE = {0: "spot", 1: "funding"}


@dataclass(frozen=True)
class CapitalIds:
    """CQC ids of the entry and the account, and the registry's lookups the record's codes resolve through."""

    transaction_id: str
    account_id: str
    assets: Mapping[str, str]
    """Binance coin -> "ast_" id."""
    chains: Mapping[str, str]
    """Binance network code -> "chn_" id."""
    deployments: Mapping[tuple[str, str], str]
    """(coin, network) -> "dep_" id (AssetDeployment.VenueNetwork)."""
    receive_time: datetime


def utc_text(value: str) -> Timestamp:
    """Binance "2019-10-12 11:12:02" (UTC) -> Timestamp."""
    stamp = Timestamp()
    stamp.FromDatetime(datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))
    return stamp


def _on_chain(p: Json, ids: CapitalIds) -> transaction_pb2.OnChainDetails:
    details = transaction_pb2.OnChainDetails(
        chain_id=ids.chains[p["network"]],
        tx_hash=p["txId"],
        to_address=p["address"],
        internal=p["transferType"] == 1,
        venue_network_code=p["network"],
    )
    if p.get("addressTag"):
        details.tag = p["addressTag"]
    return details


def binance_withdrawal(payload: Json, ids: CapitalIds) -> dict[str, Message]:
    """One withdraw/history element -> {"transaction"}."""
    p = payload
    record = source_record("binance", "GET /sapi/v1/capital/withdraw/history", payload, ids.receive_time)
    status = WITHDRAWAL_STATUS[p["status"]]
    on_chain = _on_chain(p, ids)
    on_chain.confirmations = int(p["confirmNo"])
    txn = transaction_pb2.Transaction(
        transaction_id=ids.transaction_id,
        venue_transaction_id=p["id"],
        account_id=ids.account_id,
        asset_id=ids.assets[p["coin"]],
        type=balance_pb2.BALANCE_CHANGE_REASON_WITHDRAWAL,
        amount=fmt(-Decimal(p["amount"])),
        direction=transaction_pb2.TRANSACTION_DIRECTION_OUT,
        status=status,  # type: ignore[arg-type]
        venue_status=str(p["status"]),
        fee=amount_pb2.AssetAmount(amount=p["transactionFee"], asset_id=ids.assets[p["coin"]]),
        on_chain=on_chain,
        description=p.get("info", ""),
        create_time=utc_text(p["applyTime"]),
        deployment_id=ids.deployments[(p["coin"], p["network"])],
        wallet=WALLET_TYPE[p["walletType"]],
        source_record=record,
    )
    if "withdrawOrderId" in p:
        txn.client_transaction_id = p["withdrawOrderId"]
    if "completeTime" in p:
        txn.settle_time.CopyFrom(utc_text(p["completeTime"]))
    return {TXN: txn}


def binance_deposit(payload: Json, ids: CapitalIds) -> dict[str, Message]:
    """One deposit/hisrec element -> {"transaction"}."""
    p = payload
    record = source_record("binance", "GET /sapi/v1/capital/deposit/hisrec", payload, ids.receive_time)
    on_chain = _on_chain(p, ids)
    seen, required = p["confirmTimes"].split("/")
    on_chain.confirmations = int(seen)
    on_chain.required_confirmations = int(required)
    on_chain.unlock_confirmations = int(p["unlockConfirm"])
    created = Timestamp()
    created.FromMilliseconds(int(p["insertTime"]))
    txn = transaction_pb2.Transaction(
        transaction_id=ids.transaction_id,
        venue_transaction_id=p["id"],
        account_id=ids.account_id,
        asset_id=ids.assets[p["coin"]],
        type=balance_pb2.BALANCE_CHANGE_REASON_DEPOSIT,
        amount=p["amount"],
        direction=transaction_pb2.TRANSACTION_DIRECTION_IN,
        status=DEPOSIT_STATUS[p["status"]],  # type: ignore[arg-type]
        venue_status=str(p["status"]),
        on_chain=on_chain,
        create_time=created,
        deployment_id=ids.deployments[(p["coin"], p["network"])],
        wallet=WALLET_TYPE[p["walletType"]],
        source_record=record,
    )
    return {TXN: txn}


# --- Ledgers ----------------------------------------------------------------------------------------------------


def _common(ids: CapitalIds) -> dict[str, Entry]:
    return {
        "id": mapped(same(TXN, "venue_transaction_id")),
        "coin": mapped(Target(TXN, "asset_id", lambda v, _r: ids.assets[v])),
        "network": mapped(
            same(TXN, "on_chain.venue_network_code"),
            Target(TXN, "on_chain.chain_id", lambda v, _r: ids.chains[v]),
            Target(TXN, "deployment_id", lambda v, r: ids.deployments[(r["coin"], v)]),
        ),
        "address": mapped(same(TXN, "on_chain.to_address")),
        "txId": mapped(same(TXN, "on_chain.tx_hash")),
        "transferType": mapped(Target(TXN, "on_chain.internal", lambda v, _r: v == 1)),
        "walletType": mapped(Target(TXN, "wallet", lambda v, _r: WALLET_TYPE[v])),
    }


def _utc(path: str) -> Target:
    return Target(TXN, path, lambda v, _r: utc_text(v).ToMilliseconds(), "time")


def binance_withdrawal_ledger(ids: CapitalIds) -> dict[str, Entry]:
    """Every key of a withdraw/history element (the documentation's full field set)."""
    return {
        **_common(ids),
        "amount": mapped(
            Target(TXN, "amount", lambda v, _r: -Decimal(v), "decimal"),
            Target(TXN, "direction", lambda _v, _r: transaction_pb2.TRANSACTION_DIRECTION_OUT),
        ),
        "transactionFee": mapped(
            Target(TXN, "fee.amount", lambda v, _r: Decimal(v), "decimal"),
            Target(TXN, "fee.asset_id", lambda _v, r: ids.assets[r["coin"]]),
        ),
        "status": mapped(
            Target(TXN, "status", lambda v, _r: WITHDRAWAL_STATUS[v]),
            Target(TXN, "venue_status", lambda v, _r: str(v)),
        ),
        "applyTime": mapped(_utc("create_time")),
        "completeTime": mapped(_utc("settle_time")),
        "withdrawOrderId": mapped(same(TXN, "client_transaction_id")),
        "info": mapped(same(TXN, "description")),
        "confirmNo": mapped(Target(TXN, "on_chain.confirmations", lambda v, _r: int(v))),
        "txKey": raw("undocumented key, empty in the documentation's example"),
    }


def binance_deposit_ledger(ids: CapitalIds) -> dict[str, Entry]:
    """Every key of a deposit/hisrec element (the documentation's field set)."""
    return {
        **_common(ids),
        "amount": mapped(
            Target(TXN, "amount", lambda v, _r: Decimal(v), "decimal"),
            Target(TXN, "direction", lambda _v, _r: transaction_pb2.TRANSACTION_DIRECTION_IN),
        ),
        "status": mapped(
            Target(TXN, "status", lambda v, _r: DEPOSIT_STATUS[v]),
            Target(TXN, "venue_status", lambda v, _r: str(v)),
        ),
        "addressTag": mapped(Target(TXN, "on_chain.tag", lambda v, _r: v if v else UNSET)),
        "insertTime": mapped(Target(TXN, "create_time", lambda v, _r: int(v), "time")),
        # "1/1" = confirmations seen / confirmations required.
        "confirmTimes": mapped(
            Target(TXN, "on_chain.confirmations", lambda v, _r: int(v.split("/")[0])),
            Target(TXN, "on_chain.required_confirmations", lambda v, _r: int(v.split("/")[1])),
        ),
        "unlockConfirm": mapped(Target(TXN, "on_chain.unlock_confirmations", lambda v, _r: int(v))),
    }

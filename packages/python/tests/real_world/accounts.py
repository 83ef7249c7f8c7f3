"""Account-side records -> Balance, MarginSummary, VenueAccount fee level, a spot-margin tier, a dYdX
transfer, and OKX option implied volatilities.

Sources and conversions (balance.proto / account.proto / transaction.proto / market_rules.proto comments):
  - Binance USD-M GET /fapi/v2/balance element -> Balance (balance = wallet balance; availableBalance may
    exceed it with cross unrealised profit, so nothing ties available to wallet here).
  - Bybit V5 wallet-balance (UNIFIED) -> MarginSummary (account totals, USD) and one Balance per coin with
    its spot borrow (borrowAmount) and accrued interest.
  - OKX GET /api/v5/account/trade-fee element -> VenueAccount.fee_tier and commission_rates. OKX signs fee
    rates the other way round: negative = a commission the user pays, positive = a rebate; CQC's rates are
    positive when paid, so they are negated.
  - OKX position-tiers (instType MARGIN) element -> MarginTier of a SPOT market's spot_margin.
  - dYdX v4 indexer transfer element -> Transaction (DEPOSIT into a subaccount, on the dYdX chain).
  - OKX opt-summary element -> OptionGreeks (bidVol / askVol / markVol fractions; fwdPx the forward price the
    volatilities refer to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from cqc.markets.v1 import market_data_pb2
from cqc.portfolio.v1 import transaction_pb2
from cqc.venues.v1 import account_pb2, balance_pb2, trading_pb2

from .convert import Json, fmt, source_record, timestamp_ms
from .gaps import raw
from .ledger import UNSET, Entry, Expect, Target, mapped
from .ledgers import same


@dataclass(frozen=True)
class AccountIds:
    account_id: str
    venue_id: str
    assets: Mapping[str, str]
    markets: Mapping[str, str]
    receive_time: datetime
    external_account_id: str = ""
    """The venue's id of the account, known to the registry (not in these records)."""
    chain_id: str = ""
    transaction_id: str = ""


def _dec(message: str, path: str) -> Target:
    return Target(message, path, lambda v, _r: Decimal(v), "decimal")


def _rx(message: Message, ids: AccountIds) -> Message:
    message.receive_time.FromDatetime(ids.receive_time)  # type: ignore[attr-defined]
    return message


# --- Binance USD-M balance ------------------------------------------------------------------------------------------


def binance_usdm_balance(payload: Json, ids: AccountIds) -> dict[str, Message]:
    p = payload
    record = source_record("binance-usdm", "GET /fapi/v2/balance", payload, ids.receive_time)
    balance = balance_pb2.Balance(
        account_id=ids.account_id,
        asset_id=ids.assets[p["asset"]],
        wallet="futures",
        wallet_balance=p["balance"],
        cross_wallet_balance=p["crossWalletBalance"],
        cross_unrealized_pnl=p["crossUnPnl"],
        available=p["availableBalance"],
        max_withdraw_amount=p["maxWithdrawAmount"],
        collateral_eligible=p["marginAvailable"],
        is_reported=True,
        update_time=timestamp_ms(p["updateTime"]),
        source_record=record,
    )
    return {"balance": _rx(balance, ids)}


def binance_usdm_balance_ledger(ids: AccountIds) -> dict[str, Entry]:
    b = "balance"
    return {
        "accountAlias": raw("Binance's short alias of the account (resolved to account_id by the registry)"),
        "asset": mapped(Target(b, "asset_id", lambda v, _r: ids.assets[v])),
        "balance": mapped(_dec(b, "wallet_balance")),
        "crossWalletBalance": mapped(_dec(b, "cross_wallet_balance")),
        "crossUnPnl": mapped(_dec(b, "cross_unrealized_pnl")),
        "availableBalance": mapped(_dec(b, "available")),
        "maxWithdrawAmount": mapped(_dec(b, "max_withdraw_amount")),
        "marginAvailable": mapped(Target(b, "collateral_eligible", lambda v, _r: v)),
        "updateTime": mapped(Target(b, "update_time", lambda v, _r: int(v), "time")),
    }


# --- Bybit unified wallet --------------------------------------------------------------------------------------------


def bybit_unified_wallet(payload: Json, ids: AccountIds) -> dict[str, Message]:
    """result.list[0] of wallet-balance -> {"summary", "balance:<COIN>"}."""
    p = payload
    record = source_record("bybit", "GET /v5/account/wallet-balance?accountType=UNIFIED", payload, ids.receive_time)
    summary = balance_pb2.MarginSummary(
        account_id=ids.account_id,
        asset_id=ids.assets["USD"],
        margin_mode=trading_pb2.MARGIN_MODE_CROSS,
        equity=p["totalEquity"],
        adjusted_equity=p["totalMarginBalance"],
        wallet_balance=p["totalWalletBalance"],
        unrealized_pnl=p["totalPerpUPL"],
        initial_margin=p["totalInitialMargin"],
        maintenance_margin=p["totalMaintenanceMargin"],
        available_for_trading=p["totalAvailableBalance"],
        initial_margin_ratio=p["accountIMRate"],
        margin_ratio=p["accountMMRate"],
        ltv=p["accountLTV"],
        is_reported=True,
        source_record=record,
    )
    # The element carries no update time: MarginSummary.update_time is then CQC's time of the figures.
    summary.update_time.FromDatetime(ids.receive_time)
    out: dict[str, Message] = {"summary": _rx(summary, ids)}
    for coin in p["coin"]:
        out[f"balance:{coin['coin']}"] = _rx(
            balance_pb2.Balance(
                account_id=ids.account_id,
                asset_id=ids.assets[coin["coin"]],
                wallet="unified",
                wallet_balance=coin["walletBalance"],
                locked=coin["locked"],
                borrowed=coin["borrowAmount"],
                accrued_interest=coin["accruedInterest"],
                equity=coin["equity"],
                unrealized_pnl=coin["unrealisedPnl"],
                value_usd=coin["usdValue"],
                max_withdraw_amount=coin["availableToWithdraw"],
                available_to_borrow=coin["availableToBorrow"],
                spot_borrowed=coin["spotBorrow"],
                bonus=coin["bonus"],
                cumulative_realized_pnl=coin["cumRealisedPnl"],
                spot_hedging_quantity=coin["spotHedgingQty"],
                collateral_eligible=coin["marginCollateral"],
                collateral_enabled=coin["collateralSwitch"],
                is_reported=True,
                update_time=summary.update_time,
                source_record=record,
            ),
            ids,
        )
    return out


def bybit_unified_wallet_ledger(ids: AccountIds, payload: Json) -> dict[str, Entry]:
    s = "summary"
    ledger: dict[str, Entry] = {
        "totalEquity": mapped(_dec(s, "equity")),
        "accountIMRate": mapped(_dec(s, "initial_margin_ratio")),
        "totalMarginBalance": mapped(_dec(s, "adjusted_equity")),
        "totalInitialMargin": mapped(_dec(s, "initial_margin")),
        "accountType": raw("UNIFIED: the account's type, a registry fact of the VenueAccount"),
        "totalAvailableBalance": mapped(_dec(s, "available_for_trading")),
        "accountMMRate": mapped(_dec(s, "margin_ratio")),
        "totalPerpUPL": mapped(_dec(s, "unrealized_pnl")),
        "totalWalletBalance": mapped(_dec(s, "wallet_balance")),
        "accountLTV": mapped(_dec(s, "ltv")),
        "totalMaintenanceMargin": mapped(_dec(s, "maintenance_margin")),
    }
    ledger.update(
        {
            "coin[*].coin": mapped(
                *(Target(f"balance:{c['coin']}", "asset_id", _const(ids.assets[c["coin"]])) for c in payload["coin"])
            ),
            "coin[*].walletBalance": mapped(*_each(payload, "walletBalance", "wallet_balance")),
            "coin[*].locked": mapped(*_each(payload, "locked", "locked")),
            "coin[*].borrowAmount": mapped(*_each(payload, "borrowAmount", "borrowed")),
            "coin[*].accruedInterest": mapped(*_each(payload, "accruedInterest", "accrued_interest")),
            "coin[*].equity": mapped(*_each(payload, "equity", "equity")),
            "coin[*].unrealisedPnl": mapped(*_each(payload, "unrealisedPnl", "unrealized_pnl")),
            "coin[*].usdValue": mapped(*_each(payload, "usdValue", "value_usd")),
            "coin[*].availableToWithdraw": mapped(*_each(payload, "availableToWithdraw", "max_withdraw_amount")),
            "coin[*].availableToBorrow": mapped(*_each(payload, "availableToBorrow", "available_to_borrow")),
            "coin[*].bonus": mapped(*_each(payload, "bonus", "bonus")),
            "coin[*].cumRealisedPnl": mapped(*_each(payload, "cumRealisedPnl", "cumulative_realized_pnl")),
            "coin[*].collateralSwitch": mapped(*_flags(payload, "collateralSwitch", "collateral_enabled")),
            "coin[*].marginCollateral": mapped(*_flags(payload, "marginCollateral", "collateral_eligible")),
            "coin[*].spotHedgingQty": mapped(*_each(payload, "spotHedgingQty", "spot_hedging_quantity")),
            "coin[*].spotBorrow": mapped(*_each(payload, "spotBorrow", "spot_borrowed")),
        }
    )
    return ledger


def _const(value: object) -> Expect:
    return lambda _v, _r: value


def _flags(payload: Json, key: str, field: str) -> list[Target]:
    return [Target(f"balance:{c['coin']}", field, _const(c[key])) for c in payload["coin"]]


def _each(payload: Json, key: str, field: str) -> list[Target]:
    return [Target(f"balance:{c['coin']}", field, _const(Decimal(c[key])), "decimal") for c in payload["coin"]]


# --- OKX trade fee ----------------------------------------------------------------------------------------------------


def okx_trade_fee(payload: Json, ids: AccountIds) -> dict[str, Message]:
    p = payload
    record = source_record("okx", f"GET /api/v5/account/trade-fee?instType={p['instType']}", payload, ids.receive_time)
    account = account_pb2.VenueAccount(
        account_id=ids.account_id,
        venue_id=ids.venue_id,
        name="OKX trading account",
        external_account_id=ids.external_account_id,
        account_type=account_pb2.ACCOUNT_TYPE_UNIFIED,
        status=account_pb2.ACCOUNT_STATUS_ACTIVE,
        fee_tier=p["level"],
        commission_rates=account_pb2.CommissionRates(
            maker_fee_rate=fmt(-Decimal(p["maker"])),
            taker_fee_rate=fmt(-Decimal(p["taker"])),
            settlement_fee_rate=_okx_rate(p["delivery"]),
            exercise_fee_rate=_okx_rate(p["exercise"]),
            by_settlement_asset=[
                account_pb2.SettlementAssetFeeRates(
                    settlement_asset_id=ids.assets[asset],
                    maker_fee_rate=fmt(-Decimal(p[f"maker{suffix}"])),
                    taker_fee_rate=fmt(-Decimal(p[f"taker{suffix}"])),
                )
                for suffix, asset in _okx_families(p)
            ],
        ),
        venue_update_time=timestamp_ms(int(p["ts"])),
        source_record=record,
    )
    return {"account": account}


OKX_FAMILIES = (("U", "USDT"), ("USDC", "USDC"))


def _okx_families(p: Json) -> list[tuple[str, str]]:
    """The settlement-asset families OKX publishes separate rates for ("" = not applicable)."""
    return [(suffix, asset) for suffix, asset in OKX_FAMILIES if p[f"maker{suffix}"] or p[f"taker{suffix}"]]


def _okx_rate(value: str) -> str | None:
    """An OKX fee rate, negated to CQC's sign (positive = paid); "" = not applicable -> unset."""
    return None if value == "" else fmt(-Decimal(value))


def _okx_expect(v: object, _r: object) -> object:
    return UNSET if v == "" else -Decimal(str(v))


def _family(payload: Json | None, suffix: str, side: str) -> list[Target]:
    """makerU / takerU / makerUSDC / takerUSDC: the family's entry in by_settlement_asset (its position among the
    published families), or no entry when OKX sends "" (a family that does not apply)."""
    if payload is None:
        return []
    families = [s for s, _a in _okx_families(payload)]
    if suffix not in families:
        return [Target("account", f"commission_rates.by_settlement_asset[{len(families)}].{side}_fee_rate", _unset)]
    i = families.index(suffix)
    return [Target("account", f"commission_rates.by_settlement_asset[{i}].{side}_fee_rate", _okx_expect, "decimal")]


def _unset(_v: object, _r: object) -> object:
    return UNSET


def okx_trade_fee_ledger(payload: Json | None = None) -> dict[str, Entry]:
    a = "account"
    negated = lambda v, _r: -Decimal(v)  # noqa: E731
    return {
        "category": raw("deprecated OKX fee category ('1'); the level decides the rates"),
        "delivery": mapped(Target(a, "commission_rates.settlement_fee_rate", _okx_expect, "decimal")),
        "exercise": mapped(Target(a, "commission_rates.exercise_fee_rate", _okx_expect, "decimal")),
        "instType": raw("the instrument family the rates apply to (SPOT): the request's filter"),
        "level": mapped(same(a, "fee_tier")),
        "maker": mapped(Target(a, "commission_rates.maker_fee_rate", negated, "decimal")),
        "makerU": mapped(*_family(payload, "U", "maker")),
        "makerUSDC": mapped(*_family(payload, "USDC", "maker")),
        "taker": mapped(Target(a, "commission_rates.taker_fee_rate", negated, "decimal")),
        "takerU": mapped(*_family(payload, "U", "taker")),
        "takerUSDC": mapped(*_family(payload, "USDC", "taker")),
        "ts": mapped(Target(a, "venue_update_time", lambda v, _r: int(v), "time")),
        "uly": raw("underlying filter of the request (empty for SPOT)"),
    }


# --- dYdX transfer --------------------------------------------------------------------------------------------------


def dydx_transfer(payload: Json, ids: AccountIds) -> dict[str, Message]:
    p = payload
    record = source_record("dydx-v4-indexer", "GET /v4/transfers", payload, ids.receive_time)
    created = Timestamp()
    created.FromJsonString(p["createdAt"])
    txn = transaction_pb2.Transaction(
        transaction_id=ids.transaction_id,
        venue_transaction_id=p["id"],
        account_id=ids.account_id,
        asset_id=ids.assets[p["asset"]],
        type=balance_pb2.BALANCE_CHANGE_REASON_DEPOSIT,
        amount=p["amount"],
        direction=transaction_pb2.TRANSACTION_DIRECTION_IN,
        status=transaction_pb2.TRANSACTION_STATUS_COMPLETED,
        venue_status=p["type"],
        on_chain=transaction_pb2.OnChainDetails(
            chain_id=ids.chain_id,
            tx_hash=p["transactionHash"],
            from_address=p["sender"]["address"],
            to_address=p["recipient"]["address"],
            block_number=int(p["createdAtHeight"]),
            from_venue_subaccount_id=str(p["sender"]["subaccountNumber"]),
            to_venue_subaccount_id=str(p["recipient"]["subaccountNumber"]),
        ),
        create_time=created,
        source_record=record,
    )
    return {"transaction": txn}


def dydx_transfer_ledger(ids: AccountIds) -> dict[str, Entry]:
    t = "transaction"
    return {
        "id": mapped(same(t, "venue_transaction_id")),
        "sender.address": mapped(same(t, "on_chain.from_address")),
        "sender.subaccountNumber": mapped(Target(t, "on_chain.from_venue_subaccount_id", lambda v, _r: str(v))),
        "recipient.address": mapped(same(t, "on_chain.to_address")),
        "recipient.subaccountNumber": mapped(Target(t, "on_chain.to_venue_subaccount_id", lambda v, _r: str(v))),
        "amount": mapped(_dec(t, "amount")),
        "createdAt": mapped(Target(t, "create_time", lambda v, _r: _iso_ms(v), "time")),
        "createdAtHeight": mapped(Target(t, "on_chain.block_number", lambda v, _r: int(v))),
        "asset": mapped(Target(t, "asset_id", lambda v, _r: ids.assets[v])),
        "type": mapped(
            same(t, "venue_status"),
            Target(t, "type", lambda v, _r: balance_pb2.BALANCE_CHANGE_REASON_DEPOSIT if v == "DEPOSIT" else UNSET),
        ),
        "transactionHash": mapped(same(t, "on_chain.tx_hash")),
    }


def _iso_ms(value: str) -> int:
    stamp = Timestamp()
    stamp.FromJsonString(value)
    return stamp.ToMilliseconds()


# --- OKX option summary ----------------------------------------------------------------------------------------------


def okx_option_summary(payload: Json, ids: AccountIds) -> dict[str, Message]:
    p = payload
    record = source_record("okx", "GET /api/v5/public/opt-summary", payload, ids.receive_time)
    greeks = market_data_pb2.OptionGreeks(
        market_id=ids.markets[p["instId"]],
        source="okx",
        bid_iv=p["bidVol"],
        ask_iv=p["askVol"],
        mark_iv=p["markVol"],
        underlying_price=p["fwdPx"],
        underlying_name="forward",
        event_time=timestamp_ms(int(p["ts"])),
        source_record=record,
    )
    return {"greeks": _rx(greeks, ids)}


def okx_option_summary_ledger(markets: Mapping[str, str]) -> dict[str, Entry]:
    g = "greeks"
    return {
        "instType": raw("OPTION: the market already says it"),
        "instId": mapped(Target(g, "market_id", lambda v, _r: markets[v])),
        "uly": raw("the option family's underlying (BTC-USD): the instrument's, and the request's filter"),
        "bidVol": mapped(_dec(g, "bid_iv")),
        "askVol": mapped(_dec(g, "ask_iv")),
        "markVol": mapped(_dec(g, "mark_iv")),
        "fwdPx": mapped(_dec(g, "underlying_price"), Target(g, "underlying_name", lambda _v, _r: "forward")),
        "ts": mapped(Target(g, "event_time", lambda v, _r: int(v), "time")),
    }

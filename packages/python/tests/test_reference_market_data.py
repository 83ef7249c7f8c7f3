"""The Python reference MarketData: the feeds read from the seed examples (funding, open interest, liquidations,
ticker statistics, option greeks, asset market data), asset-keyed ListPrices, and resumable streams."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from conftest import TESTDATA

import cqc.testing
from cqc.markets.v1 import market_data_pb2
from cqc.services.v1 import market_data_pb2 as pb
from cqc.services.v1 import market_data_pb2_grpc

BTC = "ast_01JDBTC0000000000000000000"
SPOT = "mkt_01JDBNBTCVSDTSP0T000000000"
PERP = "mkt_01JDBNBTCVSDTPERP000000000"
OKX_SWAP = "mkt_01JD0KXBTCVSDSWAP000000000"
BITMEX = "mkt_01JDBMXXBTVSDPERP000000000"
OPTION = "mkt_01JDDRBETH29SEP232000C0000"


@pytest.fixture(scope="module")
def md() -> Iterator[market_data_pb2_grpc.MarketDataStub]:
    with cqc.testing.serve(TESTDATA) as server, grpc.insecure_channel(server.target) as channel:
        yield market_data_pb2_grpc.MarketDataStub(channel)


def test_list_prices_by_asset_and_source(md: market_data_pb2_grpc.MarketDataStub) -> None:
    response = md.ListPrices(
        pb.ListPricesRequest(asset_ids=[BTC], price_types=[market_data_pb2.PRICE_TYPE_REFERENCE], sources=["coingecko"])
    )
    assert [p.source for p in response.prices] == ["coingecko"]
    assert response.prices[0].asset_id == BTC
    assert not response.prices[0].HasField("source_record")  # left out unless asked for
    with_records = md.ListPrices(
        pb.ListPricesRequest(
            asset_ids=[BTC], price_types=[market_data_pb2.PRICE_TYPE_REFERENCE], include_source_records=True
        )
    )
    assert len(with_records.prices) == 1  # the latest per (subject, price type) across sources


def test_list_prices_needs_a_subject(md: market_data_pb2_grpc.MarketDataStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        md.ListPrices(pb.ListPricesRequest(price_types=[market_data_pb2.PRICE_TYPE_MARK]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_funding_get_list_and_stream_with_resume(md: market_data_pb2_grpc.MarketDataStub) -> None:
    current = md.GetFundingRate(pb.GetFundingRateRequest(market_id=PERP)).funding_rate
    assert current.market_id == PERP
    fixed = md.ListFundingRates(pb.ListFundingRatesRequest(market_id=BITMEX)).funding_rates
    assert [r.status for r in fixed] == [market_data_pb2.FUNDING_RATE_STATUS_FIXED]
    messages = list(md.StreamFundingRates(pb.StreamFundingRatesRequest(market_ids=[PERP, OKX_SWAP, BITMEX])))
    assert len(messages) >= 3 and all(m.resume_token for m in messages)
    assert [m.snapshot_complete for m in messages][-1] is True
    resumed = list(
        md.StreamFundingRates(
            pb.StreamFundingRatesRequest(market_ids=[PERP, OKX_SWAP, BITMEX], resume_token=messages[0].resume_token)
        )
    )
    assert [m.funding_rate for m in resumed] == [m.funding_rate for m in messages[1:]]
    with pytest.raises(grpc.RpcError) as caught:
        list(md.StreamFundingRates(pb.StreamFundingRatesRequest(market_ids=[PERP], resume_token="bm90LWEtdG9rZW4=")))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_open_interest_latest_and_history(md: market_data_pb2_grpc.MarketDataStub) -> None:
    latest = md.GetOpenInterest(pb.GetOpenInterestRequest(market_id=OKX_SWAP)).open_interest
    history = md.ListOpenInterest(pb.ListOpenInterestRequest(market_id=OKX_SWAP)).open_interests
    assert history and history[-1].amount == latest.amount
    assert not any(o.HasField("source_record") for o in history)
    with pytest.raises(grpc.RpcError) as caught:
        md.GetOpenInterest(pb.GetOpenInterestRequest(market_id=SPOT))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_liquidations_list_and_stream(md: market_data_pb2_grpc.MarketDataStub) -> None:
    listed = md.ListLiquidations(pb.ListLiquidationsRequest(market_id=PERP, include_source_records=True))
    assert len(listed.liquidations) == 1 and listed.liquidations[0].HasField("source_record")
    stream = md.StreamLiquidations(pb.StreamLiquidationsRequest(market_ids=[PERP]), timeout=1.5)
    first = next(stream)
    assert first.snapshot_complete and not first.HasField("liquidation") and first.resume_token
    second = next(stream)
    assert second.liquidation.side == listed.liquidations[0].side
    stream.cancel()


def test_ticker_statistics(md: market_data_pb2_grpc.MarketDataStub) -> None:
    response = md.ListTickerStatistics(pb.ListTickerStatisticsRequest(market_ids=[SPOT, OKX_SWAP, PERP]))
    assert [t.market_id for t in response.ticker_statistics] == [SPOT, OKX_SWAP]
    okx = response.ticker_statistics[1]
    assert [s.price for s in okx.session_open_prices] == ["43251.7", "43402.9"]


def test_option_greeks_get_and_stream(md: market_data_pb2_grpc.MarketDataStub) -> None:
    greeks = md.GetOptionGreeks(pb.GetOptionGreeksRequest(market_id=OPTION)).option_greeks
    assert greeks.mark_iv == "0.385" and greeks.delta == "0.17891"
    messages = list(md.StreamOptionGreeks(pb.StreamOptionGreeksRequest(market_ids=[OPTION])))
    assert len(messages) == 1 and messages[0].snapshot_complete and messages[0].option_greeks.market_id == OPTION
    with pytest.raises(grpc.RpcError) as caught:
        md.GetOptionGreeks(pb.GetOptionGreeksRequest(market_id=SPOT))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_asset_market_data(md: market_data_pb2_grpc.MarketDataStub) -> None:
    data = md.GetAssetMarketData(pb.GetAssetMarketDataRequest(asset_id=BTC, source="coingecko")).asset_market_data
    assert data.market_cap_rank == 1 and data.market_cap == "1381651251183"
    page = md.ListAssetMarketData(pb.ListAssetMarketDataRequest(page_size=1))
    assert page.asset_market_data[0].asset_id == BTC
    assert not page.asset_market_data[0].HasField("source_record")
    with pytest.raises(grpc.RpcError) as caught:
        md.GetAssetMarketData(pb.GetAssetMarketDataRequest(asset_id=BTC, source="coinmarketcap"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_order_book_stream_resumes_from_a_delta(md: market_data_pb2_grpc.MarketDataStub) -> None:
    messages = list(md.StreamOrderBook(pb.StreamOrderBookRequest(market_id=SPOT)))
    assert messages[0].order_book.is_snapshot and messages[0].snapshot_complete
    assert all(m.resume_token for m in messages)
    resumed = list(md.StreamOrderBook(pb.StreamOrderBookRequest(market_id=SPOT, resume_token=messages[0].resume_token)))
    assert [m.order_book for m in resumed] == [m.order_book for m in messages[1:]]


def test_trade_stream_starts_with_the_snapshot_marker(md: market_data_pb2_grpc.MarketDataStub) -> None:
    stream = md.StreamTrades(pb.StreamTradesRequest(market_ids=[SPOT]), timeout=1.5)
    marker = next(stream)
    assert marker.snapshot_complete and not marker.HasField("trade")
    trade = next(stream)
    assert trade.trade.venue_trade_id and trade.resume_token
    stream.cancel()
    resumed = md.StreamTrades(pb.StreamTradesRequest(market_ids=[SPOT], resume_token=trade.resume_token), timeout=0.5)
    with pytest.raises(grpc.RpcError) as caught:
        next(resumed)  # nothing after the last seeded trade: the live feed waits until the deadline
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_list_trades_pages_and_leaves_records_out(md: market_data_pb2_grpc.MarketDataStub) -> None:
    page = md.ListTrades(pb.ListTradesRequest(market_id=SPOT, page_size=1))
    assert len(page.trades) == 1 and page.trades[0].venue_trade_id
    assert not page.trades[0].HasField("source_record")
    with_records = md.ListTrades(pb.ListTradesRequest(market_id=SPOT, include_source_records=True))
    assert with_records.trades[0].HasField("source_record")
    with pytest.raises(grpc.RpcError) as caught:
        md.ListTrades(pb.ListTradesRequest(market_id=SPOT, page_token="garbage"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

"""The reference servers' in-memory state: seed loading, tables keyed by id, pagination, update masks."""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message

from cqc.assets.v1 import (
    asset_identifier_pb2,
    asset_pb2,
    chain_pb2,
    deployment_pb2,
    group_pb2,
    quality_flag_pb2,
    relationship_pb2,
)
from cqc.identifiers.v1 import identifier_pb2
from cqc.kit import ids as kit_ids
from cqc.kit.pagination import PageTokens
from cqc.markets.v1 import instrument_pb2, market_data_pb2, market_pb2, order_book_pb2
from cqc.testing._equality import same_request
from cqc.testing._errors import already_exists, invalid_argument, not_found, validation_failed
from cqc.testing.seed import examples as seed_examples
from cqc.validation import violations
from cqc.venues.v1 import account_pb2, order_pb2, venue_asset_pb2, venue_pb2

__all__ = ["DEFAULT_PAGE_SIZE", "Kind", "Store", "Table", "examples_dir", "new_ulid"]

M = TypeVar("M", bound=Message)

DEFAULT_PAGE_SIZE = 100
TIMESTAMP = "google.protobuf.Timestamp"


def new_ulid() -> str:
    """A new ULID: 48 bits of milliseconds since the epoch, then 80 random bits, in Crockford base32."""
    return kit_ids.new_ulid()


@dataclass(frozen=True)
class Kind(Generic[M]):
    """A resource type the servers store: its message class, id field and NOT_FOUND reason."""

    cls: type[M]
    id_field: str
    not_found_reason: str

    @property
    def name(self) -> str:
        return self.cls.DESCRIPTOR.full_name

    def id_of(self, message: M) -> str:
        value = getattr(message, self.id_field)
        assert isinstance(value, str)
        return value


ASSET = Kind(asset_pb2.Asset, "asset_id", "NOT_FOUND_ASSET")
CHAIN = Kind(chain_pb2.Chain, "chain_id", "NOT_FOUND_CHAIN")
DEPLOYMENT = Kind(deployment_pb2.AssetDeployment, "deployment_id", "NOT_FOUND_RESOURCE")
INSTRUMENT = Kind(instrument_pb2.Instrument, "instrument_id", "NOT_FOUND_INSTRUMENT")
MARKET = Kind(market_pb2.Market, "market_id", "NOT_FOUND_MARKET")
IDENTIFIER = Kind(identifier_pb2.Identifier, "identifier_id", "NOT_FOUND_IDENTIFIER")
ASSET_IDENTIFIER = Kind(asset_identifier_pb2.AssetIdentifier, "identifier_id", "NOT_FOUND_IDENTIFIER")
VENUE = Kind(venue_pb2.Venue, "venue_id", "NOT_FOUND_VENUE")
VENUE_ASSET = Kind(venue_asset_pb2.VenueAsset, "venue_asset_id", "NOT_FOUND_VENUE_ASSET")
ACCOUNT = Kind(account_pb2.VenueAccount, "account_id", "NOT_FOUND_ACCOUNT")
ORDER = Kind(order_pb2.Order, "order_id", "NOT_FOUND_ORDER")
RELATIONSHIP = Kind(relationship_pb2.AssetRelationship, "relationship_id", "NOT_FOUND_RESOURCE")
QUALITY_FLAG = Kind(quality_flag_pb2.AssetQualityFlag, "flag_id", "NOT_FOUND_RESOURCE")
GROUP = Kind(group_pb2.AssetGroup, "group_id", "NOT_FOUND_RESOURCE")


_TOKENS = PageTokens()  # cqc.kit page tokens: signed under a key of this process


def encode_page_token(last_id: str, request: Message | None = None) -> str:
    """A signed opaque token for the page after ``last_id``; with ``request``, bound to its RPC and filters."""
    return _TOKENS.encode(last_id, request)


def decode_page_token(token: str, request: Message | None = None) -> str:
    """The last id of the previous page, or INVALID_ARGUMENT INVALID_PAGE_TOKEN (garbage, a tampered token, or
    with ``request`` a token of another RPC or other filters)."""
    return _TOKENS.decode(token, request)


def page(
    items: list[M],
    kind: Kind[M],
    page_size: int,
    page_token: str,
    *,
    ascending_ids: bool = True,
    request: Message | None = None,
) -> tuple[list[M], str]:
    """One page of ``items`` (already filtered, in listing order) after the page token's id. With
    ``ascending_ids`` the items are ordered by id and the page starts at the first id above the token's,
    so it stays right when resources come and go between pages; otherwise right after the token's item."""
    size = page_size or DEFAULT_PAGE_SIZE
    start = 0
    if page_token:
        last_id = decode_page_token(page_token, request)
        ids = [kind.id_of(item) for item in items]
        if ascending_ids:
            start = bisect.bisect_right(ids, last_id)
        else:
            start = ids.index(last_id) + 1 if last_id in ids else len(items)
    chosen = items[start : start + size]
    more = start + size < len(items)
    return chosen, encode_page_token(kind.id_of(chosen[-1]), request) if more and chosen else ""


class Table(Generic[M]):
    """Every stored resource of one kind, by id; thread-safe."""

    def __init__(self, kind: Kind[M], lock: threading.RLock) -> None:
        self.kind = kind
        self._lock = lock
        self._items: dict[str, M] = {}

    def put(self, message: M) -> None:
        with self._lock:
            self._items[self.kind.id_of(message)] = message

    def find(self, resource_id: str) -> M | None:
        with self._lock:
            found = self._items.get(resource_id)
            return _copy(found) if found is not None else None

    def get(self, resource_id: str) -> M:
        found = self.find(resource_id)
        if found is None:
            name = self.kind.cls.DESCRIPTOR.name
            raise not_found(
                self.kind.not_found_reason,
                f"no {name} with {self.kind.id_field} {resource_id!r}",
                **{self.kind.id_field: resource_id},
            )
        return found

    def all(self) -> list[M]:
        """Every resource, ordered by id ascending."""
        with self._lock:
            return [_copy(self._items[key]) for key in sorted(self._items)]

    def list(
        self,
        page_size: int,
        page_token: str,
        keep: Callable[[M], bool] = lambda _: True,
        request: Message | None = None,
    ) -> tuple[list[M], str]:
        """A page of the kept resources; with ``request`` the page token is bound to its RPC and filters."""
        items = [item for item in self.all() if keep(item)]
        return page(items, self.kind, page_size, page_token, request=request)

    def create(self, message: M) -> M:
        """Stores ``message`` with create_time and update_time set to now (output only: ignored on input); the
        same message again returns the stored one, another one ALREADY_EXISTS."""
        resource_id = self.kind.id_of(message)
        with self._lock:
            existing = self._items.get(resource_id)
            if existing is not None and not same_request(_without_times(existing), _without_times(message)):
                raise already_exists(
                    "ALREADY_EXISTS",
                    f"{self.kind.cls.DESCRIPTOR.name} {resource_id!r} exists with different content",
                    **{self.kind.id_field: resource_id},
                )
            if existing is None:
                stored = _without_times(message)
                _set_times(stored, "create_time", "update_time")
                self._items[resource_id] = stored
            return _copy(self._items[resource_id])

    def update(self, message: M, mask: field_mask_pb2.FieldMask) -> M:
        """Copies the ``mask`` paths (top-level fields) of ``message`` onto the stored resource."""
        fields = self.kind.cls.DESCRIPTOR.fields_by_name
        unknown = [path for path in mask.paths if path not in fields]
        if unknown or not mask.paths:
            raise invalid_argument(
                "INVALID_UPDATE_MASK",
                f"update_mask paths must be top-level fields of {self.kind.name}: {', '.join(unknown) or '(none)'}",
                paths=",".join(unknown),
            )
        immutable = [path for path in mask.paths if path in (self.kind.id_field, *OUTPUT_ONLY)]
        if immutable:
            raise invalid_argument(
                "INVALID_UPDATE_MASK",
                f"update_mask paths name fields that cannot be updated: {', '.join(immutable)}",
                paths=",".join(immutable),
            )
        resource_id = self.kind.id_of(message)
        with self._lock:
            updated = self.get(resource_id)
            for path in mask.paths:
                field = fields[path]
                if field.message_type is not None or field.is_repeated or field.has_presence:
                    updated.ClearField(path)
                    if field.is_repeated:
                        getattr(updated, path).extend(getattr(message, path))
                    elif message.HasField(path):
                        if field.message_type is not None:
                            getattr(updated, path).CopyFrom(getattr(message, path))
                        else:
                            setattr(updated, path, getattr(message, path))
                else:
                    setattr(updated, path, getattr(message, path))
            _set_times(updated, "update_time")
            broken = violations(updated)
            if broken:
                raise validation_failed(self.kind.name, broken)
            self._items[resource_id] = _copy(updated)
            return updated


def _copy(message: M) -> M:
    clone = type(message)()
    clone.CopyFrom(message)
    return clone


OUTPUT_ONLY = ("create_time", "update_time", "etag")
"""Fields a client never writes: set by the server, ignored on Create, refused in an update_mask."""


def _without_times(message: M) -> M:
    """A copy without the server-set create_time and update_time (what a Create request's resource means)."""
    clone = _copy(message)
    for name in ("create_time", "update_time"):
        if name in clone.DESCRIPTOR.fields_by_name:
            clone.ClearField(name)
    return clone


def _set_times(message: Message, *names: str) -> None:
    """Sets the named google.protobuf.Timestamp fields the message has to one and the same now."""
    now = time.time_ns()
    for name in names:
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is not None and field.message_type is not None and field.message_type.full_name == TIMESTAMP:
            getattr(message, name).FromNanoseconds(now)


SEEDED = (
    asset_pb2.Asset,
    chain_pb2.Chain,
    deployment_pb2.AssetDeployment,
    instrument_pb2.Instrument,
    market_pb2.Market,
    market_data_pb2.Price,
    order_book_pb2.OrderBook,
    market_data_pb2.Trade,
    identifier_pb2.Identifier,
    asset_identifier_pb2.AssetIdentifier,
    venue_pb2.Venue,
    venue_asset_pb2.VenueAsset,
    account_pb2.VenueAccount,
)


def examples_dir(testdata: str | os.PathLike[str]) -> Path:
    """``testdata/examples`` given the testdata directory (or the examples directory itself)."""
    root = Path(testdata)
    for candidate in (root / "examples", root):
        if (candidate / asset_pb2.Asset.DESCRIPTOR.full_name).is_dir():
            return candidate
    raise FileNotFoundError(f"no CQC examples under {root} (expected {root / 'examples'}/<message type>/*.json)")


def load_examples(directory: Path | None, cls: type[M]) -> list[M]:
    """Every example of ``cls`` in ``directory`` (``<full name>/<example>.json``), sorted by file name; with no
    directory, the examples of the seed bundle shipped in the package (:mod:`cqc.testing.seed`)."""
    found: list[M] = []
    if directory is None:
        for example in seed_examples(cls.DESCRIPTOR.full_name).values():
            message = cls()
            json_format.ParseDict(example, message)
            found.append(message)
        return found
    for path in sorted((directory / cls.DESCRIPTOR.full_name).glob("*.json")):
        message = cls()
        json_format.Parse(path.read_text(encoding="utf-8"), message)
        found.append(message)
    return found


class Store:
    """Everything a reference server knows: the seeded examples and what clients created since."""

    def __init__(self, testdata: str | os.PathLike[str] | None = None) -> None:
        self.lock = threading.RLock()
        self.assets = Table(ASSET, self.lock)
        self.chains = Table(CHAIN, self.lock)
        self.deployments = Table(DEPLOYMENT, self.lock)
        self.instruments = Table(INSTRUMENT, self.lock)
        self.markets = Table(MARKET, self.lock)
        self.identifiers = Table(IDENTIFIER, self.lock)
        self.asset_identifiers = Table(ASSET_IDENTIFIER, self.lock)
        self.venues = Table(VENUE, self.lock)
        self.venue_assets = Table(VENUE_ASSET, self.lock)
        self.accounts = Table(ACCOUNT, self.lock)
        self.orders = Table(ORDER, self.lock)
        self.relationships = Table(RELATIONSHIP, self.lock)
        self.quality_flags = Table(QUALITY_FLAG, self.lock)
        self.groups = Table(GROUP, self.lock)
        self.prices: list[market_data_pb2.Price] = []
        self.order_books: list[order_book_pb2.OrderBook] = []
        self.trades: list[market_data_pb2.Trade] = []
        # The examples directory the store was seeded from (MarketData loads its other feeds from it); None:
        # the packaged seed bundle.
        self.examples_directory: Path | None = None
        # PlaceOrder / CancelOrder idempotency: request_id -> (request payload, order_id).
        self.placements: dict[str, tuple[Message, str]] = {}
        self.cancellations: dict[str, tuple[Message, str]] = {}
        self.seed(examples_dir(testdata) if testdata is not None else None)

    def seed(self, directory: Path | None) -> None:
        """Loads the examples of ``directory``, or of the packaged seed bundle when it is None."""
        self.examples_directory = directory
        _fill(self.assets, directory)
        _fill(self.chains, directory)
        _fill(self.deployments, directory)
        _fill(self.instruments, directory)
        _fill(self.markets, directory)
        _fill(self.identifiers, directory)
        _fill(self.asset_identifiers, directory)
        _fill(self.venues, directory)
        _fill(self.venue_assets, directory)
        _fill(self.accounts, directory)
        _fill(self.relationships, directory)
        _fill(self.quality_flags, directory)
        _fill(self.groups, directory)
        self.prices.extend(load_examples(directory, market_data_pb2.Price))
        self.order_books.extend(load_examples(directory, order_book_pb2.OrderBook))
        self.trades.extend(load_examples(directory, market_data_pb2.Trade))


def _fill(table: Table[M], directory: Path | None) -> None:
    for message in load_examples(directory, table.kind.cls):
        table.put(message)

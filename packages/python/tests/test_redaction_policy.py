"""The redaction policy of proto/README.md ("Redaction"), enforced on every field of the contract.

Walks every message descriptor of every cqc.* file and checks, both ways:
- a field whose name says it is sensitive (a wallet/deposit/withdrawal address, a memo or tag, a venue
  account identifier, an api key id, a credential reference, personal data, a raw source record) is marked
  `debug_redact = true`, unless it is listed in PUBLIC with the reason it is public protocol data;
- a field marked `debug_redact` is sensitive by name or listed in REDACTED_BY_DECISION;
- the comment of a redacted field says so ("Redacted ...") and a comment that says "Redacted" belongs to a
  redacted field, so documentation and behaviour cannot drift apart.
A new field therefore cannot slip through: it either matches the policy or must be listed here with a
reason, in review.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

from conftest import REPO_ROOT
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

import cqc

SENSITIVE = re.compile(
    r"(^|_)address$"  # wallet, deposit, withdrawal, vault addresses
    r"|(^|_)(memo|tag)$"  # destination memos and tags
    r"|external_account_id|subaccount|sub_account|venue_portfolio_id|party_id"  # venue account identifiers
    r"|api_key|credential|_ref$|password|passphrase|secret|private_key|mnemonic"  # credentials and references
    r"|email|phone|(^|_)owner$|trader_id|(^|_)uid$|iban|full_name|user_name|username"  # personal data
    r"|^raw_(json|text|bytes)$"  # raw source records: they can carry any of the above
)

# Fields whose names look sensitive but hold public protocol data (contracts, pools, tokens, oracles,
# factories: published on-chain by the protocol, identical for every user) or patterns, never a
# customer's address. Each entry says why.
PUBLIC: dict[str, str] = {
    "cqc.assets.v1.AssetDeployment.address": "token contract address of an asset on a chain",
    "cqc.assets.v1.AssetDeployment.VenueNetwork.contract_address": "token contract address used by a venue",
    "cqc.assets.v1.AssetRelationship.via_address": "protocol contract linking two assets (wrapper, bridge)",
    "cqc.markets.v1.AmmPoolSpecs.pool_address": "AMM pool contract",
    "cqc.markets.v1.AmmPoolSpecs.factory_address": "AMM factory contract",
    "cqc.markets.v1.AmmPoolSpecs.hooks_address": "Uniswap v4 hooks contract",
    "cqc.markets.v1.AmmPoolSpecs.vault_address": "protocol vault contract (Balancer Vault)",
    "cqc.markets.v1.AmmPoolSpecs.base_pool_address": "Curve base pool contract",
    "cqc.markets.v1.AmmPoolSpecs.deposit_zap_address": "Curve deposit zap contract",
    "cqc.markets.v1.AmmPoolToken.asset_manager_address": "Balancer asset manager contract",
    "cqc.markets.v1.AmmPoolToken.rate_provider_address": "Balancer rate provider contract",
    "cqc.markets.v1.InterestRateStrategy.strategy_address": "lending protocol strategy contract",
    "cqc.markets.v1.LendingReserve.oracle_address": "price oracle contract",
    "cqc.markets.v1.LendingReserve.pool_address": "lending pool contract",
    "cqc.markets.v1.RewardEmission.distributor_address": "reward distributor contract",
    "cqc.venues.v1.VenueAssetNetwork.contract_address": "token contract address on a venue's network",
    "cqc.venues.v1.VenueContract.address": "a venue's published protocol contract",
    "cqc.services.v1.ListAssetDeploymentsRequest.address": "filter by a token contract address",
    "cqc.types.v1.SourceRecord.endpoint": "request path; credentials are refused by cqc.no_credential_params",
    "cqc.markets.v1.Price.source_ref": "a public price series id (oracle feed contract, Pyth id, index name)",
    "cqc.venues.v1.Party.party_id_source": "the FIX PartyIDSource code (448's scheme), not an identifier",
    "cqc.config.v1.VenueGatewayConfig.venue_credentials": "a list of messages; their credential_ref is redacted",
    "cqc.config.v1.VenueGatewayConfig.asset_registry_address": "a service's network address (host:port)",
    "cqc.config.v1.MarketDataConfig.asset_registry_address": "a service's network address (host:port)",
    "cqc.config.v1.RiskEngineConfig.portfolio_address": "a service's network address (host:port)",
    "cqc.config.v1.ServerConfig.listen_address": "the service's own listen address (host:port)",
}

# Fields redacted although their names do not say so; each entry says why.
REDACTED_BY_DECISION: dict[str, str] = {
    "cqc.config.v1.TlsConfig.key_file": "where the TLS private key lives (like a credential reference)",
}

# Name patterns that look sensitive but are not (checked before SENSITIVE).
NOT_SENSITIVE = re.compile(r"_regex$|_page_token$|^page_token$|^resume_token$")


def _files() -> list[FileDescriptor]:
    files = []
    for module in pkgutil.walk_packages(cqc.__path__, "cqc."):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(module.name).DESCRIPTOR
            if descriptor.package.startswith("cqc."):
                files.append(descriptor)
    return files


def _messages(descriptor: Descriptor) -> Iterator[Descriptor]:
    yield descriptor
    for nested in descriptor.nested_types:
        if not nested.GetOptions().map_entry:
            yield from _messages(nested)


def _fields() -> Iterator[tuple[str, FieldDescriptor]]:
    for file in _files():
        for message in file.message_types_by_name.values():
            for descriptor in _messages(message):
                for field in descriptor.fields:
                    yield f"{descriptor.full_name}.{field.name}", field


def _comments() -> dict[str, str]:
    """Leading comment of every field, keyed by "<message full name>.<field>", parsed from the sources."""
    declaration = re.compile(r"^\s*(optional |repeated )?(map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+")
    result: dict[str, str] = {}
    for path in sorted((REPO_ROOT / "proto" / "cqc").glob("*/v1/*.proto")):
        text = path.read_text("utf-8")
        package = re.search(r"^package ([\w.]+);", text, re.MULTILINE)
        assert package is not None, path
        stack: list[tuple[str, int]] = []
        depth = 0
        comment: list[str] = []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("//"):
                comment.append(stripped[2:].strip())
                continue
            opened = re.match(r"^\s*message (\w+) \{", line)
            if opened:
                stack.append((opened.group(1), depth))
            field = declaration.match(line)
            if field and stack and not stripped.startswith(("option ", "reserved ", "rpc ")):
                name = ".".join([package.group(1), *(s[0] for s in stack), field.group(3)])
                result[name] = " ".join(comment)
            code = re.sub(r"\"(?:[^\"\\]|\\.)*\"", "", line).split("//", 1)[0]
            depth += code.count("{") - code.count("}")
            while stack and depth <= stack[-1][1]:
                stack.pop()
            comment = []
    return result


def test_policy_lists_are_current() -> None:
    names = {name for name, _ in _fields()}
    stale = sorted((set(PUBLIC) | set(REDACTED_BY_DECISION)) - names)
    assert not stale, f"policy entries for fields that no longer exist: {stale}"


def test_sensitive_fields_are_redacted() -> None:
    missing = [
        name
        for name, field in _fields()
        if SENSITIVE.search(field.name)
        and not NOT_SENSITIVE.search(field.name)
        and name not in PUBLIC
        and not field.GetOptions().debug_redact
    ]
    assert not missing, (
        "fields that the redaction policy (proto/README.md, Redaction) says must be debug_redact; mark them, "
        f"or list them in PUBLIC with the reason they are public protocol data: {missing}"
    )


def test_redacted_fields_are_sensitive_by_policy() -> None:
    unexplained = [
        name
        for name, field in _fields()
        if field.GetOptions().debug_redact
        and not (SENSITIVE.search(field.name) and name not in PUBLIC)
        and name not in REDACTED_BY_DECISION
    ]
    assert not unexplained, f"debug_redact fields outside the policy; add them to REDACTED_BY_DECISION: {unexplained}"


def test_comments_match_redaction() -> None:
    comments = _comments()
    fields = dict(_fields())
    undocumented = [
        name
        for name, field in fields.items()
        if field.GetOptions().debug_redact and not re.search(r"\bredacted\b", comments.get(name, ""), re.IGNORECASE)
    ]
    assert not undocumented, f'debug_redact fields whose comment does not say "Redacted": {undocumented}'
    claimed = [
        name
        for name, comment in comments.items()
        if re.search(r"\bRedacted\b", comment) and name in fields and not fields[name].GetOptions().debug_redact
    ]
    assert not claimed, f'comments that say "Redacted" on fields without debug_redact: {claimed}'


def test_comment_parser_sees_every_field() -> None:
    comments = _comments()
    missing = [name for name, _ in _fields() if name not in comments]
    assert not missing[:1], f"the comment parser missed fields (first few): {missing[:5]}"

"""The coverage measure of the conformance corpus (conformance_coverage.py; testdata/conformance/README.md,
"Coverage"): where a violation lands, which messages a valid case shows, what a decode error counts for."""

from __future__ import annotations

import pytest
from conformance_coverage import _landing, compute, has_rules
from corpus import Case

MARKET = "cqc.markets.v1.Market"


@pytest.mark.parametrize(
    ("path", "rule", "inside"),
    [
        ("", "market.tick_rule_required", [MARKET]),
        # a rule of the field holding a message lands in the holder, not in the held message
        ("tick_rule", "required", [MARKET]),
        ("price_limits", "required", [MARKET]),
        # the held message's own message rule lands inside it
        ("price_limits", "price_limits.min_not_above_max", [MARKET, "cqc.markets.v1.PriceLimits"]),
        # a oneof rule lands in the message declaring the oneof
        ("tick_rule.rule", "required", [MARKET, "cqc.markets.v1.TickRule"]),
        # every message the path passes through, list items included
        (
            "tick_rule.stepped.steps[0].tick_size",
            "cqc.decimal.positive",
            [MARKET, "cqc.markets.v1.TickRule", "cqc.markets.v1.SteppedTick", "cqc.markets.v1.TickStep"],
        ),
    ],
)
def test_violation_lands_in(path: str, rule: str, inside: list[str]) -> None:
    assert _landing(MARKET, path, rule) == inside


def test_unknown_field_in_a_path_is_an_error() -> None:
    with pytest.raises(ValueError, match="no field"):
        _landing(MARKET, "tick_rule.nope", "required")


def test_rules_in_the_subtree() -> None:
    assert not has_rules("cqc.markets.v1.LendingReserveFlags")
    assert not has_rules("cqc.markets.v1.SpotInstrument")
    assert has_rules("cqc.markets.v1.FixedTick")
    assert has_rules("cqc.markets.v1.TickRule")  # through FixedTick as well as its own oneof rule


def test_valid_case_shows_populated_nested_messages_only() -> None:
    value = {"tickRule": {"fixed": {"tickSize": "0.01"}}, "priceLimits": {}}
    covered = compute([Case(name="t", type=MARKET, value=value, valid=True)])
    assert {MARKET, "cqc.markets.v1.TickRule", "cqc.markets.v1.FixedTick"} <= set(covered.valid)
    assert "cqc.markets.v1.PriceLimits" not in covered.valid  # present but empty
    assert not covered.rejected


def test_decode_error_rejects_only_a_type_without_rules() -> None:
    flags = Case(name="a", type="cqc.markets.v1.LendingReserveFlags", value={"x": 1}, parse_error=True)
    tick = Case(name="b", type="cqc.markets.v1.FixedTick", value={"x": 1}, parse_error=True)
    covered = compute([flags, tick])
    assert set(covered.rejected) == {"cqc.markets.v1.LendingReserveFlags"}

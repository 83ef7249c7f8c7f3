"""cqc.decimal against the shared cases (testdata/helpers/decimal-cases.json), plus property checks.

The same case file runs in Go (decimal_test.go) and TypeScript (test/decimal.test.ts).
"""

from __future__ import annotations

import decimal
import json
import random
from decimal import Decimal
from typing import Any, cast

import pytest
from conftest import TESTDATA

from cqc import decimal as cqcdecimal
from cqc.types.v1 import amount_pb2
from cqc.validation import violations

CASES: list[dict[str, Any]] = json.loads((TESTDATA / "helpers" / "decimal-cases.json").read_text("utf-8"))["cases"]


def _run(op: str, args: list[str]) -> str | bool:
    if op == "parse":
        return cqcdecimal.format(cqcdecimal.parse(args[0]))
    if op == "format":
        coefficient, exponent = args
        return cqcdecimal.format(Decimal(f"{coefficient}E{int(exponent)}"))
    if op == "is_multiple":
        return cqcdecimal.is_multiple(args[0], args[1])
    if op == "round_to_increment":
        mode = cast(cqcdecimal.RoundingModeName, args[2])
        return cqcdecimal.format(cqcdecimal.round_to_increment(args[0], args[1], mode))
    raise AssertionError(f"unknown op {op!r}")


def test_case_file_is_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 120
    for case in CASES:
        assert case["op"] in {"parse", "format", "is_multiple", "round_to_increment"}, case["name"]
        assert ("result" in case) != bool(case.get("error")), case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(ValueError):
            _run(case["op"], case["args"])
    else:
        assert _run(case["op"], case["args"]) == case["result"]


def test_errors_name_input_and_rule() -> None:
    with pytest.raises(cqcdecimal.InvalidDecimalError) as caught:
        cqcdecimal.parse("1e5")
    assert caught.value.input == "1e5" and caught.value.rule_id == "cqc.decimal"
    assert "'1e5'" in str(caught.value) and "[cqc.decimal]" in str(caught.value)
    with pytest.raises(cqcdecimal.InvalidDecimalError, match="negative zero"):
        cqcdecimal.parse("-0.000")
    with pytest.raises(cqcdecimal.InvalidDecimalError, match="100 characters"):
        cqcdecimal.parse("1" * 101)
    with pytest.raises(cqcdecimal.InvalidDecimalError) as caught:
        cqcdecimal.is_multiple("1", "0")
    assert caught.value.rule_id == "cqc.decimal.positive" and caught.value.input == "0"
    with pytest.raises(ValueError, match="HALF_UP"):
        cqcdecimal.round_to_increment("1", "1", cast(cqcdecimal.RoundingModeName, "HALF_UP"))


def test_format_rejects_non_finite_values() -> None:
    for value in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(cqcdecimal.InvalidDecimalError):
            cqcdecimal.format(value)
        with pytest.raises(cqcdecimal.InvalidDecimalError):
            cqcdecimal.is_multiple(value, "1")
    with pytest.raises(TypeError):
        cqcdecimal.format(cast(Decimal, 1.5))


def test_values_and_modes_accept_decimals_and_enum() -> None:
    result = cqcdecimal.round_to_increment(Decimal("43050.127"), Decimal("0.01000000"), cqcdecimal.RoundingMode.DOWN)
    assert result == Decimal("43050.12") and str(result) == "43050.12000000"  # the increment's scale
    assert cqcdecimal.is_multiple(Decimal("1E+5"), Decimal("2.5"))
    assert str(cqcdecimal.round_to_increment("-0.004", "0.01", "DOWN")) == "0.00"  # never a negative zero


def test_global_context_is_neither_used_nor_changed() -> None:
    value = "9" * 98 + ".5"  # 99 significant digits, far beyond the context's 3
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.traps[decimal.Inexact] = True
        before = ctx.copy()
        assert cqcdecimal.format(cqcdecimal.round_to_increment(value, "1", "HALF_EVEN")) == "1" + "0" * 98
        assert cqcdecimal.is_multiple(value, "0.5") and not cqcdecimal.is_multiple(value, "1")
        assert ctx.prec == before.prec and ctx.flags == before.flags


def _random_decimal(rng: random.Random) -> str:
    whole = rng.choice(["0", str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=rng.randint(0, 40)))])
    fraction = "".join(rng.choices("0123456789", k=rng.randint(0, 40)))
    text = whole + ("." + fraction if fraction else "")
    negative = rng.random() < 0.5 and Decimal(text) != 0
    return ("-" + text if negative else text)[: cqcdecimal.MAX_LENGTH]


def test_format_of_parse_reparses_to_an_equal_value() -> None:
    rng = random.Random(20241125)
    samples = [c["args"][0] for c in CASES if c["op"] == "parse" and not c.get("error")]
    samples += [_random_decimal(rng) for _ in range(2000)]
    for text in samples:
        value = cqcdecimal.parse(text)
        canonical = cqcdecimal.format(value)
        assert cqcdecimal.parse(canonical) == value, text
        assert cqcdecimal.format(cqcdecimal.parse(canonical)) == canonical, text  # canonical is a fixed point
        assert len(canonical) <= len(text)


def test_round_result_is_a_multiple_within_one_increment() -> None:
    rng = random.Random(7)
    for _ in range(500):
        value = Decimal(_random_decimal(rng)[:30])
        increment = cqcdecimal.parse(rng.choice(["0.01", "2.5", "0.00000001", "0.25", "1", "100", "0.3", "7"]))
        for mode in cqcdecimal.RoundingMode:
            rounded = cqcdecimal.round_to_increment(value, increment, mode)
            assert cqcdecimal.is_multiple(rounded, increment)
            assert abs(rounded - value) < increment
            if mode is cqcdecimal.RoundingMode.FLOOR:
                assert rounded <= value
            if mode is cqcdecimal.RoundingMode.CEIL:
                assert rounded >= value
            if mode is cqcdecimal.RoundingMode.DOWN:
                assert abs(rounded) <= abs(value)
            if mode is cqcdecimal.RoundingMode.UP:
                assert abs(rounded) >= abs(value)


# Strings for which parse must agree with the cqc.decimal rule as protovalidate evaluates it.
GRAMMAR_PROBES = sorted(
    {c["args"][0] for c in CASES if c["op"] == "parse"}
    | {"", "0", "-0", "-0.0", "+0", "1.", ".1", "1e3", "00", "0.0", "-0.01", "9" * 100, "9" * 101, "-" + "9" * 99}
    | {"-" + "9" * 100, "1\n", "1\r\n", "\u0661", "\uff11", "1\u0000", "\u00a01", "0.00000000", "1.000"}
    | {"12345678901234567890", "-12345678901234567890.0001", "0.1.", "1-", "\u0663.\u0665"}
)


@pytest.mark.parametrize("text", GRAMMAR_PROBES, ids=[repr(t)[:40] for t in GRAMMAR_PROBES])
def test_parse_accepts_exactly_what_the_proto_rule_accepts(text: str) -> None:
    amount = amount_pb2.AssetAmount(amount=text, asset_id="ast_01JDVSDC000000000000000000")
    rule_accepts = not [v for v in violations(amount) if v.field == "amount"]
    try:
        cqcdecimal.parse(text)
        parse_accepts = True
    except cqcdecimal.InvalidDecimalError:
        parse_accepts = False
    assert parse_accepts == rule_accepts

"""CQC decimal strings as exact :class:`decimal.Decimal` values.

Decimals travel as strings in one grammar (``cqc.decimal`` in ``proto/cqc/types/v1/rules.proto``):
``^-?(0|[1-9][0-9]*)(\\.[0-9]+)?$``, at most 100 characters, no negative zero. This module converts between
that string and an exact value, and does the two checks a trading service makes on prices and sizes: is a
value on a tick or lot (:func:`is_multiple`), and the nearest value that is (:func:`round_to_increment`).
Go (``cqc.ParseDecimal`` ...) and TypeScript (``@crypto-quant/cqc/decimal``) implement the same behaviour,
proven by the shared cases in ``testdata/helpers/decimal-cases.json``.

Nothing here reads or changes the thread's global decimal context: arithmetic runs in a local context sized
to its operands, with inexact results trapped, so a result is exact or an error, never silently rounded.
"""

from __future__ import annotations

import decimal as _decimal
import re
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "MAX_LENGTH",
    "InvalidDecimalError",
    "RoundingMode",
    "format",
    "is_multiple",
    "parse",
    "round_to_increment",
]

MAX_LENGTH: Final = 100
"""The longest decimal string the contract accepts, in characters."""

_GRAMMAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")  # used with fullmatch: no trailing-newline escape
_NEGATIVE_ZERO = re.compile(r"-0(?:\.0+)?")
_PATTERN_TEXT = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"


class InvalidDecimalError(ValueError):
    """A string or value that is not a CQC decimal, or an increment that is not positive.

    ``input`` is the offending input (as given, or ``repr`` of a non-string), ``reason`` what is wrong and
    ``rule_id`` the contract rule it breaks (``"cqc.decimal"``, or ``"cqc.decimal.positive"`` for increments).
    """

    def __init__(self, input: str, reason: str, rule_id: str = "cqc.decimal") -> None:
        self.input = input
        self.reason = reason
        self.rule_id = rule_id
        super().__init__(f"invalid decimal {input!r}: {reason} [{rule_id}]")


class RoundingMode(StrEnum):
    """How :func:`round_to_increment` picks a multiple when the value is between two."""

    DOWN = "DOWN"
    """Toward zero."""
    UP = "UP"
    """Away from zero."""
    FLOOR = "FLOOR"
    """Toward negative infinity."""
    CEIL = "CEIL"
    """Toward positive infinity."""
    HALF_EVEN = "HALF_EVEN"
    """To the nearest multiple; a tie goes to the even multiple (banker's rounding)."""


RoundingModeName = Literal["DOWN", "UP", "FLOOR", "CEIL", "HALF_EVEN"]


def parse(s: str) -> Decimal:
    """The exact value of the CQC decimal string ``s``.

    Accepts exactly what the ``cqc.decimal`` rule accepts; anything else ("1e5", "+1", ".5", "01", " 1",
    "NaN", "-0", more than 100 characters, ...) raises :class:`InvalidDecimalError` naming ``s`` and the
    rule. The value keeps the string's scale (``parse("0.010")`` is ``Decimal("0.010")``), which compares
    equal to the same number at any other scale.
    """
    if not isinstance(s, str):
        raise InvalidDecimalError(repr(s), f"not a string but {type(s).__name__}")
    if len(s) > MAX_LENGTH:
        raise InvalidDecimalError(s, f"longer than {MAX_LENGTH} characters ({len(s)})")
    if _GRAMMAR.fullmatch(s) is None:
        raise InvalidDecimalError(s, f"does not match {_PATTERN_TEXT}")
    if _NEGATIVE_ZERO.fullmatch(s) is not None:
        raise InvalidDecimalError(s, "negative zero (zero is written without a sign)")
    return Decimal(s)  # exact: the constructor never rounds


def format(value: Decimal) -> str:
    """The canonical CQC string of a finite ``value``.

    No exponent, no ``+``, no leading zeros, ``-`` only for a non-zero value, no trailing zeros after the
    point and no point for an integer: ``format(Decimal("1E+5")) == "100000"``,
    ``format(parse("0.01000000")) == "0.01"``, ``format(Decimal("-0.00")) == "0"``. NaN and infinities raise
    :class:`InvalidDecimalError`. The result is not limited to 100 characters (a computed value may be longer
    than the contract allows; check with :func:`parse` before sending it).
    """
    value = _finite(value)
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0"
    if exponent >= 0:
        text = digits + "0" * exponent
    else:
        stripped = digits.rstrip("0")
        exponent += len(digits) - len(stripped)
        digits = stripped
        if exponent >= 0:
            text = digits + "0" * exponent
        else:
            scale = -exponent
            whole, fraction = digits[:-scale], digits[-scale:]
            text = (whole or "0") + "." + fraction.rjust(scale, "0")
    return "-" + text if sign else text


def is_multiple(value: Decimal | str, increment: Decimal | str) -> bool:
    """Whether ``value`` is an exact multiple of ``increment`` (> 0): the check a tick size or lot size makes.

    Strings are parsed with :func:`parse`. ``is_multiple("43050.12", "0.01")`` is true,
    ``is_multiple("101", "2.5")`` false, zero is a multiple of everything. An increment that is not greater
    than zero raises :class:`InvalidDecimalError` (rule ``cqc.decimal.positive``).
    """
    v, inc = _operand(value), _increment(increment)
    if v.is_zero():
        return True
    return _context(v, inc).remainder(v, inc).is_zero()


def round_to_increment(
    value: Decimal | str, increment: Decimal | str, mode: RoundingMode | RoundingModeName
) -> Decimal:
    """The multiple of ``increment`` (> 0) nearest ``value`` in the direction ``mode`` says.

    A value that already is a multiple is returned unchanged (at the increment's scale). The result carries
    the increment's scale (``round_to_increment("43050.127", "0.01000000", "DOWN")`` is
    ``Decimal("43050.12000000")``; :func:`format` gives ``"43050.12"``) and is never a negative zero.
    Raises :class:`InvalidDecimalError` for an invalid value or a non-positive increment and
    :class:`ValueError` for an unknown mode.
    """
    try:
        rounding = RoundingMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in RoundingMode)
        raise ValueError(f"unknown rounding mode {mode!r}: one of {allowed}") from None
    v, inc = _operand(value), _increment(increment)
    ctx = _context(v, inc)
    # divide_int truncates toward zero; remainder has the value's sign and |remainder| < increment.
    quotient, remainder = ctx.divide_int(v, inc), ctx.remainder(v, inc)
    if not remainder.is_zero():
        away = Decimal(-1 if v.is_signed() else 1)
        if rounding is RoundingMode.UP:
            quotient = ctx.add(quotient, away)
        elif rounding is RoundingMode.FLOOR:
            if v.is_signed():
                quotient = ctx.add(quotient, away)
        elif rounding is RoundingMode.CEIL:
            if not v.is_signed():
                quotient = ctx.add(quotient, away)
        elif rounding is RoundingMode.HALF_EVEN:
            twice = ctx.multiply(remainder.copy_abs(), Decimal(2))
            if twice > inc or (twice == inc and ctx.remainder(quotient, Decimal(2)) != 0):
                quotient = ctx.add(quotient, away)
        # DOWN keeps the truncated quotient.
    result = ctx.multiply(quotient, inc)
    return result.copy_abs() if result.is_zero() else result


def _context(*operands: Decimal) -> _decimal.Context:
    """A local context precise enough for exact quotients, remainders and products of the operands.

    The integer quotient of ``a / b`` has at most ``a.adjusted() - b.adjusted() + 1`` digits, and a product of
    that quotient with ``b`` at most that plus ``b``'s digits; the margin covers the rest. Inexact, rounded
    and invalid results raise instead of returning a rounded value.
    """
    spread = max(o.adjusted() for o in operands) - min(o.adjusted() for o in operands)
    digits = sum(len(o.as_tuple().digits) for o in operands)
    return _decimal.Context(
        prec=max(2 * MAX_LENGTH, spread + digits + 10),
        rounding=_decimal.ROUND_HALF_EVEN,
        Emax=_decimal.MAX_EMAX,
        Emin=_decimal.MIN_EMIN,
        traps=[
            _decimal.InvalidOperation,
            _decimal.DivisionByZero,
            _decimal.Overflow,
            _decimal.Inexact,
            _decimal.Rounded,
        ],
    )


def _finite(value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a decimal.Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise InvalidDecimalError(str(value), "not a finite number")
    return value


def _operand(value: Decimal | str) -> Decimal:
    return parse(value) if isinstance(value, str) else _finite(value)


def _increment(increment: Decimal | str) -> Decimal:
    inc = _operand(increment)
    if inc <= 0:
        shown = increment if isinstance(increment, str) else str(increment)
        raise InvalidDecimalError(shown, "an increment must be greater than zero", "cqc.decimal.positive")
    return inc

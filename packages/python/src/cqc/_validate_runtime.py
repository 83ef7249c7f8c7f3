"""Runtime of the generated validators (cqc/_validate/, written by tools/cqcvalidate.py).

Numbers: CEL's ``double(s)`` on a decimal string compiles to :func:`D`. In the default "exact" mode it is a
:class:`decimal.Decimal` of the string (any length, no rounding) and double literals are Decimals, so
cross-field comparisons are exact. The differential test (packages/python/tests/validate_diff.py) loads a
copy of this module with ``EXACT = False``: IEEE doubles, as CEL computes them, to agree with protovalidate.
"""

from __future__ import annotations

import decimal
import math
import operator
import re
from collections.abc import Iterable
from itertools import repeat
from typing import Any

__all__ = ["EvaluationError", "clear_memos"]

_attrgetter = operator.attrgetter
_methodcaller = operator.methodcaller

EXACT = True


class EvaluationError(Exception):
    """A rule could not be evaluated (CEL runtime error, e.g. ``double()`` of a non-number)."""


# Go's strconv.ParseFloat syntax (what CEL's double() accepts): decimal or hex mantissa, exponent, inf, nan.
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9](?:_?[0-9])*)?\.?[0-9]*(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I)
_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")

# Exact arithmetic for the tolerance rules (sums and products of 100-character decimals need < 1,000 digits).
_CTX = decimal.Context(
    prec=10_000, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.InvalidOperation, decimal.Inexact]
)


def _cel_double(s: str) -> float:
    if not _FLOAT.match(s) or s in ("", "+", "-", ".") or "_" in s:
        raise EvaluationError(f"double({s!r}): not a number")
    try:
        return float(s)
    except ValueError as error:
        raise EvaluationError(f"double({s!r}): {error}") from None


if EXACT:

    def D(s: str) -> Any:
        if _PLAIN.match(s):
            return decimal.Decimal(s)
        value = _cel_double(s)
        if math.isnan(value) or math.isinf(value):
            raise EvaluationError(f"double({s!r}): not a finite number")
        return decimal.Decimal(s)

    def DI(n: int) -> Any:
        return decimal.Decimal(n)

    def _number(text: str) -> Any:
        return decimal.Decimal(text)

    def _add(a: Any, b: Any) -> Any:
        return _CTX.add(a, b)

    def _sub(a: Any, b: Any) -> Any:
        return _CTX.subtract(a, b)

    def _mul(a: Any, b: Any) -> Any:
        return _CTX.multiply(a, b)

else:

    def D(s: str) -> Any:
        return _cel_double(s)

    def DI(n: int) -> Any:
        return float(n)

    def _number(text: str) -> Any:
        return float(text)

    def _add(a: Any, b: Any) -> Any:
        return a + b

    def _sub(a: Any, b: Any) -> Any:
        return a - b

    def _mul(a: Any, b: Any) -> Any:
        return a * b


_SHORT = 16  # a plain decimal of at most 16 characters has at most 15 significant digits: exact as a double


if EXACT:
    # Short plain decimals -> their double (exact for comparisons, see _pair), cached: a book's prices are read
    # by several rules. Bounded: cleared when full.
    _SHORT_CACHE: dict[str, float] = {}

    def _short(s: str) -> float | None:
        value = _SHORT_CACHE.get(s)
        if value is None and len(s) <= _SHORT and _PLAIN.match(s):
            if len(_SHORT_CACHE) >= 65_536:
                _SHORT_CACHE.clear()
            value = _SHORT_CACHE[s] = float(s)
        return value

    def DF(s: str) -> Any:
        """double(s) for a comparison with an integral literal: a float when that compares exactly."""
        value = _short(s)
        return D(s) if value is None else value

    def _pair(a: str, b: str) -> tuple[Any, Any]:
        # Correctly rounded conversion is monotonic and injective on decimals of <= 15 significant digits, so
        # comparing their doubles is comparing the decimals; otherwise both become exact Decimals.
        x, y = _short(a), _short(b)
        if x is None or y is None:
            return D(a), D(b)
        return x, y

else:

    def DF(s: str) -> Any:
        return _cel_double(s)

    def _pair(a: str, b: str) -> tuple[Any, Any]:
        return _cel_double(a), _cel_double(b)


def _dlt(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x < y)


def _dle(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x <= y)


def _dgt(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x > y)


def _dge(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x >= y)


def _deq(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x == y)


def _dne(a: str, b: str) -> bool:
    x, y = _pair(a, b)
    return bool(x != y)


_DECIMAL_KEY = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")


_OUT_OF_ORDER = {  # (descending, strict) -> the comparison of neighbours (a, b) that is out of order
    (False, False): operator.gt,
    (False, True): operator.ge,
    (True, False): operator.lt,
    (True, True): operator.le,
}


def _sort_key(key: str) -> float | None:
    """A sort key as a double when that compares exactly as the decimal does (a decimal of at most 16
    characters, so at most 15 significant digits: see _pair), else None."""
    return float(key) if len(key) <= _SHORT and _DECIMAL_KEY.match(key) is not None else None


def _sorted_at(keys: list[str], descending: bool, strict: bool) -> int:
    """cqc.types.v1.SortedRule: the index of the first element out of order, or -1.

    Each key is compared with the one before it, exactly as decimals; a pair in which either key is not a
    decimal is not compared (the key's own field rule reports it). Equal neighbours are out of order when
    ``strict``.
    """
    if len(keys) < 2:
        return -1
    # Fast path: every key a short decimal (memoized doubles) and no neighbours out of order. Otherwise the
    # loop below compares pair by pair and finds the first one.
    values = list(map(_SORT_KEYS.__getitem__, keys))
    if None not in values and not any(map(_OUT_OF_ORDER[descending, strict], values, values[1:])):
        return -1
    prev = None
    for i, key in enumerate(keys):
        if _DECIMAL_KEY.match(key) is None:
            prev = None
            continue
        if prev is not None:
            x, y = _pair(prev, key)
            if (x < y if descending else x > y) or (strict and x == y):
                return i
        prev = key
    return -1


class _Memo(dict):  # type: ignore[type-arg]
    """The results of one pure function of a string (or of an int or bool field value), by value: generated
    code writes ``_M3[v]`` for ``_P3.search(v) is not None`` and ``_DF[v]`` for ``DF(v)``. Values that recur
    (ids, prices, venue names) then cost a dict lookup instead of a regex run. Exceptions are raised and not
    stored. Bounded: strings longer than 4,096 characters are not stored, and every table is emptied when the
    strings they hold reach 4,000,000 characters in all (with 64 per entry for the table itself: at most tens
    of megabytes)."""

    __slots__ = ("test",)

    def __init__(self, test: Any) -> None:
        super().__init__()
        self.test = test
        _MEMOS.append(self)

    def __missing__(self, text: Any) -> Any:
        value = self.test(text)
        size = len(text) if type(text) is str else 0  # or an int or bool (a field value)
        if size <= 4096:
            if _MEMO_STORED[0] >= 4_000_000:
                clear_memos()
            _MEMO_STORED[0] += size + 64
            self[text] = value
        return value


_MEMOS: list[_Memo] = []
_MEMO_STORED = [0]


def clear_memos() -> None:
    """Empties every memo table of the generated validators (benchmarks of a cold start; tests)."""
    for memo in _MEMOS:
        memo.clear()
    _MEMO_STORED[0] = 0
    if EXACT:
        _SHORT_CACHE.clear()


# double(s) of strings, memoized (pure: a number, or EvaluationError, which is not stored)
_D = _Memo(D)
_DF = _Memo(DF)
_SORT_KEYS = _Memo(_sort_key)


class _SearchMemo(_Memo):
    """:class:`_Memo` of "the pattern matches somewhere in the text" (``test`` is the pattern's search)."""

    __slots__ = ()

    def __missing__(self, text: str) -> bool:
        value = self.test(text) is not None
        if len(text) <= 4096:
            if _MEMO_STORED[0] >= 4_000_000:
                clear_memos()
            _MEMO_STORED[0] += len(text) + 64
            self[text] = value
        return value


def _search(pattern: Any) -> _Memo:
    """The memo table of "pattern matches somewhere in the text"."""
    return _SearchMemo(pattern.search)


def _stem_search(pattern: Any, stems: tuple[str, ...]) -> _Memo:
    """:func:`_search` behind the necessary test :func:`_any_stem`."""
    search = pattern.search
    return _Memo(lambda text: _any_stem(text, stems) and search(text) is not None)


def _column(cache: dict[Any, list[Any]], key: tuple[str, str], items: list[Any], getter: Any) -> list[Any]:
    """``[getter(item) for item in items]``, kept in ``cache`` under ``key`` (``("get" or "has", field)``): the
    generated code of one message reads a field (or has()) of the items of a list once, however many rules use
    it. has() calls the items' class's HasField directly (a third of the cost of ``methodcaller``)."""
    column = cache.get(key)
    if column is None:
        if key[0] == "has" and items:
            column = list(map(type(items[0]).HasField, items, repeat(key[1])))
        else:
            column = list(map(getter, items))
        cache[key] = column
    return column


def _fix_paths(out: list[tuple[str, str, str]], start: int, prefix: str) -> int:
    """The violations out[start:] were reported by an item validated with an empty path: put the item's path
    (``prefix``, e.g. ``levels[3]``) in front of their field paths. Returns len(out)."""
    for j in range(start, len(out)):
        path, rule, text = out[j]
        out[j] = (prefix + "." + path if path else prefix, rule, text)
    return len(out)


class _Err:
    """Marks a hoisted sub-expression whose evaluation failed (it is then evaluated in place, per item)."""


_ERR = _Err()


def _try(compute: Any) -> Any:
    try:
        return compute()
    except Exception:
        return _ERR


def _int(n: int) -> int:
    if not -(2**63) <= n < 2**63:
        raise EvaluationError("integer overflow")
    return n


def _index(container: Any, key: Any) -> Any:
    if type(key) is int and 0 <= key < len(container):
        return container[key]
    try:
        if isinstance(key, int) and not isinstance(key, bool) and not isinstance(container, dict):
            raise IndexError(key)
        return container[key]
    except (IndexError, KeyError, TypeError):
        raise EvaluationError(f"no such key or index {key!r}") from None


def _tns(value: Any) -> int:
    """A Timestamp or Duration as integer nanoseconds (comparisons and arithmetic are exact)."""
    return int(value.seconds) * 1_000_000_000 + int(value.nanos)


# CEL's timestamp range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z) and duration range (+-10,000
# years), in nanoseconds: arithmetic that leaves them is an evaluation error, as in CEL.
_TS_MIN = -62_135_596_800 * 1_000_000_000
_TS_MAX = 253_402_300_799 * 1_000_000_000 + 999_999_999
_DUR_MAX = 315_576_000_000 * 1_000_000_000 + 999_999_999


def _ts_range(ns: int) -> int:
    if not _TS_MIN <= ns <= _TS_MAX:
        raise EvaluationError("timestamp out of range")
    return ns


def _dur_range(ns: int) -> int:
    if not -_DUR_MAX <= ns <= _DUR_MAX:
        raise EvaluationError("duration out of range")
    return ns


def _any_stem(text: str, stems: tuple[str, ...]) -> bool:
    """Whether the lower-case text contains one of the stems (a necessary test before a costly pattern)."""
    lowered = text.lower()
    return any(stem in lowered for stem in stems)


def _unique(values: Iterable[Any]) -> bool:
    items = values if type(values) is list else list(values)
    return len(set(items)) == len(items)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return '["' + key + '"]'
    if isinstance(key, bool):
        return f"[{str(key).lower()}]"
    return f"[{key}]"


# RFC 3986 URI (absolute, with scheme), as protovalidate's isUri: no spaces, no non-ASCII, valid percent escapes,
# valid IP literals.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_URI = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?:(?://(?P<authority>[^/?#]*)(?P<abspath>(?:/{_PCHAR}*)*))|(?P<path>(?:/?{_PCHAR}+(?:/{_PCHAR}*)*)?|/))"
    rf"(?:\?(?P<query>(?:{_PCHAR}|[/?])*))?"
    rf"(?:#(?P<fragment>(?:{_PCHAR}|[/?])*))?\Z"
)
_USERINFO = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*\Z")
_REG_NAME = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*\Z")
_PORT = re.compile(r"[0-9]*\Z")
_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\Z"
)
_IPVFUTURE = re.compile(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+\Z")


def _is_ipv6(text: str) -> bool:
    zone = ""
    if "%25" in text:
        text, zone = text.split("%25", 1)
        if not zone or not re.fullmatch(rf"(?:[{_UNRESERVED}]|{_PCT})+", zone):
            return False
    if text.count("::") > 1:
        return False
    parts = text.split(":")
    if parts and "." in parts[-1]:
        if not _IPV4.match(parts[-1]):
            return False
        parts = [*parts[:-1], "0", "0"]
    if "::" in text:
        head, _, tail = ":".join(parts).partition("::")
        groups = [g for g in head.split(":") if g] + [g for g in tail.split(":") if g]
        if len(groups) > 7:
            return False
        for g in head.split(":") + tail.split(":"):
            if g == "":
                continue
        if head and "" in head.split(":"):
            return False
        if tail and "" in tail.split(":"):
            return False
    else:
        groups = parts
        if len(groups) != 8:
            return False
    return all(re.fullmatch(r"[0-9A-Fa-f]{1,4}", g) for g in groups)


def _is_uri(text: str) -> bool:
    m = _URI.match(text)
    if m is None:
        return False
    authority = m.group("authority")
    if authority is None:
        return True
    userinfo, at, hostport = authority.rpartition("@")
    if at and not _USERINFO.match(userinfo):
        return False
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            return False
        literal, rest = hostport[1:end], hostport[end + 1 :]
        if not (_is_ipv6(literal) or _IPVFUTURE.match(literal)):
            return False
        if rest and not (rest.startswith(":") and _PORT.match(rest[1:])):
            return False
        return True
    host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    if colon and not _PORT.match(port):
        return False
    return bool(_REG_NAME.match(host))

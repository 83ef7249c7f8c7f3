"""Contract gaps that real records of the issue-10 kinds run into: listed, never failing.

The ledger's `Gap` fails when the record holds a value (the value would be lost). For the record kinds added
for issue 10 a gap is a finding to list, not a test failure: `open_gap` accounts for the key, the ledger
summary counts it under "gaps", and the reason says which contract field is missing and whose domain it is.
Stand-in registry facts (ids, the chain of a venue network) come from the test, never from the record.
"""

from __future__ import annotations

from typing import Any

from .ledger import Gap, RawOnly


class _AnyValue:
    """Equal to every value, so that `value in (ANY,)` holds and the Gap never reports a loss."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<any value>"


ANY: Any = _AnyValue()


def open_gap(reason: str, owner: str) -> Gap:
    """A key with trading meaning and no typed home yet; `owner` is the domain that should add it."""
    return Gap(f"GAP [{owner}]: {reason}", empty=(ANY,))


def raw(reason: str) -> RawOnly:
    """A key kept only in source_record, by design (display text, derivable value, indexer artefact)."""
    return RawOnly(reason)

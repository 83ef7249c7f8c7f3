"""Ledger helpers shared by the mappers of the issue-10 record kinds.

Every key of these records with trading meaning has a typed field: a key with no field would be a contract gap,
and the ledger's `Gap` fails as soon as a record holds a value for it (the value would be lost), exactly as for
the first ten records. What stays outside typed fields is kept only in `source_record`, by design, with a reason.
Stand-in registry facts (ids, the chain of a venue network) come from the test, never from the record.
"""

from __future__ import annotations

from .ledger import RawOnly


def raw(reason: str) -> RawOnly:
    """A key kept only in source_record, by design (display text, derivable value, indexer artefact)."""
    return RawOnly(reason)

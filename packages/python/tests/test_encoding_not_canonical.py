"""Encoding is not canonical across languages (proto/README.md, "Encoding is not canonical"): the same message
gives different bytes in Go and in Python, and both decode to equal messages. Nothing may hash or de-duplicate
encoded bytes across languages; compare decoded messages or ids instead."""

from __future__ import annotations

import base64
import json

from conftest import REPO_ROOT
from google.protobuf import json_format

from cqc.identifiers.v1 import identifier_pb2
from cqc.wire import decode_binary

EXAMPLE = REPO_ROOT / "testdata/examples/cqc.identifiers.v1.Identifier/instrument-btc-usdt-ccxt.json"

# proto.Marshal of the example in Go (google.golang.org/protobuf 1.36, recorded with the fuzz executor
# packages/go/internal/cmd/cqc-fuzz-exec): Go writes the set oneof member (instrument_id, field 4) after the
# other fields; Python and TypeScript write it in field-number order.
GO_BYTES = base64.b64decode(
    "Ch5pZGZfMDFKREdFTkJUQ1ZTRFRDQ1hUMDAwMDAwMDASCklOU1RSVU1FTlQwCjoIQlRDL1VTRFRgASIeaW5zXzAxSkRCVENWU0RUU1BUMDAwMDAwMDAwMDAw"
)


def test_go_and_python_bytes_differ_but_decode_to_equal_messages() -> None:
    expected = json_format.Parse(EXAMPLE.read_text(), identifier_pb2.Identifier())
    python_bytes = expected.SerializeToString()
    assert python_bytes != GO_BYTES, "the encodings became equal: update proto/README.md and this test"
    assert sorted(python_bytes) == sorted(GO_BYTES)  # the same fields, in another order
    from_go = decode_binary(identifier_pb2.Identifier, GO_BYTES)
    assert from_go == expected
    assert json_format.MessageToDict(from_go) == json.loads(EXAMPLE.read_text())
    # Re-encoding in one language is deterministic, so within a process bytes are stable; across, they are not.
    assert from_go.SerializeToString() == python_bytes

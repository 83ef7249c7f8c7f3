"""Differential fuzzing of the CQC packages: Python, Go and TypeScript must agree on every input.

A seeded generator mutates the examples of testdata/examples (decimals, ids, enums, timestamps, durations,
repeated sizes, strings with NUL, RTL override and lone surrogates, oneofs set twice; at the wire level
truncation, length overruns, flipped bytes, duplicate fields, wrong wire types and deeply nested groups) and
sends every input to ONE long-running executor process per language (tools/fuzz_exec.py,
packages/go/internal/cmd/cqc-fuzz-exec, packages/typescript/test/fuzz-exec.ts; JSON lines on stdin/stdout).
Each executor decodes with CQC's decode helpers, validates, re-encodes and reports its verdict, violations
(field path + rule id), canonical JSON and binary. This harness compares them:

- verdicts (parse_error / valid / invalid) and violation sets must be equal;
- the canonical JSON values must be equal;
- every language's binary re-encoding must decode (here, in Python) to the same message, unknown fields
  included; the bytes themselves are not compared, because encoding is not canonical across languages (Go
  writes a set oneof member after the other fields; see proto/README.md).

Every disagreement gets a class (mutation, what differs, which language is the odd one out); each class is
printed once with its smallest reproducer. A class is *explained* when it matches one of KNOWN below, each a
runtime difference listed in testdata/conformance/expected-failures.json; the run fails on any other.

    python tools/fuzz.py --count 2000 --seed 1      # what `nox -s fuzz` runs (part of `make test`)
    nox -s fuzz -- --count 100000 --seed 7          # a longer run
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from cqc.registry import message_class

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "testdata" / "examples"
BUILD = ROOT / ".build" / "fuzz"
LANGUAGES = ("python", "go", "typescript")
BATCH = 250
TIMEOUT_S = 120.0  # per batch and executor: a hung executor fails the run instead of stalling it

# --- value pools ---------------------------------------------------------------------------------------------

DECIMALS = [
    "0",
    "1",
    "-1",
    "1.5",
    "0.00000001",
    "0.01000000",
    "1e5",
    "+1",
    "1.",
    ".5",
    "01",
    " 1",
    "1 ",
    "1\n",
    "1,000",
    "NaN",
    "Infinity",
    "",
    "-0",
    "-0.000",
    "١٢",
    "9" * 40,
    "9" * 101,
    "-" + "1" * 99,
    "115792089237316195423570985008687907853269984665640564039457584007913129639935",
]
IDS = [
    "ast_01JDVSDC000000000000000000",
    "ast_01jdvsdc000000000000000000",
    "ast_01JDVSDC00000000000000000",
    "ast_01JDVSDC0000000000000000000",
    "ast_01JDVSDCIL0U000000000000000",
    "xyz_01JDVSDC000000000000000000",
    "ast_01JDVSDC000000000000000000\n",
    " ast_01JDVSDC000000000000000000",
    "ast_",
]
STRINGS = [
    "",
    "a",
    "\x00",
    "a\x00b",
    "\u202eRTL",
    "\u200b",
    "é",
    "😀",
    "\ud800",
    "\udfff",
    "x" * 257,
    "x" * 2049,
    "BTC",
    "btc-usdt",
    "http://[::ffff:1.2.3.4]/",
    "https://example.com/a?b=c",
    "http://exa mple.com",
    "https://例え.jp/",
    "ftp://x",
    "//x",
    "eip155:1",
    "0x" + "ab" * 20,
    "USD",
    "usd",
    "\t",
    "a" * 65,
]
TIMESTAMPS = [
    "2024-12-01T24:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "2024-12-01T00:00:00.Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "0000-12-31T00:00:00Z",
    "2024-12-01T00:00:00+01:00",
    "2024-12-01T00:00:00",
    "2024-12-01T00:00:00.1234567891Z",
    "2024-12-01 00:00:00Z",
    "2024-12-01t00:00:00z",
    "2024-13-01T00:00:00Z",
    "2024-12-01T00:00:60Z",
]
DURATIONS = [
    "0s",
    "1s",
    "1.s",
    "-0.5s",
    "0.400s",
    "315576000000s",
    "315576000001s",
    "1.0000000001s",
    "1",
    "1.5S",
    "-1s",
    "1e3s",
    " 1s",
    "0.000000001s",
]
INTEGERS: list[Any] = [
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    2**32 - 1,
    2**32,
    2**53 + 1,
    2**63 - 1,
    2**64 - 1,
    2**64,
    "1",
    "0x06",
    "1e2",
    1.0,
    1.5,
    "-0",
    True,
    None,
]


@dataclass
class Input:
    type: str
    kind: str  # "json" or "binary"
    data: str | bytes
    mutation: str

    def request(self) -> dict[str, str]:
        if self.kind == "binary":
            assert isinstance(self.data, bytes)
            return {"type": self.type, "binary": base64.b64encode(self.data).decode()}
        assert isinstance(self.data, str)
        return {"type": self.type, "json": self.data}

    def size(self) -> int:
        return len(self.data)

    def show(self) -> str:
        data = self.data.hex() if isinstance(self.data, bytes) else json.dumps(self.data)
        if len(data) > 600:
            data = data[:600] + f"... ({len(data)} chars)"
        return f"type={self.type} {self.kind}={data}"


# --- generation ----------------------------------------------------------------------------------------------


def load_seeds() -> list[tuple[str, Any]]:
    seeds = []
    for path in sorted(EXAMPLES.glob("*/*.json")):
        try:
            message_class(path.parent.name)
        except KeyError:
            continue
        seeds.append((path.parent.name, json.loads(path.read_text())))
    return seeds


def _leaf_value(rng: random.Random, fd: FieldDescriptor) -> Any:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        names = [v.name for v in fd.enum_type.values]
        return rng.choice(
            [
                rng.choice(names),
                rng.choice(names),
                0,
                999,
                -1,
                "1",
                rng.choice(names).lower(),
                names[-1].split("_")[-1],
                True,
                6.5,
            ]
        )
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        name = fd.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return rng.choice(TIMESTAMPS)
        if name == "google.protobuf.Duration":
            return rng.choice(DURATIONS)
        return rng.choice([{}, None, "x", []])
    if fd.type == FieldDescriptor.TYPE_STRING:
        pool = rng.choice([DECIMALS, IDS, STRINGS, STRINGS])
        return rng.choice(pool)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return rng.choice([True, False, "true", 1, None])
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return rng.choice(["", "AAEC", "not base64!", "AAEC="])
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0, 1.5, -0.0, "NaN", "Infinity", 1e308, "1e400", "x"])
    return rng.choice(INTEGERS)


def _paths(
    descriptor: Any, value: Any, prefix: tuple[Any, ...], depth: int
) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(path, field descriptor, parent descriptor) for every field, present or not, of a JSON value."""
    if depth > 6 or not isinstance(value, dict):
        return
    for fd in descriptor.fields:
        yield (*prefix, fd.json_name), fd, descriptor
        item = value.get(fd.json_name)
        if item is None or fd.type != FieldDescriptor.TYPE_MESSAGE or fd.message_type.GetOptions().map_entry:
            continue
        if isinstance(item, list):
            for i, element in enumerate(item[:3]):
                yield from _paths(fd.message_type, element, (*prefix, fd.json_name, i), depth + 1)
        else:
            yield from _paths(fd.message_type, item, (*prefix, fd.json_name), depth + 1)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def mutate_json(rng: random.Random, type_name: str, seed: Any) -> tuple[Any, str]:
    value = json.loads(json.dumps(seed))
    descriptor = message_class(type_name).DESCRIPTOR
    paths = list(_paths(descriptor, value, (), 0))
    if not paths:
        return value, "json/none"
    path, fd, _parent = rng.choice(paths)
    holder = _get(value, path[:-1])
    key = path[-1]
    roll = rng.random()
    if fd.is_repeated and not (fd.message_type and fd.message_type.GetOptions().map_entry):
        items = holder.get(key) or []
        if items and roll < 0.5:
            holder[key] = [items[0]] * rng.choice([0, 2, 11, 51, 101, 129, 257])
            return value, "json/repeated-size"
        item = _leaf_value(rng, fd)
        holder[key] = [*items, item] if items else [item]
        return value, f"json/repeated-item/{_kind(fd)}"
    if fd.containing_oneof is not None and roll < 0.3:
        others = [f for f in fd.containing_oneof.fields if f is not fd]
        if others:
            other = rng.choice(others)
            holder[other.json_name] = _leaf_value(rng, other) if other.type != FieldDescriptor.TYPE_MESSAGE else {}
            holder[key] = holder.get(key, _leaf_value(rng, fd) if fd.type != FieldDescriptor.TYPE_MESSAGE else {})
            return value, "json/oneof-set-twice"
    if roll < 0.1:
        holder.pop(key, None)
        return value, "json/remove"
    holder[key] = _leaf_value(rng, fd)
    return value, f"json/{_kind(fd)}"


def _kind(fd: FieldDescriptor) -> str:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return fd.message_type.name.lower()
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return "enum"
    return {FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_BOOL: "bool"}.get(fd.type, "number")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(data: bytes) -> list[tuple[int, int, int, int]]:
    """Top-level fields of well-formed wire bytes: (start, end, field number, wire type)."""
    out = []
    pos = 0
    try:
        while pos < len(data):
            start = pos
            tag = 0
            shift = 0
            while True:
                b = data[pos]
                pos += 1
                tag |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            wt = tag & 7
            if wt == 0:
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            elif wt == 1:
                pos += 8
            elif wt == 5:
                pos += 4
            elif wt == 2:
                length = 0
                shift = 0
                while True:
                    b = data[pos]
                    pos += 1
                    length |= (b & 0x7F) << shift
                    shift += 7
                    if not b & 0x80:
                        break
                pos += length
            elif wt not in (3, 4):  # a group's start and end tags are listed as fields of their own
                return out
            out.append((start, pos, tag >> 3, wt))
    except IndexError:
        pass
    return out


def mutate_binary(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    fields = _fields(data)
    roll = rng.randrange(9)
    if roll == 0 and data:
        return data[: rng.randrange(len(data))], "binary/truncate"
    if roll == 1 and data:
        i = rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :], "binary/flip-bit"
    if roll == 2 and fields:
        start, end, _, _ = rng.choice(fields)
        return data + data[start:end], "binary/duplicate-field"
    if roll == 3:
        length_delimited = [f for f in fields if f[3] == 2]
        if length_delimited:
            start, end, number, _ = rng.choice(length_delimited)
            body_start = start + len(_varint(number << 3 | 2))
            length = end - body_start - len(_varint(end - body_start - 1)) if end - body_start > 1 else 0
            # rewrite the length a little shorter or longer: the last inner field overruns or underruns
            inner_len_bytes = data[body_start:]
            n, used = 0, 0
            for used, b in enumerate(inner_len_bytes, 1):
                n |= (b & 0x7F) << (7 * (used - 1))
                if not b & 0x80:
                    break
            del length
            new_n = max(0, n + rng.choice([-3, -2, -1, 1, 2]))
            return data[:body_start] + _varint(new_n) + data[body_start + used :], "binary/length-overrun"
    if roll == 4:
        depth = rng.choice([1, 2, 63, 64, 65, 98, 99, 100, 101, 500])
        number = rng.choice([1000, 1, 2])
        groups = _varint(number << 3 | 3) * depth + _varint(number << 3 | 4) * depth
        return data + groups, "binary/nested-groups"
    if roll == 5 and fields:
        start, end, number, wt = rng.choice(fields)
        new_wt = rng.choice([w for w in (0, 1, 2, 5) if w != wt])
        payload = {0: b"\x01", 1: b"\x00" * 8, 2: b"\x01x", 5: b"\x00" * 4}[new_wt]
        return data + _varint(number << 3 | new_wt) + payload, "binary/wrong-wire-type"
    if roll == 6:
        strings = [f for f in fields if f[3] == 2 and f[1] - f[0] > 3]
        if strings:
            start, end, _, _ = rng.choice(strings)
            i = rng.randrange(end - 1, end)
            return data[:i] + rng.choice([b"\xff", b"\xc0", b"\xed"]) + data[i + 1 :], "binary/invalid-utf8"
    if roll == 7:
        unknown = _varint(rng.choice([999, 536870911, 19000]) << 3 | rng.choice([0, 2]))
        return data + unknown + b"\x03abc", "binary/unknown-field"
    if fields and len(fields) > 1:
        order = list(fields)
        rng.shuffle(order)
        return b"".join(data[s:e] for s, e, _, _ in order), "binary/reordered"
    return data, "binary/unchanged"


def generate(seed: int, count: int) -> Iterator[Input]:
    rng = random.Random(seed)
    seeds = load_seeds()
    for _ in range(count):
        type_name, value = rng.choice(seeds)
        mutated, mutation = mutate_json(rng, type_name, value)
        if rng.random() < 0.5:
            text = json.dumps(mutated, ensure_ascii=rng.random() < 0.5)
            if _LONE_SURROGATE.search(text):  # not encodable as UTF-8: send the escape (\ud800), as a client must
                text = json.dumps(mutated, ensure_ascii=True)
            yield Input(type_name, "json", text, mutation)
            continue
        # binary: start from a decodable message (the seed, or the mutation when Python accepts it)
        message = message_class(type_name)()
        try:
            json_format.ParseDict(mutated, message)
            base = mutation
        except Exception:
            json_format.ParseDict(value, message)
            base = "json/none"
        data = message.SerializeToString()
        data, binary_mutation = mutate_binary(rng, data)
        yield Input(type_name, "binary", data, f"{binary_mutation}+{base}" if base != "json/none" else binary_mutation)


# --- executors -----------------------------------------------------------------------------------------------


def executor_commands(python: str) -> dict[str, tuple[list[str], Path]]:
    go_bin = BUILD / "cqc-fuzz-exec"
    return {
        "python": ([python, str(ROOT / "tools" / "fuzz_exec.py")], ROOT),
        "go": ([str(go_bin)], ROOT / "packages" / "go"),
        "typescript": (["node", "--import", "tsx", "test/fuzz-exec.ts"], ROOT / "packages" / "typescript"),
    }


def build_go() -> None:
    BUILD.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "build", "-o", str(BUILD / "cqc-fuzz-exec"), "./internal/cmd/cqc-fuzz-exec"],
        cwd=ROOT / "packages" / "go",
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
    )


class Executor:
    def __init__(self, name: str, command: list[str], cwd: Path) -> None:
        self.name = name
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1 << 16,
        )

    def run(self, requests: list[str]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        failure: list[BaseException] = []

        def write() -> None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write("".join(requests))
                self.process.stdin.flush()
            except BaseException as error:
                failure.append(error)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        results: list[dict[str, Any]] = []
        timer = threading.Timer(TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            for _ in requests:
                line = self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} executor died (exit {self.process.poll()}) or timed out")
                results.append(json.loads(line))
        finally:
            timer.cancel()
        writer.join(TIMEOUT_S)
        if failure:
            raise RuntimeError(f"{self.name} executor: {failure[0]}")
        return results

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- comparison ----------------------------------------------------------------------------------------------


def _decoded(type_name: str, b64: str | None) -> Message | None:
    if b64 is None:
        return None
    message = message_class(type_name)()
    try:
        message.ParseFromString(base64.b64decode(b64))
    except Exception:
        return None
    return message


def differences(item: Input, results: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(aspect, odd-one-out pattern) for each way the languages disagree; empty when they agree."""
    found = []

    def pattern(values: dict[str, Any]) -> str:
        groups: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            groups.setdefault(json.dumps(_numbers(values[lang]), sort_keys=True), []).append(lang)
        if len(groups) == 1:
            return ""
        parts = sorted(groups.values(), key=len)
        return " vs ".join("+".join(p) for p in parts)

    verdicts = {lang: results[lang]["verdict"] for lang in LANGUAGES}
    p = pattern(verdicts)
    if p:
        detail = ",".join(f"{lang}={verdicts[lang]}" for lang in LANGUAGES)
        return [("verdict", f"{p} ({detail})")]
    if verdicts["python"] == "parse_error":
        return []
    p = pattern({lang: results[lang]["violations"] for lang in LANGUAGES})
    if p:
        rules = set()
        all_sets = [set(results[lang]["violations"]) for lang in LANGUAGES]
        for v in set.union(*all_sets) - set.intersection(*all_sets):
            rules.add(v.split(" ")[-1])
        found.append(("violations", f"{p} [{','.join(sorted(rules))}]"))
    p = pattern({lang: results[lang]["json"] for lang in LANGUAGES})
    if p:
        found.append(("canonical-json", p))
    decoded = {lang: _decoded(item.type, results[lang]["binary"]) for lang in LANGUAGES}
    same = {lang: _same(decoded[lang], decoded["python"]) for lang in LANGUAGES}
    if not all(same.values()):
        odd = [lang for lang in LANGUAGES if not same[lang]]
        agree = [lang for lang in LANGUAGES if same[lang]]
        found.append(("binary-reencoding", f"{'+'.join(odd)} vs {'+'.join(agree) or 'none'} (decoded in python)"))
    return found


def _numbers(value: Any) -> Any:
    """JSON numbers compared as values: 0, 0.0 and -0.0 are one number (runtimes spell doubles differently)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def _same(a: Message | None, b: Message | None) -> bool:
    """Equal decoded messages; NaN payload bits (which runtimes write differently) compared via canonical JSON."""
    if a is None or b is None:
        return a is b
    if a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True):
        return True
    try:
        as_a, as_b = json_format.MessageToDict(a), json_format.MessageToDict(b)
    except Exception:
        return False
    return as_a == as_b and "NaN" in json.dumps(as_a)


@dataclass
class Known:
    """An explained disagreement class: a runtime difference listed in expected-failures.json."""

    name: str
    case: str
    matches: Callable[[Input, str, str, dict[str, dict[str, Any]]], bool]


def _wrong_wire_type(item: Input) -> bool:
    """The binary input holds a known field with a wire type other than its declared one (at any depth)."""
    if not isinstance(item.data, bytes):
        return False
    return _has_wrong_wire_type(message_class(item.type).DESCRIPTOR, item.data, 0)


_WIRE_TYPES = {
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_FLOAT: 5,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
}


def _has_wrong_wire_type(descriptor: Any, data: bytes, depth: int) -> bool:
    if depth > 20:
        return False
    for start, end, number, wt in _fields(data):
        fd = descriptor.fields_by_number.get(number)
        if fd is None:
            continue
        expected = _WIRE_TYPES.get(fd.type, 0)
        packable = fd.is_repeated and expected != 2
        if wt != expected and not (packable and wt == 2):
            return True
        if fd.type == FieldDescriptor.TYPE_MESSAGE and wt == 2:
            header = len(_varint(number << 3 | 2))
            body = data[start + header : end]
            n_len = 0
            while n_len < len(body) and body[n_len] & 0x80:
                n_len += 1
            sub = fd.message_type
            if sub.GetOptions().map_entry:
                value_fd = sub.fields_by_name["value"]
                if value_fd.type != FieldDescriptor.TYPE_MESSAGE:
                    continue
            if _has_wrong_wire_type(sub, body[n_len + 1 :], depth + 1):
                return True
    return False


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


def _has_field_mask(type_name: str) -> bool:
    fields = message_class(type_name).DESCRIPTOR.fields
    return any(f.message_type is not None and f.message_type.full_name == "google.protobuf.FieldMask" for f in fields)


def _odd(pattern: str, language: str) -> bool:
    return pattern.startswith(f"{language} vs ")


KNOWN = [
    Known(
        "typescript reads a known field by its declared type, whatever the wire type",
        "edge-binary/wire/known-field-with-wrong-wire-type-is-unknown",
        lambda item, aspect, p, r: item.kind == "binary" and _odd(p, "typescript") and _wrong_wire_type(item),
    ),
    Known(
        'typescript rejects the duration "1.s" that Go and Python accept',
        "edge-disagreements/json/accepts/duration-point-without-fraction",
        lambda item, aspect, p, r: (
            item.kind == "json"
            and aspect == "verdict"
            and _odd(p, "typescript")
            and r["typescript"]["verdict"] == "parse_error"
            and '.s"' in str(item.data)
        ),
    ),
    Known(
        'typescript accepts a JSON integer string in hexadecimal ("0x06")',
        "edge-json/uint32/parse-error/hex-string",
        lambda item, aspect, p, r: (
            item.kind == "json"
            and aspect == "verdict"
            and _odd(p, "typescript")
            and r["python"]["verdict"] == "parse_error"
            and '"0x06"' in str(item.data)
        ),
    ),
    Known(
        "typescript reads JSON numbers as doubles: a 64-bit integer above 2^53 sent as a number loses digits",
        "edge-disagreements/json/accepts/uint64-above-2-53-as-number",
        lambda item, aspect, p, r: (
            item.kind == "json"
            and _odd(p, "typescript")
            and re.search(r"[:\[,]\s*-?\d{16,}", str(item.data)) is not None
        ),
    ),
    Known(
        'typescript rejects a 64-bit integer string in exponent form ("1e2") that Go and Python accept',
        "edge-disagreements/json/accepts/int64-string-exponent",
        lambda item, aspect, p, r: (
            item.kind == "json" and aspect == "verdict" and _odd(p, "typescript") and '"1e2"' in str(item.data)
        ),
    ),
    Known(
        "go's protojson refuses to write a FieldMask path with no lowerCamelCase form (as the JSON mapping requires);"
        " Python and TypeScript write it anyway",
        '(not yet a corpus case) FieldMask path such as "~ame"',
        lambda item, aspect, p, r: (
            aspect == "canonical-json" and _odd(p, "go") and r["go"]["json"] is None and _has_field_mask(item.type)
        ),
    ),
    Known(
        "protovalidate-go and -es reject an IPv4-mapped IPv6 host for string.uri; Python accepts it",
        "edge-disagreements/uri/accepts/ipv4-mapped-ipv6-host",
        lambda item, aspect, p, r: (
            aspect in ("violations", "verdict") and "::ffff:" in str(item.data) and _odd(p, "python")
        ),
    ),
]


@dataclass
class Class:
    key: str
    count: int = 0
    smallest: Input | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    known: Known | None = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="inputs to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--no-build", action="store_true", help="do not rebuild the Go executor")
    parser.add_argument("--max-seconds", type=float, default=0, help="stop early after this long (0: no limit)")
    args = parser.parse_args()
    started = time.monotonic()
    if not args.no_build:
        build_go()
    executors = {name: Executor(name, cmd, cwd) for name, (cmd, cwd) in executor_commands(sys.executable).items()}
    classes: dict[str, Class] = {}
    verdicts: dict[str, int] = {}
    done = 0
    try:
        batch: list[Input] = []
        for item in generate(args.seed, args.count):
            batch.append(item)
            if len(batch) == BATCH:
                done += _run_batch(batch, executors, classes, verdicts)
                batch = []
                if args.max_seconds and time.monotonic() - started > args.max_seconds:
                    print(f"fuzz: stopping after {args.max_seconds:.0f} s (--max-seconds)", flush=True)
                    break
        if batch:
            done += _run_batch(batch, executors, classes, verdicts)
    finally:
        for executor in executors.values():
            executor.close()
    elapsed = time.monotonic() - started
    unexplained = [c for c in classes.values() if c.known is None]
    print(
        f"fuzz: {done} inputs (seed {args.seed}) through python, go and typescript in {elapsed:.1f} s; "
        f"verdicts {json.dumps(verdicts, sort_keys=True)}"
    )
    for c in sorted(classes.values(), key=lambda c: (c.known is not None, c.key)):
        assert c.smallest is not None
        status = f"EXPLAINED ({c.known.case}: {c.known.name})" if c.known else "UNEXPLAINED"
        print(f"\n[{status}] {c.key}: {c.count} input(s); smallest reproducer:\n  {c.smallest.show()}")
        for lang in LANGUAGES:
            res = c.results[lang]
            extra = f" error={res.get('error', '')[:160]!r}" if res.get("error") else ""
            print(f"  {lang}: {res['verdict']} {res['violations']}{extra}")
    print(f"\nfuzz: {len(classes)} disagreement class(es), {len(unexplained)} unexplained")
    return 1 if unexplained else 0


def _run_batch(
    batch: list[Input], executors: dict[str, Executor], classes: dict[str, Class], verdicts: dict[str, int]
) -> int:
    requests = [json.dumps(item.request()) + "\n" for item in batch]
    outputs: dict[str, list[dict[str, Any]]] = {}
    threads = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            outputs[name] = executors[name].run(requests)
        except BaseException as error:
            errors.append(error)

    for name in LANGUAGES:
        t = threading.Thread(target=work, args=(name,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    for i, item in enumerate(batch):
        results = {lang: outputs[lang][i] for lang in LANGUAGES}
        verdicts[results["python"]["verdict"]] = verdicts.get(results["python"]["verdict"], 0) + 1
        for aspect, p in differences(item, results):
            mutation = item.mutation.split("+")[0]
            key = f"{aspect}: {p} <- {mutation}"
            known = next((k for k in KNOWN if k.matches(item, aspect, p, results)), None)
            if known is not None:
                key = f"{aspect}: {known.case}"
            c = classes.setdefault(key, Class(key))
            c.count += 1
            c.known = known
            if c.smallest is None or item.size() < c.smallest.size():
                c.smallest, c.results = item, results
    return len(batch)


if __name__ == "__main__":
    sys.exit(main())

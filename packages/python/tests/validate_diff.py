"""Differential test of the generated validators (cqc/_validate, tools/cqcvalidate.py) against protovalidate.

Three engines judge every message:
- ``pv``: protovalidate (the reference: the CEL and standard rules as written in the protos);
- ``float``: the generated code with CEL's IEEE-double numbers (a copy of cqc._validate_runtime with
  ``EXACT = False``): must give exactly protovalidate's verdict, ``(field path, rule id)`` set and errors;
- ``exact``: the generated code as shipped (exact decimals): may differ from ``float`` only on rules that
  compare numbers (compiled with ``D(...)``), which is where protovalidate's ``double()`` is inexact.

Expected disagreements: protovalidate stops with "Iteration budget exceeded" on large messages (its CEL
budget); those are counted apart (``budget_exceeded``), as the generated code has no budget.

The contract's typed relations (``cqc.types.v1.SortedRule``) are not protovalidate rules: their violations are
left out of the comparison with protovalidate and judged instead by ``relations_reference`` below, a naive
independent evaluation (every rule's keys sorted with ``decimal.Decimal`` and compared with the list as sent;
the rule's ``when`` read by a small interpreter of the conjunctions of field comparisons the contract uses).

    python packages/python/tests/validate_diff.py [--mutations 20000] [--seed 1]   # standalone, prints a summary
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import protovalidate
from google.protobuf.message import Message

import cqc._validate.messages as generated
import cqc._validate_runtime as runtime
from cqc.registry import message_class
from cqc.wire import decode_binary, decode_json_text

REPO_ROOT = Path(__file__).resolve().parents[3]
Verdict = Any  # frozenset of (field, rule id), or "error"


def _float_validators() -> dict[str, Callable[..., None]]:
    """The generated validators bound to a float-mode copy of the runtime."""
    rt_source = Path(runtime.__file__).read_text().replace("\nEXACT = True\n", "\nEXACT = False\n")
    rt = types.ModuleType("_cqc_validate_runtime_float")
    rt.__file__ = runtime.__file__
    sys.modules[rt.__name__] = rt
    exec(compile(rt_source, runtime.__file__, "exec"), rt.__dict__)
    source = (
        Path(generated.__file__).read_text().replace("from cqc._validate_runtime import", f"from {rt.__name__} import")
    )
    namespace: dict[str, Any] = {"__name__": "_cqc_validate_messages_float"}
    exec(compile(source, generated.__file__, "exec"), namespace)
    validators: dict[str, Callable[..., None]] = namespace["VALIDATORS"]
    return validators


FLOAT = _float_validators()


def _numeric_rules() -> frozenset[str]:
    """Rule ids whose compiled check uses numbers (D/DI/_N constants): where exact and float may differ."""
    text = Path(generated.__file__).read_text()
    found = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"out\.append\(\([^,]+, '([^']+)'", line)
        if m and i > 0:
            # the check is the `if` (or `_s = `) line(s) just above
            j = i - 1
            while j > 0 and not re.match(r"\s*(if |_s = )", lines[j]):
                j -= 1
            if re.search(r"\bD\(|\bDI\(|\b_N\d+\b", lines[j]):
                found.add(m.group(1))
    return frozenset(found)


NUMERIC = _numeric_rules()
_pv = protovalidate.Validator()


def _path(field_path: Any) -> str:
    from cqc.validation import _path as path

    return path(field_path)


def verdict_pv(message: Message) -> Verdict:
    try:
        found = _pv.collect_violations(message)
    except Exception as error:
        # protovalidate's CEL has an iteration budget: a large message (e.g. 258 MarketDepth bands through the
        # quadratic bands_cumulative rule, an OrderBook of 5,000 levels) makes it fail instead of judging; the
        # generated code has no budget and gives a verdict. An expected disagreement, counted apart.
        return "budget" if "Iteration budget exceeded" in str(error) else "error"
    return frozenset((_path(v.proto.field) if v.proto.has_field("field") else "", v.proto.rule_id) for v in found)


def _relation_ids() -> frozenset[str]:
    from cqc.registry import message_names
    from cqc.types.v1 import rules_pb2

    ids: set[str] = set()
    seen: set[str] = set()

    def visit(desc: Any) -> None:
        if desc.full_name in seen:
            return
        seen.add(desc.full_name)
        ids.update(rule.id for rule in desc.GetOptions().Extensions[rules_pb2.sorted])
        for fd in desc.fields:
            if fd.message_type is not None:
                visit(fd.message_type)

    for name in message_names():
        visit(message_class(name).DESCRIPTOR)
    return frozenset(ids)


RELATIONS = _relation_ids()
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?\Z")
_WHEN_TERM = re.compile(r"this\.([a-z_0-9]+)(?:\s*(==|!=)\s*([0-9]+|true|false))?\Z")


def _when(message: Message, condition: str) -> bool:
    """The contract's `when` conditions: `&&` of `this.<field>` or `this.<field> ==/!= <int or bool>`."""
    if not condition:
        return True
    for term in condition.split("&&"):
        m = _WHEN_TERM.match(term.strip())
        assert m, f"relations_reference cannot read the condition {condition!r}: extend _when"
        value = getattr(message, m.group(1))
        if m.group(2) is None:
            if not value:
                return False
            continue
        literal = {"true": True, "false": False}.get(m.group(3), None)
        other = int(m.group(3)) if literal is None else literal
        if (value == other) != (m.group(2) == "=="):
            return False
    return True


def relations_reference(message: Message, path: str = "") -> frozenset[tuple[str, str]]:
    """Violations of the typed relations, evaluated naively: the violation is the last element of the shortest
    prefix of the keys (as Decimals) that differs from itself sorted in the rule's order (or, for a strict rule,
    holds a key twice). Pairs with a non-decimal key are not compared (the runs between such keys are judged
    separately)."""
    from decimal import Decimal

    from cqc._validate_runtime import _key
    from cqc.types.v1 import rules_pb2

    found = set()
    prefix = path + "." if path else ""
    for rule in message.DESCRIPTOR.GetOptions().Extensions[rules_pb2.sorted]:
        if not _when(message, rule.when):
            continue
        keys = [getattr(x, rule.key) for x in getattr(message, rule.field)]
        descending = rule.order == rules_pb2.SORT_ORDER_DESCENDING
        first = None
        start = 0
        while start < len(keys) and first is None:
            if not _DECIMAL.match(keys[start]):
                start += 1
                continue
            end = start
            while end < len(keys) and _DECIMAL.match(keys[end]):
                end += 1
            run = [Decimal(k) for k in keys[start:end]]

            def in_order(
                n: int, run: list[Decimal] = run, descending: bool = descending, strict: bool = rule.strict
            ) -> bool:
                prefix = run[:n]
                return prefix == sorted(prefix, reverse=descending) and (not strict or len(set(prefix)) == n)

            if not in_order(len(run)):
                lo, hi = 1, len(run)  # the shortest prefix out of order: in_order(lo) holds, in_order(hi) does not
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if in_order(mid) else (lo, mid)
                first = start + hi - 1
            start = end
        if first is not None:
            found.add((f"{prefix}{rule.field}[{first}].{rule.key}", rule.id))
    for fd, value in message.ListFields():
        if fd.message_type is None or fd.message_type.full_name.startswith("google.protobuf."):
            continue
        if fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is not None:
                for k, v in value.items():
                    found |= relations_reference(v, prefix + fd.name + _key(k))
        elif fd.is_repeated:
            for i, v in enumerate(value):
                found |= relations_reference(v, f"{prefix}{fd.name}[{i}]")
        else:
            found |= relations_reference(value, prefix + fd.name)
    return frozenset(found)


def verdict_generated(validators: dict[str, Callable[..., None]], message: Message, relations: bool = False) -> Verdict:
    """The generated verdict without (or, with ``relations``, only) the typed relations' violations."""
    out: list[tuple[str, str, str]] = []
    try:
        validators[message.DESCRIPTOR.full_name](message, "", out)
    except Exception:
        return "error"
    return frozenset((f, r) for f, r, _ in out if (r in RELATIONS) == relations)


@dataclass
class Report:
    checked: int = 0
    float_mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, pv, float)
    exact_differences: Counter[str] = field(default_factory=Counter)  # rule ids where exact != float
    exact_unexplained: list[tuple[str, Any, Any]] = field(default_factory=list)
    budget_exceeded: list[str] = field(default_factory=list)  # protovalidate gave up: expected disagreements
    relation_mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, reference, generated)
    relation_violations: int = 0  # messages the typed relations reject (so the comparison is not vacuous)

    def compare(self, name: str, message: Message) -> None:
        self.checked += 1
        want = relations_reference(message)
        got = verdict_generated(generated.VALIDATORS, message, relations=True)
        self.relation_violations += bool(want)
        if got != "error" and want != got:
            self.relation_mismatches.append((name, want, got))
        pv = verdict_pv(message)
        fl = verdict_generated(FLOAT, message)
        ex = verdict_generated(generated.VALIDATORS, message)
        if pv == "budget":
            self.budget_exceeded.append(name)
        elif pv != fl:
            self.float_mismatches.append((name, pv, fl))
        if ex != fl:
            if ex == "error" or fl == "error":
                self.exact_unexplained.append((name, fl, ex))
                return
            rules = {r for _, r in ex ^ fl}
            if rules <= NUMERIC:
                self.exact_differences.update(rules)
            else:
                self.exact_unexplained.append((name, fl, ex))

    def problems(self) -> list[str]:
        out = [
            f"{n}: protovalidate {sorted(p) if p != 'error' else p} != generated {sorted(f) if f != 'error' else f}"
            for n, p, f in self.float_mismatches
        ]
        out += [
            f"{n}: exact {sorted(e) if e != 'error' else e} differs from float "
            f"{sorted(f) if f != 'error' else f} on a non-numeric rule"
            for n, f, e in self.exact_unexplained
        ]
        out += [
            f"{n}: typed relations: reference {sorted(w)} != generated {sorted(g)}"
            for n, w, g in self.relation_mismatches
        ]
        return out


def corpus_messages() -> Iterator[tuple[str, Message]]:
    sys.path.insert(0, str(Path(__file__).parent))
    from corpus import cases, decode

    for case in cases():
        try:
            message = decode(case)
        except Exception:
            continue
        yield case.name, message


def mutated_messages(seed: int, count: int) -> Iterator[tuple[str, Message]]:
    spec = importlib.util.spec_from_file_location("_cqc_fuzz", REPO_ROOT / "tools" / "fuzz.py")
    assert spec and spec.loader
    fuzz = importlib.util.module_from_spec(spec)
    sys.modules["_cqc_fuzz"] = fuzz
    spec.loader.exec_module(fuzz)
    for index, item in enumerate(fuzz.generate(seed, count)):
        cls = message_class(item.type)
        try:
            message = decode_binary(cls, item.data) if item.kind == "binary" else decode_json_text(cls, item.data)
        except Exception:
            continue
        yield f"mutation {seed}/{index} {item.mutation} {item.show()[:300]}", message


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--mutations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--go-inputs", type=Path, help="also write the mutated messages here (JSON lines) for Go")
    args = parser.parse_args(argv)
    sink = args.go_inputs.open("w") if args.go_inputs else None
    report = Report()
    for name, message in corpus_messages():
        report.compare(name, message)
    corpus = report.checked
    for name, message in mutated_messages(args.seed, args.mutations):
        report.compare(name, message)
        if sink is not None:
            binary = base64.b64encode(message.SerializeToString()).decode()
            sink.write(json.dumps({"name": name[:200], "type": message.DESCRIPTOR.full_name, "binary": binary}) + "\n")
    if sink is not None:
        sink.close()
    print(
        json.dumps(
            {
                "corpus_messages": corpus,
                "mutated_messages": report.checked - corpus,
                "exact_vs_float_differences": dict(report.exact_differences),
                "protovalidate_iteration_budget_exceeded": len(report.budget_exceeded),
            },
            indent=1,
        )
    )
    for problem in report.problems()[:40]:
        print(problem)
    print(f"{len(report.problems())} problems")
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

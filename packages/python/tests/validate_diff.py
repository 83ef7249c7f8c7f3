"""Differential test of the generated validators (cqc/_validate, tools/cqcvalidate.py) against protovalidate.

Three engines judge every message:
- ``pv``: protovalidate (the reference: the CEL and standard rules as written in the protos);
- ``float``: the generated code with CEL's IEEE-double numbers (a copy of cqc._validate_runtime with
  ``EXACT = False``): must give exactly protovalidate's verdict, ``(field path, rule id)`` set and errors;
- ``exact``: the generated code as shipped (exact decimals): may differ from ``float`` only on rules that
  compare numbers (compiled with ``D(...)``), which is where protovalidate's ``double()`` is inexact.

Expected disagreements: protovalidate stops with "Iteration budget exceeded" on large messages (its CEL
budget); those are counted apart (``budget_exceeded``), as the generated code has no budget.

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


def verdict_generated(validators: dict[str, Callable[..., None]], message: Message) -> Verdict:
    out: list[tuple[str, str, str]] = []
    try:
        validators[message.DESCRIPTOR.full_name](message, "", out)
    except Exception:
        return "error"
    return frozenset((f, r) for f, r, _ in out)


@dataclass
class Report:
    checked: int = 0
    float_mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, pv, float)
    exact_differences: Counter[str] = field(default_factory=Counter)  # rule ids where exact != float
    exact_unexplained: list[tuple[str, Any, Any]] = field(default_factory=list)
    budget_exceeded: list[str] = field(default_factory=list)  # protovalidate gave up: expected disagreements

    def compare(self, name: str, message: Message) -> None:
        self.checked += 1
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

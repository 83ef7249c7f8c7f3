"""Checks some proto files in isolation, without regenerating any package: `nox -s check -- FILE...`.

For the given files (paths under proto/, or relative to it) it:
1. compiles them (and only what they import) with protoc;
2. runs `buf lint` (STANDARD + COMMENTS) on exactly those files;
3. decodes every example in testdata/examples/<type>/ and every conformance case whose type is declared
   in those files, validates it with protovalidate, and compares with the expected verdict.

Meant for working on one domain while other domains are mid-edit; `make test` remains the full gate.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cqcgen  # noqa: E402

ROOT = cqcgen.ROOT
TESTDATA = ROOT / "testdata"


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def main(argv: list[str]) -> int:
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

    import protovalidate

    if not argv:
        raise SystemExit(__doc__)
    files = [Path(a).as_posix().removeprefix("proto/") for a in argv]
    # Private scratch files: several checks may run at once.
    scratch = Path(tempfile.mkdtemp(prefix="cqccheck-"))
    deps = cqcgen.write_deps(scratch / "deps.binpb")
    image = scratch / "image.binpb"
    cqcgen.protoc(
        [
            f"--descriptor_set_in={deps}",
            f"-I{cqcgen.PROTO}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={image}",
            *files,
        ]
    )
    lint = ["buf", "lint", str(image), "--config", str(ROOT / "buf.yaml")]
    for f in files:
        lint += ["--path", f]
    failures = 0
    if subprocess.run(lint, cwd=ROOT).returncode != 0:
        failures += 1
        print("buf lint: FAILED")
    else:
        print("buf lint: ok")

    fds = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    declared: set[str] = set()
    for fdp in fds.file:
        if fdp.name in files:
            fd = pool.FindFileByName(fdp.name)
            pending = list(fd.message_types_by_name.values())
            while pending:
                d = pending.pop()
                declared.add(d.full_name)
                pending.extend(d.nested_types)

    examples: dict[str, Any] = {}
    for path in sorted((TESTDATA / "examples").glob("*/*.json")):
        examples[f"{path.parent.name}/{path.stem}"] = json.loads(path.read_text())
    cases: list[tuple[str, str, Any, Any]] = [
        (f"example/{k}", k.split("/")[0], v, "valid") for k, v in examples.items()
    ]
    for path in sorted((TESTDATA / "conformance" / "cases").glob("*.json")):
        for raw in json.loads(path.read_text())["cases"]:
            if "json" in raw:
                value = raw["json"]
            elif "base" in raw:
                value: Any = merge_patch(examples[raw["base"]], raw.get("patch", {}))
            else:
                continue  # json_text and binary cases test decoders: the package runners run them
            cases.append((raw["name"], raw["type"], value, raw["expect"]))

    validator = protovalidate.Validator()
    # The contract's typed relations (cqc.types.v1.SortedRule) are evaluated by CQC's generated validators, not
    # by protovalidate: their expected violations are left out here (`nox -s conformance` checks them).
    relation_ids = set()
    for path in cqcgen.PROTO.rglob("*.proto"):
        relation_ids.update(re.findall(r'\(cqc\.types\.v1\.sorted\)\s*=\s*\{\s*id:\s*"([^"]+)"', path.read_text()))
    # Known Python-runtime leniencies (testdata/conformance/expected-failures.json) are reported, not failed.
    xfail_path = TESTDATA / "conformance" / "expected-failures.json"
    python_xfail = {
        e["case"]: e["reason"]
        for e in (json.loads(xfail_path.read_text())["expected_failures"] if xfail_path.exists() else [])
        if "python" in e["languages"]
    }
    checked = 0
    for name, type_name, value, expect in cases:
        if type_name not in declared:
            continue
        checked += 1
        if name in python_xfail:
            print(f"XFAIL {name}: {python_xfail[name]}")
            continue
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(type_name))
        expect_parse_error = isinstance(expect, dict) and expect.get("parse_error")
        try:
            message = json_format.ParseDict(value, cls())
        except (json_format.ParseError, ValueError) as error:
            if not expect_parse_error:
                failures += 1
                print(f"FAIL {name}: does not decode as {type_name}: {error}")
            continue
        if expect_parse_error:
            failures += 1
            print(f"FAIL {name}: decoded as {type_name} but a parse error was expected")
            continue
        found = set()
        for violation in validator.collect_violations(message):
            proto = violation.proto
            parts = []
            if proto.has_field("field"):
                for element in proto.field.elements:
                    parts.append(("." if parts else "") + element.field_name)
                    sub = element.subscript
                    if sub is not None:
                        parts.append(f'["{sub.value}"]' if sub.field == "string_key" else f"[{sub.value}]")
            found.add(("".join(parts), proto.rule_id, proto.message))
        got = sorted((f, r) for f, r, _ in found)
        want = [] if expect == "valid" else sorted((v["field"], v["rule"]) for v in expect["violations"])
        want = [(f, r) for f, r in want if r not in relation_ids]
        if got != want:
            failures += 1
            details = "; ".join(f"{f} [{r}] {m}" for f, r, m in sorted(found))
            print(f"FAIL {name}: expected {want}, got {got} ({details})")
    print(f"{checked} examples/cases checked for {len(declared)} message types; {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Regenerates testdata/conformance/golden/<Type>/<name>.json, the canonical proto3 JSON of every example.

Run it with `nox -s conformance -- golden`, review the diff, commit. Go, Python and TypeScript then each
check that their canonical JSON of the example equals the golden file (compared as JSON values).
"""

from __future__ import annotations

import json
import shutil

from corpus import GOLDEN, canonical_json, cases, decode, golden_path

from cqc.registry import message_class


def main() -> None:
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    written = 0
    missing = []
    for case in cases():
        if case.example is None:
            continue
        try:
            message_class(case.type)
        except KeyError:
            missing.append(case.type)
            continue
        path = golden_path(case.example)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(canonical_json(decode(case)), indent=2, ensure_ascii=False) + "\n")
        written += 1
    print(f"wrote {written} golden files under {GOLDEN}")
    if missing:
        raise SystemExit(f"not in the generated code (run nox -s generate, then again): {sorted(set(missing))}")


if __name__ == "__main__":
    main()

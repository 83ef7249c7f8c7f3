"""REST proof against a live server (`nox -s rest`), run from the repository root:

    python tools/rest.py SERVER_BINARY

1. every docs/openapi/*.openapi.yaml validates with openapi-spec-validator (OpenAPI 3.0 rules);
2. the REST mappings pass tools/cqcopenapi.py's check (every unary RPC mapped, streams unmapped, path
   variables name request fields);
3. the Go reference server (SERVER_BINARY, built from packages/go/cmd/cqc-reference-server) is started on
   ephemeral ports with REST enabled (vanguard transcoding), seeded with testdata/;
4. schemathesis runs every operation of every document against it, positive mode, fuzzing phase, a small
   fixed number of examples per operation and a fixed seed, with these checks:
     not_a_server_error          no 5xx for schema-valid input,
     status_code_conformance     every status is documented (200, or `default` = google.rpc.Status),
     content_type_conformance    responses are application/json as documented,
     response_schema_conformance every 200 body and error body matches its schema (including the
                                 validation rules the post-processor added);
   operations the reference server answers with UNIMPLEMENTED (`--list-unimplemented`: RPCs it does not
   implement yet, whole services it does not serve) are skipped and counted;
5. the REST examples (examples/python/rest/rest_example.py, examples/go/rest/client,
   examples/typescript/rest/rest-example.ts) run against the same server, each with plain HTTP (no generated
   code). They live in rest/ subdirectories so that the gRPC examples runner (tools/interop.py) skips them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "openapi"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = os.environ.get("CQC_REST_MAX_EXAMPLES", "3")
SEED = "20261205"
VERBS = ("get", "put", "post", "delete", "patch")


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"reference server exited with {proc.returncode}")
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise SystemExit(f"reference server did not write {path} within {timeout}s")


def validate_documents() -> list[Path]:
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename

    docs = sorted(DOCS.glob("*.openapi.yaml"))
    if not docs:
        raise SystemExit(f"no OpenAPI documents under {DOCS}: run `nox -s generate`")
    for doc in docs:
        spec, _ = read_from_filename(str(doc))
        validate(spec)
    print(f"openapi-spec-validator: {len(docs)} documents valid")
    return docs


def operations(doc: Path) -> list[str]:
    spec = yaml.safe_load(doc.read_text())
    return [op["operationId"] for item in spec["paths"].values() for verb in VERBS if (op := item.get(verb))]


def start_schemathesis(doc: Path, base: str, skip: set[str]) -> tuple[int, int, subprocess.Popen[str] | None]:
    """Starts schemathesis on one document; returns (operations to test, operations skipped, process)."""
    ops = operations(doc)
    skipped = [op for op in ops if op in skip]
    if len(skipped) == len(ops):
        print(f"schemathesis {doc.name}: all {len(ops)} operations unimplemented by the server, skipped")
        return 0, len(ops), None
    args = [
        str(Path(sys.executable).parent / "schemathesis"), "run", str(doc), "--url", base,
        "--checks", CHECKS, "--mode", "positive", "--phases", "fuzzing",
        "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--generation-database", "none", "--no-shrink",
        "--workers", "1", "--request-timeout", "10", "--no-color", "--warnings", "off",
    ]
    for op in skipped:
        args += ["--exclude-operation-id", op]
    # cwd: schemathesis keeps a .schemathesis/ cache in its working directory; keep it out of the repository.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tempfile.gettempdir())
    return len(ops) - len(skipped), len(skipped), proc


def finish_schemathesis(doc: Path, tested: int, skipped: int, proc: subprocess.Popen[str] | None) -> int:
    """Waits for one schemathesis run (bounded); returns the number of test cases it generated."""
    if proc is None:
        return 0
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"schemathesis {doc.name}: timed out") from None
    match = re.search(r"(\d+) generated", out)
    cases = int(match.group(1)) if match else 0
    if proc.returncode != 0:
        print(out[-30000:])
        raise SystemExit(f"schemathesis {doc.name}: failures (exit {proc.returncode})")
    print(f"schemathesis {doc.name}: {tested} operations, {cases} cases, no failures ({skipped} skipped)")
    return cases


def run_examples(base: str, go_env: dict[str, str]) -> None:
    env = {**os.environ, **go_env, "CQC_REST_URL": base}
    commands = [
        ([sys.executable, "examples/python/rest/rest_example.py"], ROOT),
        (["go", "run", "./rest/client"], ROOT / "examples" / "go"),
        (["node", "--import", "tsx", "../../examples/typescript/rest/rest-example.ts"], ROOT / "packages" / "typescript"),
    ]
    for command, cwd in commands:
        result = subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            print(result.stdout, result.stderr)
            raise SystemExit(f"REST example failed: {' '.join(command)}")
        print(f"REST example ok: {' '.join(command)}: {result.stdout.strip().splitlines()[-1]}")


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    server = Path(argv[0]).resolve()
    started = time.monotonic()
    docs = validate_documents()
    check = subprocess.run([sys.executable, str(ROOT / "tools" / "cqcopenapi.py"), "check"], check=False)
    if check.returncode != 0:
        raise SystemExit("REST mapping check failed")
    skip = {
        name.removeprefix("cqc.services.v1.").replace(".", "_")
        for name in subprocess.run(
            [str(server), "--list-unimplemented"], check=True, capture_output=True, text=True, timeout=30
        ).stdout.split()
    }
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "grpc.port"
        rest_port_file = Path(tmp) / "rest.port"
        proc = subprocess.Popen(
            [
                str(server), "--addr", "127.0.0.1:0", "--port-file", str(port_file),
                "--rest-addr", "127.0.0.1:0", "--rest-port-file", str(rest_port_file),
                "--testdata", str(ROOT / "testdata"),
            ]
        )
        try:
            _wait_for(port_file, proc)
            base = f"http://127.0.0.1:{_wait_for(rest_port_file, proc)}"
            runs = [(doc, *start_schemathesis(doc, base, skip)) for doc in docs]  # concurrently
            totals = [0, 0, 0]
            for doc, tested, skipped, st_proc in runs:
                totals[2] += finish_schemathesis(doc, tested, skipped, st_proc)
                totals[0] += tested
                totals[1] += skipped
            print(
                f"schemathesis: {totals[0]} operations tested, {totals[2]} cases, no failures; "
                f"{totals[1]} operations skipped (UNIMPLEMENTED in the Go reference server)"
            )
            run_examples(base, {})
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    print(f"rest: ok in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The service conformance suite (cqc.conformance): the harness's own behaviour (a wrong expectation fails,
the format is strict), and the ``cqc-conformance`` CLI as a real process against a real server process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTDATA

import cqc.testing
from cqc.conformance import (
    CaseError,
    PythonExecutor,
    Variables,
    at_path,
    check,
    contract_problems,
    load_suites,
    merge_patch,
    parse_suite,
    run_cases,
    select,
)
from cqc.conformance._values import MISSING

SUITES = load_suites()
CASES = select(SUITES)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with cqc.testing.serve(TESTDATA) as running:
        yield running


@pytest.fixture(scope="module")
def executor() -> Iterator[PythonExecutor]:
    found = PythonExecutor()
    yield found
    found.close()


# Every case against both reference servers, through all three executors, is `nox -s interop` (the
# python -> python cell is what a per-case test here would repeat); for one case while developing:
#   cqc-conformance --target HOST:PORT --service Portfolio --seed --case 'portfolio/create-*'


def test_suites_cover_the_services() -> None:
    services = {s.short_name for s in SUITES}
    assert {"AssetRegistry", "MarketData", "VenueGateway", "Portfolio", "RiskEngine", "Health"} <= services
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


# --- The harness ------------------------------------------------------------------------------------------


def _suite(*cases: dict[str, Any], service: str = "cqc.services.v1.AssetRegistry") -> Any:
    return parse_suite({"service": service, "cases": list(cases)}, "test.yaml")


def test_a_wrong_expectation_fails(server: Any, executor: PythonExecutor) -> None:
    """A deliberately wrong case: every mismatch is reported, exactly."""
    suite = _suite(
        {
            "name": "wrong/get-asset",
            "call": "GetAsset",
            "request": {"assetId": "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
            "expect": {"code": "OK", "response_fields": {"asset.symbol": "BTC"}},
        },
        {
            "name": "wrong/not-found-reason",
            "call": "GetAsset",
            "request": {"assetId": "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
            "expect": {"code": "NOT_FOUND", "error_reason": "NOT_FOUND_MARKET", "error_metadata_keys": ["market_id"]},
        },
        {
            "name": "right/not-found",
            "call": "GetAsset",
            "request": {"assetId": "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
            "expect": {
                "code": "NOT_FOUND",
                "error_reason": "NOT_FOUND_ASSET",
                "error_metadata": {"asset_id": "ast_01JDZZZZZZZZZZZZZZZZZZZZZZ"},
            },
        },
    )
    report = run_cases(suite.cases, executor, server.target)
    results = {r.name: r for r in report.results}
    assert not report.ok
    assert results["right/not-found"].passed
    assert results["wrong/get-asset"].problems[0].startswith("code: want OK, got NOT_FOUND NOT_FOUND_ASSET")
    assert "response_fields" not in results["wrong/get-asset"].problems[-1]
    assert results["wrong/not-found-reason"].problems == [
        "ErrorInfo.reason: want NOT_FOUND_MARKET, got 'NOT_FOUND_ASSET'",
        "ErrorInfo.metadata[market_id]: want it present, got ['asset_id']",
    ]
    assert report.summary() == ["AssetRegistry: 3 cases, 1 passed, 2 failed"]


def test_steps_capture_and_substitute(server: Any, executor: PythonExecutor) -> None:
    suite = _suite(
        {
            "name": "steps/capture",
            "seed": True,
            "steps": [
                {
                    "call": "ListAssets",
                    "request": {"pageSize": 1},
                    "expect": {"response_counts": {"assets": 1}},
                    "capture": {"first": "assets[0].assetId"},
                },
                {
                    "call": "GetAsset",
                    "request": {"assetId": "${first}"},
                    "expect": {"response_fields": {"asset.assetId": "${first}"}},
                },
                {
                    "call": "GetAsset",
                    "request": {"assetId": "${first}"},
                    "expect": {"response_fields": {"asset.assetId": "not-${first}"}},
                },
            ],
        }
    )
    report = run_cases(suite.cases, executor, server.target, include_seed=True)
    [result] = report.results
    assert result.status == "failed"
    assert len(result.problems) == 1 and result.problems[0].startswith("step 3 (GetAsset): response asset.assetId")
    skipped = run_cases(suite.cases, executor, server.target)
    assert skipped.ok and skipped.results[0].status == "skipped"
    assert skipped.summary() == ["AssetRegistry: 1 cases, 0 passed, 1 skipped (seed)"]


def test_stream_cancel_after(server: Any, executor: PythonExecutor) -> None:
    suite = _suite(
        {
            "name": "stream/cancel",
            "seed": True,
            "steps": [
                {"call": "StreamOrderBook", "request": {"marketId": "mkt_01JDBNBTCVSDTSP0T000000000"},
                 "expect": {"code": "CANCELLED", "stream": {"cancel_after": 1, "max_messages": 1}}},
                {"call": "GetOrderBook", "request": {"marketId": "mkt_01JDBNBTCVSDTSP0T000000000"}},
            ],
        },
        service="cqc.services.v1.MarketData",
    )  # fmt: skip
    report = run_cases(suite.cases, executor, server.target, include_seed=True)
    assert report.ok, report.failed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"name": "x/y", "call": "GetAsset", "expect": {"cod": "OK"}}, "unknown key(s) ['cod']"),
        ({"name": "x/y", "call": "NoSuchMethod"}, "is not a known method"),
        ({"name": "x/y", "call": "GetAsset", "kind": "server_stream"}, "kind 'server_stream'"),
        ({"name": "noslash", "call": "GetAsset"}, "'<area>/<what>'"),
        ({"name": "x/y", "call": "GetAsset", "expect": {"stream": {"min_messages": 1}}}, "expect.stream on a unary"),
        ({"name": "x/y", "steps": []}, "non-empty list"),
    ],
)
def test_the_format_is_strict(case: dict[str, Any], message: str) -> None:
    with pytest.raises(CaseError, match=None) as caught:
        _suite(case)
    assert message in str(caught.value)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(CaseError, match="duplicate"):
        _suite({"name": "a/b", "call": "GetAsset"}, {"name": "a/b", "call": "GetAsset"})


def test_values() -> None:
    variables = Variables()
    expanded = variables.expand({"a": "x-${ulid:one}", "b": "${ulid:one}", "c": ["${uuid:r}"]})
    assert expanded["a"] == "x-" + expanded["b"] and len(expanded["b"]) == 26
    assert len(expanded["c"][0]) == 36
    assert Variables().expand("${ulid:one}") != expanded["b"]  # fresh per case run
    variables.values["n"] = {"k": 1}
    assert variables.expand({"whole": "${n}", "part": "v=${n}"}) == {"whole": {"k": 1}, "part": 'v={"k": 1}'}
    with pytest.raises(KeyError, match="not set"):
        variables.expand("${unset}")
    asset = variables.expand({"$example": "cqc.assets.v1.Asset/bitcoin", "$patch": {"symbol": "XBT", "name": None}})
    assert asset["symbol"] == "XBT" and "name" not in asset and asset["assetId"].startswith("ast_")
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": 3}}) == {"a": {"b": 1, "d": 3}}
    assert at_path({"a": [{"b": 1}, {"b": 2}]}, "a[-1].b") == 2
    assert at_path({"a": []}, "a[0]") is MISSING


def test_contract_checks_every_error() -> None:
    """An error's code and metadata keys must be those of its reason's spec (errors.proto), whatever the case."""
    metadata = {"order_id": "ord_1", "account_id": "acc_1"}
    result = {"code": "NOT_FOUND", "error_info": {"reason": "NOT_FOUND_ORDER", "domain": "cqc.crypto-quant",
                                                  "metadata": metadata}}  # fmt: skip
    assert contract_problems(result) == [
        "ErrorInfo.metadata keys ['account_id'] are not in the spec of NOT_FOUND_ORDER"
        " (['order_id', 'client_order_id'])"
    ]
    wrong_code = {
        "code": "INVALID_ARGUMENT",
        "error_info": {"reason": "NOT_FOUND_ASSET", "domain": "x", "metadata": {}},
    }
    assert contract_problems(wrong_code) == [
        "ErrorInfo.domain: want 'cqc.crypto-quant', got 'x'",
        "reason NOT_FOUND_ASSET goes with code NOT_FOUND (errors.proto), the server sent INVALID_ARGUMENT",
    ]
    rules = {"code": "INVALID_ARGUMENT", "field_violations": [
        {"field": "a", "reason": "rule.one", "description": "x [rule.ignored]"},
        {"field": "b", "reason": "", "description": "y [rule.two]"}]}  # fmt: skip
    assert check(rules, {"code": "INVALID_ARGUMENT", "bad_request_rules": [["a", "rule.one"], ["b", "rule.two"]]}) == []


# --- The CLI, as a real process against a real server process ------------------------------------------------


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port_file = tmp_path_factory.mktemp("server") / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cqc.testing",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--testdata",
            str(TESTDATA),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"127.0.0.1:{port_file.read_text().strip()}"
    finally:
        process.terminate()
        process.wait(10)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cqc.conformance", *args], capture_output=True, text=True, timeout=120)


def test_cli_runs_a_service(server_process: str) -> None:
    done = _cli("--target", server_process, "--service", "MarketData", "--seed", "--server-name", "python")
    assert done.returncode == 0, done.stdout + done.stderr
    count = len(select(SUITES, ["MarketData"]))
    assert done.stdout.strip().splitlines()[-1] == f"MarketData: {count} cases, {count} passed"


def test_cli_json_rpcs_and_seed(server_process: str) -> None:
    done = _cli("--target", server_process, "--service", "cqc.services.v1.AssetRegistry", "--rpcs", "GetAsset",
                "--json")  # fmt: skip
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"]
    assert {r["name"] for r in report["results"]} == {c.name for c in select(SUITES, ["AssetRegistry"], ["GetAsset"])}
    assert {r["status"] for r in report["results"]} == {"passed", "skipped"}


def test_cli_fails_on_a_failing_case(server_process: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "service: cqc.services.v1.AssetRegistry\n"
        "cases:\n"
        "  - name: wrong/asset\n"
        "    call: GetAsset\n"
        '    request: {assetId: "ast_${ulid:a}"}\n'
        "    expect: {code: OK}\n"
    )
    done = _cli("--target", server_process, "--suites", str(wrong))
    assert done.returncode == 1
    assert "FAIL wrong/asset" in done.stdout and "code: want OK, got NOT_FOUND" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "AssetRegistry: 1 cases, 0 passed, 1 failed"
    assert _cli("--target", server_process, "--service", "NoSuchService").returncode == 2


PROTOCOL_EXECUTOR = """
import json, sys
from cqc.conformance import PythonExecutor
executor = PythonExecutor()
for line in sys.stdin:
    print(json.dumps(executor.execute(json.loads(line))), flush=True)
    print("a log line goes to stderr", file=sys.stderr)
"""


def test_executor_protocol_over_a_process(server: Any) -> None:
    """The JSON-lines protocol through a separate process (here the built-in executor behind it); an executor
    that exits is reported, not waited for."""
    from cqc.conformance import ExecutorDied, ProcessExecutor

    cases = select(SUITES, ["common"], case_globs=["health/serving", "health/unknown-service"])
    executor = ProcessExecutor([sys.executable, "-c", PROTOCOL_EXECUTOR], name="python-process")
    try:
        report = run_cases(cases, executor, server.target)
    finally:
        executor.close()
    assert report.ok and len(report.results) == 2, report.failed
    dead = ProcessExecutor([sys.executable, "-c", "import sys; print('broken', file=sys.stderr); sys.exit(3)"])
    try:
        with pytest.raises(ExecutorDied, match=r"exit code 3\)\n    broken"):
            run_cases(cases, dead, server.target)
    finally:
        dead.close()

"""examples/python/portfolio_server: the minimal Portfolio service built on cqc.kit passes the Portfolio
conformance cases of the RPCs it implements and a few direct checks (in process), and runs as a program."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import REPO_ROOT
from google.protobuf import field_mask_pb2

from cqc.kit import errors, ids
from cqc.portfolio.v1 import portfolio_pb2
from cqc.services.v1 import portfolio_pb2 as pb
from cqc.services.v1 import portfolio_pb2_grpc

SERVER = REPO_ROOT / "examples" / "python" / "portfolio_server" / "server.py"
RPCS = ("CreatePortfolio", "GetPortfolio", "ListPortfolios", "UpdatePortfolio")
USD = "ast_01JDFVSD000000000000000000"


def start(script: Path, cwd: Path | None = None, python: str = sys.executable) -> tuple[subprocess.Popen[str], str]:
    """Starts a server script with --port 0 --port-file; returns the process and its target."""
    port_file = Path(tempfile.mkdtemp(prefix="cqc-kit-example-")) / "port"
    proc = subprocess.Popen(
        [python, str(script), "--port", "0", "--port-file", str(port_file)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{script} did not start: {proc.communicate()[0]}")
        time.sleep(0.05)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    """The example server, in process (its module loaded from examples/; `start` runs it as a program)."""
    spec = importlib.util.spec_from_file_location("cqc_example_portfolio_server", SERVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server, port = module.serve(0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)


def test_example_runs_as_a_program() -> None:
    proc, address = start(SERVER)
    try:
        with grpc.insecure_channel(address) as channel:
            health: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/grpc.health.v1.Health/Check")
            assert health(b"", timeout=10) == b"\x08\x01"  # HealthCheckResponse{status: SERVING}
    finally:
        proc.terminate()
        assert proc.wait(10) is not None


def test_example_passes_the_portfolio_suite(target: str) -> None:
    from cqc.conformance import PythonExecutor, format_report, load_suites, run_cases, select

    cases = select(load_suites(), services=["Portfolio"], rpcs=list(RPCS))
    assert cases, "the packaged suites have no Portfolio case for " + ", ".join(RPCS)
    report = run_cases(cases, PythonExecutor(), target)
    assert report.ok, "\n".join(format_report(report))
    assert {r.status for r in report.results} <= {"passed", "skipped"}
    assert sum(r.status == "passed" for r in report.results) >= 10


def test_example_direct_calls(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = portfolio_pb2_grpc.PortfolioStub(channel)
        made = [
            portfolio_pb2.Portfolio(
                portfolio_id=ids.new_id("pfl"), name=f"p{i}", owner="desk:a", reporting_asset_id=USD, total_equity="0"
            )
            for i in range(3)
        ]
        for portfolio in made:
            portfolio.as_of_time.GetCurrentTime()
        for portfolio in made:
            created = stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=portfolio), timeout=5).portfolio
            assert created.HasField("create_time") and created.name == portfolio.name
        again = stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=made[0]), timeout=5).portfolio
        assert (
            again.create_time
            == stub.GetPortfolio(pb.GetPortfolioRequest(portfolio_id=made[0].portfolio_id)).portfolio.create_time
        )
        other = portfolio_pb2.Portfolio()
        other.CopyFrom(made[0])
        other.name = "other"
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreatePortfolio(pb.CreatePortfolioRequest(portfolio=other), timeout=5)
        assert errors.parse(caught.value).metadata == {"portfolio_id": made[0].portfolio_id}

        seen: list[str] = []
        token = ""
        while True:
            page = stub.ListPortfolios(pb.ListPortfoliosRequest(page_size=2, page_token=token), timeout=5)
            seen += [p.portfolio_id for p in page.portfolios]
            token = page.next_page_token
            if not token:
                break
        assert set(seen) >= {p.portfolio_id for p in made} and seen == sorted(seen)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListPortfolios(pb.ListPortfoliosRequest(page_token="tampered"), timeout=5)
        assert errors.parse(caught.value).reason == "INVALID_PAGE_TOKEN"

        patch = portfolio_pb2.Portfolio()  # the request carries a whole, valid portfolio; the mask picks fields
        patch.CopyFrom(made[1])
        patch.name, patch.owner = "renamed", "desk:b"
        updated = stub.UpdatePortfolio(
            pb.UpdatePortfolioRequest(portfolio=patch, update_mask=field_mask_pb2.FieldMask(paths=["name"])), timeout=5
        ).portfolio
        assert (updated.name, updated.owner) == ("renamed", "desk:a")
        for paths, reason in ((["portfolio_id"], "INVALID_UPDATE_MASK"), (["nope"], "INVALID_UPDATE_MASK")):
            with pytest.raises(grpc.RpcError) as caught:
                stub.UpdatePortfolio(
                    pb.UpdatePortfolioRequest(portfolio=patch, update_mask=field_mask_pb2.FieldMask(paths=paths))
                )
            assert (errors.parse(caught.value).reason, errors.parse(caught.value).metadata) == (
                reason,
                {"paths": paths[0]},
            )
        patch.owner = ""
        with pytest.raises(grpc.RpcError) as caught:
            stub.UpdatePortfolio(
                pb.UpdatePortfolioRequest(portfolio=patch, update_mask=field_mask_pb2.FieldMask(paths=["owner"]))
            )
        assert errors.parse(caught.value).rule_ids == ("string.min_len",)
        assert [v.field for v in errors.parse(caught.value).violations] == ["portfolio.owner"]
        missing = ids.new_id("pfl")
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetPortfolio(pb.GetPortfolioRequest(portfolio_id=missing), timeout=5)
        parsed = errors.parse(caught.value)
        assert (parsed.code, parsed.reason, parsed.metadata) == (
            grpc.StatusCode.NOT_FOUND,
            "NOT_FOUND_RESOURCE",
            {"portfolio_id": missing},
        )
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetPosition(pb.GetPositionRequest(position_id="pos_01JDBNBTCVSDTPERP10NG00000"), timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED

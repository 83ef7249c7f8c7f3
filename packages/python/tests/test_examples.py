"""examples/python: each example runs as a subprocess against an in-process reference server, and the
examples stay mypy --strict clean (they are meant to be copied)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, TESTDATA
from mypy import api as mypy_api

import cqc.testing

EXAMPLES = REPO_ROOT / "examples" / "python"
PACKAGE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with cqc.testing.serve(TESTDATA) as server:
        yield server.target


def run_example(name: str, target: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--target", target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_resolve_market(target: str) -> None:
    out = run_example("resolve_market.py", target)
    assert "market_id: mkt_01JDBNBTCVSDTSP0T000000000" in out
    assert "tick_size: 0.01000000" in out
    assert "lot_size:  0.00001000" in out


def test_stream_order_book(target: str) -> None:
    lines = run_example("stream_order_book.py", target).splitlines()
    assert lines[0] == (
        "snapshot (last_update_id 41804871215): best bid 43050.10000000 x 1.83412000 | "
        "best ask 43050.11000000 x 0.41210000"
    )
    # The delta resizes the best bid and best ask levels.
    assert lines[1] == (
        "delta (last_update_id 41804871219): best bid 43050.10000000 x 1.20000000 | "
        "best ask 43050.11000000 x 0.40000000"
    )
    assert len(lines) == 2


def test_place_order(target: str) -> None:
    out = run_example("place_order.py", target)
    placed = out.splitlines()[0].split()[2]
    assert placed.startswith("ord_")
    assert f"retried: order_id {placed} status ORDER_STATUS_NEW" in out
    assert out.rstrip().endswith("same order: True")


def test_validation_error(target: str) -> None:
    out = run_example("validation_error.py", target)
    assert "status: INVALID_ARGUMENT" in out
    assert "reason: VALIDATION_FAILED (domain cqc.crypto-quant)" in out
    assert "violation: field=request_id rule=string.uuid" in out
    assert "violation: field=order.account_id rule=cqc.id" in out
    assert "violation: field=order rule=new_order.price_required_for_limit_types" in out


def test_examples_are_strictly_typed() -> None:
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--config-file", str(PACKAGE / "pyproject.toml"), str(EXAMPLES)]
    )
    assert status == 0, stdout + stderr

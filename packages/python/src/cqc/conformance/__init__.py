"""The CQC service conformance suite: language-neutral cases per service (``suites/*.yaml``), one runner that
owns the cases and every check, and thin executors that only perform calls (README.md).

    cqc-conformance --target 127.0.0.1:50051 --service Portfolio

Python API::

    from cqc.conformance import load_suites, select, run_cases, PythonExecutor
    report = run_cases(select(load_suites(), services=["Portfolio"]), PythonExecutor(), "127.0.0.1:50051")
    assert report.ok, report.failed

Needs the ``conformance`` extra (``pip install 'cqc-contracts[conformance]'``).
"""

from __future__ import annotations

from cqc.conformance._cases import Case, CaseError, Step, Suite, load_suites, parse_suite, select
from cqc.conformance._checks import check, contract_problems, error_reason_specs
from cqc.conformance._executors import Executor, ExecutorDied, ProcessExecutor, PythonExecutor, make_executor
from cqc.conformance._runner import CaseResult, Report, format_report, run_case, run_cases
from cqc.conformance._seed import example, examples_of
from cqc.conformance._values import Variables, at_path, merge_patch

__all__ = [
    "Case",
    "CaseError",
    "CaseResult",
    "Executor",
    "ExecutorDied",
    "ProcessExecutor",
    "PythonExecutor",
    "Report",
    "Step",
    "Suite",
    "Variables",
    "at_path",
    "check",
    "contract_problems",
    "error_reason_specs",
    "example",
    "examples_of",
    "format_report",
    "load_suites",
    "make_executor",
    "merge_patch",
    "parse_suite",
    "run_case",
    "run_cases",
    "select",
]

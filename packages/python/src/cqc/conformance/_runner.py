"""Running cases through an executor and reporting them."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cqc.conformance._cases import Case, Step
from cqc.conformance._checks import check
from cqc.conformance._executors import Executor, ExecutorDied
from cqc.conformance._seed import examples_of
from cqc.conformance._values import MISSING, Variables, at_path, show

Json = Any
MAX_PAGES = 1000
_ids = itertools.count(1)


@dataclass
class CaseResult:
    name: str
    suite: str
    service: str
    status: str  # passed | failed | skipped
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Report:
    target: str
    executor: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> list[str]:
        """One line per service: "Portfolio: N cases, N passed[, N failed][, N skipped (seed)]"."""
        lines = []
        for service in sorted({r.service for r in self.results}):
            mine = [r for r in self.results if r.service == service]
            counts = {s: sum(r.status == s for r in mine) for s in ("passed", "failed", "skipped")}
            line = f"{service.rsplit('.', 1)[-1]}: {len(mine)} cases, {counts['passed']} passed"
            if counts["failed"]:
                line += f", {counts['failed']} failed"
            if counts["skipped"]:
                line += f", {counts['skipped']} skipped (seed)"
            lines.append(line)
        return lines

    def to_json(self) -> Json:
        return {
            "target": self.target,
            "executor": self.executor,
            "ok": self.ok,
            "summary": self.summary(),
            "results": [asdict(r) for r in self.results],
        }


class _StepFailed(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _call(step: Step, request: Json, variables: Variables, target: str) -> Json:
    stream = step.expect.get("stream") or {}
    return {
        "id": next(_ids),
        "target": target,
        "service": step.service,
        "method": step.method,
        "kind": step.kind,
        "request": request,
        "headers": variables.expand(dict(step.headers)),
        "deadline_ms": step.deadline_ms,
        "cancel_after": stream.get("cancel_after"),
    }


def _paginate(
    step: Step, request: Json, expect: Mapping[str, Json], variables: Variables, run: Callable[[Json], Json],
    server: str | None, target: str,
) -> Json:  # fmt: skip
    spec = expect["pagination"]
    problems: list[str] = []
    collected: list[Json] = []
    token = request.get("pageToken", "") if isinstance(request, dict) else ""
    first_result: Json = None
    for page in range(MAX_PAGES):
        page_request = dict(request, pageToken=token) if token else dict(request)
        result = run(_call(step, page_request, variables, target))
        first_result = first_result or result
        found = check(result, expect, server)
        if found:
            raise _StepFailed([f"page {page + 1}: {p}" for p in found])
        response = (result.get("responses") or [{}])[0]
        items = at_path(response, spec["items_field"])
        items = [] if items is MISSING else items
        if len(items) > spec["page_size"]:
            raise _StepFailed([f"page {page + 1}: {len(items)} items, more than page_size {spec['page_size']}"])
        collected += [at_path(item, spec["id_field"]) for item in items]
        token = response.get("nextPageToken", "")
        if not token:
            break
        if not items:
            problems.append(f"page {page + 1} is empty but has a nextPageToken")
    else:
        raise _StepFailed([f"pagination did not end after {MAX_PAGES} pages"])
    if MISSING in collected:
        problems.append(f"an item has no {spec['id_field']}")
    ids = [i for i in collected if i is not MISSING]
    if len(ids) != len(set(map(show, ids))):
        problems.append(f"duplicate ids across pages: {ids}")
    order = spec.get("order", "ascending" if "total_from_examples" in spec else "any")
    if order == "ascending" and ids != sorted(ids):
        problems.append(f"ids not ascending: {ids}")
    if order == "descending" and ids != sorted(ids, reverse=True):
        problems.append(f"ids not descending: {ids}")
    want: list[Json] | None = None
    if "total_from_examples" in spec:
        want = sorted({e[spec["id_field"]] for e in examples_of(spec["total_from_examples"]) if spec["id_field"] in e})
    if "ids" in spec:
        want = list(variables.expand(spec["ids"]))
    if want is not None and sorted(map(show, ids)) != sorted(map(show, want)):
        missing = [i for i in want if i not in ids]
        extra = [i for i in ids if i not in want]
        problems.append(f"collected {len(ids)} ids, want {len(want)} (missing {missing}, unexpected {extra})")
    if len(ids) < spec.get("min_items", 0):
        problems.append(f"collected {len(ids)} items, want at least {spec['min_items']}")
    if problems:
        raise _StepFailed(problems)
    return first_result


def _capture(step: Step, result: Json, variables: Variables) -> None:
    responses = result.get("responses") or []
    for name, path in step.capture.items():
        if path.startswith("messages["):
            value = at_path({"messages": responses}, path)
        elif path.startswith("error_info."):
            value = at_path({"error_info": result.get("error_info") or {}}, path)
        else:
            value = at_path(responses[0], path) if responses else MISSING
        if value is MISSING:
            raise _StepFailed([f"capture {name}: nothing at {path}"])
        variables.values[name] = value


def run_case(case: Case, executor: Executor, target: str, server: str | None = None) -> CaseResult:
    """Runs the steps of ``case`` in order; the first failing step ends it."""
    started = time.monotonic()
    variables = Variables()
    result = CaseResult(case.name, case.suite, case.service, "passed")

    def run(call: Json) -> Json:
        return executor.execute(call)

    for number, step in enumerate(case.steps, 1):
        label = f"step {number} ({step.method})" if len(case.steps) > 1 else ""
        try:
            request = variables.expand(step.request)
            expect = variables.expand(dict(step.expect))
            if "pagination" in expect:
                outcome = _paginate(step, request, expect, variables, run, server, target)
            else:
                outcomes = [run(_call(step, request, variables, target)) for _ in range(step.repeat)]
                problems: list[str] = []
                for i, outcome in enumerate(outcomes):
                    prefix = f"call {i + 1}: " if step.repeat > 1 else ""
                    problems += [prefix + p for p in check(outcome, expect, server)]
                same = expect.get("same_response_as_first")
                if same:
                    values = [at_path((o.get("responses") or [MISSING])[0], same) for o in outcomes]
                    if values[0] is MISSING or any(v != values[0] for v in values):
                        problems.append(f"{same} differs between the calls: {[show(v) for v in values]}")
                if problems:
                    raise _StepFailed(problems)
                outcome = outcomes[0]
            _capture(step, outcome, variables)
        except ExecutorDied:
            raise
        except _StepFailed as failed:
            result.status = "failed"
            result.problems = [f"{label}: {p}" if label else p for p in failed.problems]
            break
        except Exception as error:  # a broken case (bad $example, unknown variable): fails this case only
            result.status = "failed"
            result.problems = [f"{label + ': ' if label else ''}case error: {type(error).__name__}: {error}"]
            break
    result.seconds = round(time.monotonic() - started, 3)
    return result


def run_cases(
    cases: Sequence[Case], executor: Executor, target: str, *, server: str | None = None, include_seed: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
) -> Report:  # fmt: skip
    """Runs ``cases`` in order against ``target``; seed cases are skipped unless ``include_seed``."""
    report = Report(target=target, executor=executor.name)
    for case in cases:
        if case.seed and not include_seed:
            outcome = CaseResult(case.name, case.suite, case.service, "skipped", ["needs the seed data (--seed)"])
        else:
            outcome = run_case(case, executor, target, server)
        report.results.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return report


def format_result(result: CaseResult) -> str:
    word = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[result.status]
    text = f"{word} {result.name}"
    if result.status == "failed":
        text += "".join(f"\n    {p}" for p in result.problems)
    return text


def format_report(report: Report, verbose: bool = False) -> Iterable[str]:
    for result in report.results:
        if verbose or result.status == "failed":
            yield format_result(result)
    yield from report.summary()

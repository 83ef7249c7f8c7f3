"""Loading the suites: ``suites/*.yaml`` (package data), checked strictly against the case format.

A suite file is ``{service: <full service name>, description?: str, cases: [case, ...]}``; a case is
``{name, seed?, description?, steps: [step, ...]}`` or, for one step, the step's keys at the case level. A step
is ``{call, kind?, request?, headers?, deadline_ms?, repeat?, expect?, capture?}``. README.md describes every
key; an unknown key is an error (never silently ignored).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

Json = Any

STEP_KEYS = {"call", "kind", "request", "headers", "deadline_ms", "repeat", "expect", "capture", "description"}
CASE_KEYS = {"name", "seed", "description", "steps"}
SUITE_KEYS = {"service", "description", "definitions", "cases"}  # definitions: YAML anchors, not read
EXPECT_KEYS = {
    "code",
    "error_reason",
    "error_metadata",
    "error_metadata_keys",
    "bad_request_rules",
    "response_fields",
    "response_counts",
    "present_fields",
    "absent_fields",
    "stream",
    "pagination",
    "same_response_as_first",
    "response_headers",
    "response_trailers",
}
STREAM_KEYS = {"min_messages", "max_messages", "first_fields", "every_fields", "last_fields", "cancel_after"}
PAGINATION_KEYS = {"page_size", "items_field", "id_field", "total_from_examples", "ids", "order", "min_items"}
KINDS = ("unary", "server_stream")
DEFAULT_DEADLINE_MS = 10_000


class CaseError(ValueError):
    """A suite file breaks the case format (the message names the file and case)."""


@dataclass(frozen=True)
class Step:
    service: str  # full name, e.g. cqc.services.v1.Portfolio
    method: str
    kind: str
    request: Json
    headers: Mapping[str, str]
    deadline_ms: int
    repeat: int
    expect: Mapping[str, Json]
    capture: Mapping[str, str]

    @property
    def rpc(self) -> str:
        return f"{self.service}/{self.method}"


@dataclass(frozen=True)
class Case:
    name: str
    service: str  # the suite's service (full name)
    suite: str  # the suite file's name, e.g. portfolio.yaml
    seed: bool
    steps: tuple[Step, ...]
    description: str = ""

    @property
    def methods(self) -> frozenset[str]:
        """The short method names the steps call (for ``--rpcs``)."""
        return frozenset(step.method for step in self.steps)


@dataclass
class Suite:
    file: str
    service: str
    description: str = ""
    cases: list[Case] = field(default_factory=list)

    @property
    def short_name(self) -> str:
        return self.service.rsplit(".", 1)[-1]


def _method_kind(service: str, method: str) -> str | None:
    """unary / server_stream from the descriptors, or None when the method is unknown here."""
    from cqc.conformance._descriptors import find_service

    try:
        descriptor = find_service(service)
    except KeyError:
        return None
    found = descriptor.methods_by_name.get(method)
    if found is None:
        return None
    if found.client_streaming:
        return "client_stream"
    return "server_stream" if found.server_streaming else "unary"


def _mapping(value: Json, where: str) -> Mapping[str, Json]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CaseError(f"{where}: want a mapping, got {type(value).__name__}")
    return value


def _check_keys(value: Mapping[str, Json], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise CaseError(f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")


def _step(raw: Mapping[str, Json], service: str, where: str) -> Step:
    _check_keys(raw, STEP_KEYS, where)
    call = raw.get("call")
    if not isinstance(call, str) or not call:
        raise CaseError(f"{where}: `call` (a method name) is required")
    step_service, _, method = call.rpartition("/")
    step_service = step_service or service
    known = _method_kind(step_service, method)
    if known is None:
        raise CaseError(f"{where}: {step_service}/{method} is not a known method")
    if known == "client_stream":
        raise CaseError(f"{where}: {step_service}/{method} streams from the client (not supported)")
    kind = raw.get("kind", known)
    if kind not in KINDS or kind != known:
        raise CaseError(f"{where}: kind {kind!r}, but {step_service}/{method} is {known}")
    expect = dict(_mapping(raw.get("expect"), f"{where} expect"))
    _check_keys(expect, EXPECT_KEYS, f"{where} expect")
    if "stream" in expect:
        _check_keys(_mapping(expect["stream"], f"{where} stream"), STREAM_KEYS, f"{where} expect.stream")
        if kind != "server_stream":
            raise CaseError(f"{where}: expect.stream on a unary call")
    if "pagination" in expect:
        pagination = _mapping(expect["pagination"], f"{where} pagination")
        _check_keys(pagination, PAGINATION_KEYS, f"{where} expect.pagination")
        for key in ("page_size", "items_field", "id_field"):
            if key not in pagination:
                raise CaseError(f"{where}: expect.pagination needs {key}")
    for key in ("bad_request_rules",):
        for pair in expect.get(key, []):
            if not (isinstance(pair, Sequence) and len(pair) == 2):
                raise CaseError(f"{where}: {key} items are [field, rule_id] pairs, got {pair!r}")
    repeat = raw.get("repeat", 1)
    deadline = raw.get("deadline_ms", DEFAULT_DEADLINE_MS)
    if not isinstance(repeat, int) or repeat < 1 or not isinstance(deadline, int) or deadline < 1:
        raise CaseError(f"{where}: repeat and deadline_ms are positive integers")
    headers = {str(k): str(v) for k, v in _mapping(raw.get("headers"), f"{where} headers").items()}
    capture = {str(k): str(v) for k, v in _mapping(raw.get("capture"), f"{where} capture").items()}
    return Step(
        service=step_service,
        method=method,
        kind=kind,
        request=raw.get("request", {}),
        headers=headers,
        deadline_ms=deadline,
        repeat=repeat,
        expect=expect,
        capture=capture,
    )


def parse_suite(data: Json, file: str) -> Suite:
    """A suite from its parsed YAML/JSON ``data``; CaseError on any format error."""
    data = _mapping(data, file)
    _check_keys(data, SUITE_KEYS, file)
    service = data.get("service")
    if not isinstance(service, str) or "." not in service:
        raise CaseError(f"{file}: `service` (a full service name) is required")
    suite = Suite(file=file, service=service, description=str(data.get("description", "")))
    names: set[str] = set()
    for index, raw in enumerate(data.get("cases") or []):
        where = f"{file} case {index} ({raw.get('name') if isinstance(raw, Mapping) else '?'})"
        raw = _mapping(raw, where)
        name = raw.get("name")
        if not isinstance(name, str) or "/" not in name:
            raise CaseError(f"{where}: `name` is required, as '<area>/<what>'")
        if name in names:
            raise CaseError(f"{where}: duplicate case name")
        names.add(name)
        if "steps" in raw:
            _check_keys(raw, CASE_KEYS, where)
            raw_steps = raw["steps"]
            if not isinstance(raw_steps, list) or not raw_steps:
                raise CaseError(f"{where}: `steps` is a non-empty list")
        else:
            _check_keys(raw, CASE_KEYS | STEP_KEYS, where)
            raw_steps = [{k: v for k, v in raw.items() if k in STEP_KEYS and k != "description"}]
        steps = tuple(_step(_mapping(s, where), service, f"{where} step {i + 1}") for i, s in enumerate(raw_steps))
        seed = raw.get("seed", False)
        if not isinstance(seed, bool):
            raise CaseError(f"{where}: seed is true or false")
        suite.cases.append(Case(name, service, file, seed, steps, str(raw.get("description", ""))))
    return suite


def _yaml_load(text: str, file: str) -> Json:
    import yaml  # type: ignore[import-untyped]

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CaseError(f"{file}: not valid YAML: {error}") from None


_SERVICE_LINE = re.compile(r"^service:\s*['\"]?([\w.]+)", re.MULTILINE)


def _wanted(file: str, text: str, services: Sequence[str]) -> bool:
    """Whether a suite file belongs to one of ``services`` (all when empty), read from its ``service:`` line
    and name without parsing it: another service's broken file does not stop this one."""
    if not services:
        return True
    found = _SERVICE_LINE.search(text)
    service = found.group(1) if found else ""
    return any(_matches(file, service, wanted) for wanted in services)


def _suite_files(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """(file name, text) of the packaged suites, or of ``paths`` (files, or directories of ``*.yaml``)."""
    if not paths:
        folder = resources.files("cqc.conformance") / "suites"
        entries = sorted((e for e in folder.iterdir() if e.name.endswith((".yaml", ".yml"))), key=lambda e: e.name)
        return [(e.name, e.read_text(encoding="utf-8")) for e in entries]
    found = []
    for path in paths:
        for file in sorted(path.glob("*.y*ml")) if path.is_dir() else [path]:
            found.append((file.name, file.read_text(encoding="utf-8")))
    return found


def load_suites(paths: Iterable[Path] = (), services: Sequence[str] = ()) -> list[Suite]:
    """The packaged suites, or those of ``paths`` (files, or directories of ``*.yaml``) when given; with
    ``services``, only those services' files are read. Case names are unique across the suites read."""
    suites = [
        parse_suite(_yaml_load(text, file), file)
        for file, text in _suite_files(list(paths))
        if _wanted(file, text, services)
    ]
    seen: dict[str, str] = {}
    for suite in suites:
        for case in suite.cases:
            if case.name in seen:
                raise CaseError(f"case {case.name!r} is in both {seen[case.name]} and {suite.file}")
            seen[case.name] = suite.file
    return suites


def _matches(file: str, service: str, wanted: str) -> bool:
    stem = Path(file).stem
    short = service.rsplit(".", 1)[-1]
    return wanted in (service, short) or stem == wanted or stem.startswith(wanted + "_")


def service_matches(suite: Suite, wanted: str) -> bool:
    """``--service`` matching: the full name, the short name (``Portfolio``), or the file stem (``common``)."""
    return _matches(suite.file, suite.service, wanted)


def select(
    suites: Sequence[Suite],
    services: Sequence[str] = (),
    rpcs: Sequence[str] = (),
    case_globs: Sequence[str] = (),
) -> list[Case]:
    """The cases of the suites of ``services`` (all when empty) whose every step calls one of ``rpcs`` (any
    when empty) and whose name matches one of ``case_globs`` (any when empty)."""
    chosen = []
    for suite in suites:
        if services and not any(service_matches(suite, s) for s in services):
            continue
        for case in suite.cases:
            if rpcs and not case.methods <= set(rpcs):
                continue
            if case_globs and not any(fnmatch.fnmatchcase(case.name, g) for g in case_globs):
                continue
            chosen.append(case)
    return chosen

"""The Python interop scenario client: runs testdata/interop/scenarios.json against a CQC reference server.

    python tests/interop_client.py --target 127.0.0.1:PORT --server go --testdata ../../testdata --out results.json

writes ``{"client": "python", "server": NAME, "results": [{"name", "passed", "detail"}]}`` and exits 1 if any
scenario failed. Data-driven: each scenario names a service and method, called through the generated stub
classes (``cqc.services.v1.*_pb2_grpc``, ``grpc.health.v1``) with the request decoded from canonical JSON;
responses are compared as canonical JSON values, never bytes. testdata/interop/README.md defines the format.
Importable: :func:`run_scenarios` returns the results without writing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import google.rpc.error_details_pb2 as error_details_pb2
import google.rpc.status_pb2 as status_pb2
import grpc
from corpus import merge_patch  # tests/corpus.py: the RFC 7386 merge patch the case files use
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2_grpc

import cqc.registry
from cqc.services.v1 import asset_registry_pb2_grpc, market_data_pb2_grpc, venue_gateway_pb2_grpc

Json = Any
CLIENT = "python"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "cqc.crypto-quant"

STUBS: dict[str, Callable[[grpc.Channel], object]] = {
    "cqc.services.v1.AssetRegistry": asset_registry_pb2_grpc.AssetRegistryStub,
    "cqc.services.v1.MarketData": market_data_pb2_grpc.MarketDataStub,
    "cqc.services.v1.VenueGateway": venue_gateway_pb2_grpc.VenueGatewayStub,
    "grpc.health.v1.Health": health_pb2_grpc.HealthStub,
}


@dataclass
class Result:
    name: str
    passed: bool
    detail: str


@dataclass
class Outcome:
    """What one call produced: the responses (canonical JSON), the status and the metadata."""

    code: grpc.StatusCode
    message: str
    responses: list[Json]
    headers: list[tuple[str, str | bytes]]
    trailers: list[tuple[str, str | bytes]]


# --- Requests ---------------------------------------------------------------------------------------------


def resolve_examples(value: Json, examples: Path) -> Json:
    """Replaces every ``{"$example": "<Type>/<name>", "$patch": {...}}`` with that example file, patched."""
    if isinstance(value, dict):
        if "$example" in value:
            example = json.loads((examples / f"{value['$example']}.json").read_text(encoding="utf-8"))
            return merge_patch(example, value.get("$patch", {}))
        return {key: resolve_examples(item, examples) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_examples(item, examples) for item in value]
    return value


def _message_class(full_name: str) -> type[Message]:
    cqc.registry.generated_modules()  # registers every CQC type in the default pool
    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(full_name))


def request_message(service: str, method: str, request: Json) -> Message:
    descriptor = descriptor_pool.Default().FindServiceByName(service).methods_by_name[method]
    message = _message_class(descriptor.input_type.full_name)()
    json_format.ParseDict(request, message)
    return message


def to_json(message: Message) -> Json:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


# --- Calls ------------------------------------------------------------------------------------------------


def call(channel: grpc.Channel, scenario: Mapping[str, Json], request: Message) -> Outcome:
    stub = STUBS[scenario["service"]](channel)
    multi = getattr(stub, scenario["method"])
    metadata = tuple((str(k), str(v)) for k, v in scenario.get("headers", {}).items())
    timeout = scenario["deadline_ms"] / 1000 if "deadline_ms" in scenario else 10.0
    responses: list[Json] = []
    rpc: Any
    if scenario["kind"] == "server_stream":
        rpc = multi(request, metadata=metadata, timeout=timeout)
        try:
            for response in rpc:
                responses.append(to_json(response))
        except grpc.RpcError:
            pass
    else:
        try:
            response, rpc = multi.with_call(request, metadata=metadata, timeout=timeout)
            responses.append(to_json(response))
        except grpc.RpcError as error:
            rpc = error
    return Outcome(
        code=rpc.code(),
        message=rpc.details() or "",
        responses=responses,
        headers=metadata_pairs(rpc.initial_metadata()),
        trailers=metadata_pairs(rpc.trailing_metadata()),
    )


def metadata_pairs(metadata: Iterable[Any] | None) -> list[tuple[str, str | bytes]]:
    """(key, value) pairs of gRPC metadata (grpcio gives tuples or _Metadatum named tuples)."""
    return [(str(item[0]), item[1]) for item in metadata or ()]


def rich_status(trailers: Iterable[Any] | None) -> status_pb2.Status | None:
    """The google.rpc.Status of a call's grpc-status-details-bin trailer, or None."""
    for key, value in metadata_pairs(trailers):
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def error_details(
    trailers: Iterable[Any] | None,
) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest of a call's grpc-status-details-bin trailer (None when absent)."""
    status = rich_status(trailers)
    info: error_details_pb2.ErrorInfo | None = None
    bad_request: error_details_pb2.BadRequest | None = None
    for detail in status.details if status is not None else ():
        candidate_info, candidate_bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(candidate_info):
            info = candidate_info
        elif detail.Unpack(candidate_bad_request):
            bad_request = candidate_bad_request
    return info, bad_request


# --- Checks -----------------------------------------------------------------------------------------------

_MISSING = object()
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def at_path(value: Json, path: str) -> Json:
    """The value at a JSON path like ``orderBook.bids[0].price``; ``_MISSING`` when absent."""
    for name, index in _PATH_PART.findall(path):
        if name:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
        else:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
    return value


def _show(value: Json) -> str:
    return "(absent)" if value is _MISSING else json.dumps(value)


def check_fields(response: Json, expected: Mapping[str, Json], label: str) -> list[str]:
    problems = []
    for path, want in expected.items():
        got = at_path(response, path)
        if got is _MISSING or got != want:
            problems.append(f"{label} {path}: want {json.dumps(want)}, got {_show(got)}")
    return problems


def check_metadata(
    got: Sequence[tuple[str, str | bytes]], expected: Mapping[str, str], server: str, label: str
) -> list[str]:
    problems = []
    for key, want in expected.items():
        want = server if want == "$server" else want
        values = [value for k, value in got if k == key]
        if want not in values:
            problems.append(f"{label} {key}: want {want!r}, got {values or '(absent)'}")
    return problems


def check_outcome(outcome: Outcome, expect: Mapping[str, Json], server: str) -> list[str]:
    """Everything ``expect`` says about one call, except pagination and repeat (see :func:`run_scenario`)."""
    problems: list[str] = []
    want_code = expect.get("code", "OK")
    if outcome.code.name != want_code:
        problems.append(f"code: want {want_code}, got {outcome.code.name} ({outcome.message})")
    if "error_reason" in expect or "error_metadata" in expect or "bad_request_rules" in expect:
        info, bad_request = error_details(outcome.trailers)
        if info is None:
            problems.append("no google.rpc.ErrorInfo in grpc-status-details-bin")
        else:
            if "error_reason" in expect and info.reason != expect["error_reason"]:
                problems.append(f"ErrorInfo.reason: want {expect['error_reason']}, got {info.reason!r}")
            if info.domain != DOMAIN:
                problems.append(f"ErrorInfo.domain: want {DOMAIN}, got {info.domain!r}")
            for key, want in expect.get("error_metadata", {}).items():
                if info.metadata.get(key) != want:
                    problems.append(f"ErrorInfo.metadata[{key}]: want {want!r}, got {info.metadata.get(key)!r}")
        if "bad_request_rules" in expect:
            found = set()
            for violation in bad_request.field_violations if bad_request is not None else ():
                rule = re.search(r"\[([^\[\]]+)\]\s*$", violation.description)
                found.add((violation.field, rule.group(1) if rule else ""))
            for field, rule_id in expect["bad_request_rules"]:
                if (field, rule_id) not in found:
                    problems.append(f"BadRequest: no violation ({field!r}, {rule_id!r}); got {sorted(found)}")
    first = outcome.responses[0] if outcome.responses else _MISSING
    if "response_fields" in expect:
        if first is _MISSING:
            problems.append("response_fields: no response")
        else:
            problems += check_fields(first, expect["response_fields"], "response")
    for path, count in expect.get("response_counts", {}).items():
        items = at_path(first, path) if first is not _MISSING else _MISSING
        got = len(items) if isinstance(items, list) else _MISSING
        if got != count:
            problems.append(f"count of {path}: want {count}, got {_show(got)}")
    stream = expect.get("stream")
    if stream is not None:
        n = len(outcome.responses)
        if n < stream.get("min_messages", 0):
            problems.append(f"stream: want at least {stream['min_messages']} messages, got {n}")
        if "max_messages" in stream and n > stream["max_messages"]:
            problems.append(f"stream: want at most {stream['max_messages']} messages, got {n}")
        if "first_fields" in stream and outcome.responses:
            problems += check_fields(outcome.responses[0], stream["first_fields"], "first message")
        for i, response in enumerate(outcome.responses):
            problems += check_fields(response, stream.get("every_fields", {}), f"message {i}")
    problems += check_metadata(outcome.headers, expect.get("response_headers", {}), server, "header")
    problems += check_metadata(outcome.trailers, expect.get("response_trailers", {}), server, "trailer")
    return problems


def example_ids(testdata: Path, message_type: str, id_field: str) -> list[str]:
    """The distinct ids of the examples of ``message_type`` (two examples may describe one resource)."""
    files = sorted((testdata / "examples" / message_type).glob("*.json"))
    return sorted({json.loads(f.read_text(encoding="utf-8"))[id_field] for f in files})


def run_pagination(
    channel: grpc.Channel, scenario: Mapping[str, Json], request_json: Json, testdata: Path, server: str
) -> list[str]:
    spec = scenario["expect"]["pagination"]
    ids: list[str] = []
    token = request_json.get("pageToken", "")
    for page_number in range(1000):
        page_request = dict(request_json, pageToken=token) if token else dict(request_json)
        outcome = call(channel, scenario, request_message(scenario["service"], scenario["method"], page_request))
        problems = check_outcome(outcome, scenario["expect"], server)
        if problems:
            return [f"page {page_number}: {p}" for p in problems]
        response = outcome.responses[0]
        items = response.get(spec["items_field"], [])
        if len(items) > spec["page_size"]:
            return [f"page {page_number}: {len(items)} items, more than page_size {spec['page_size']}"]
        ids += [item[spec["id_field"]] for item in items]
        token = response.get("nextPageToken", "")
        if not token:
            break
    else:
        return ["pagination did not end after 1000 pages"]
    problems = []
    want = example_ids(testdata, spec["total_from_examples"], spec["id_field"])
    if len(ids) != len(set(ids)):
        problems.append(f"duplicate ids across pages: {ids}")
    if ids != sorted(ids):
        problems.append(f"ids not ascending: {ids}")
    if sorted(set(ids)) != want:
        missing, extra = sorted(set(want) - set(ids)), sorted(set(ids) - set(want))
        problems.append(
            f"collected {len(ids)} ids, want the {len(want)} distinct {spec['total_from_examples']} examples"
            f" (missing {missing}, not examples {extra})"
        )
    return problems


def run_scenario(channel: grpc.Channel, scenario: Mapping[str, Json], testdata: Path, server: str) -> Result:
    name = scenario["name"]
    try:
        request_json = resolve_examples(scenario.get("request", {}), testdata / "examples")
        expect = scenario["expect"]
        if "pagination" in expect:
            problems = run_pagination(channel, scenario, request_json, testdata, server)
        else:
            request = request_message(scenario["service"], scenario["method"], request_json)
            outcomes = [call(channel, scenario, request) for _ in range(int(scenario.get("repeat", 1)))]
            problems = []
            for i, outcome in enumerate(outcomes):
                problems += [f"call {i + 1}: {p}" if i else p for p in check_outcome(outcome, expect, server)]
            same = expect.get("same_response_as_first")
            if same:
                values = [at_path(o.responses[0], same) if o.responses else _MISSING for o in outcomes]
                if values[0] is _MISSING or any(v != values[0] for v in values):
                    problems.append(f"{same} differs between repeats: {[_show(v) for v in values]}")
    except Exception as error:  # a broken scenario or client fails that scenario, not the run
        problems = [f"client error: {type(error).__name__}: {error}"]
    return Result(name=name, passed=not problems, detail="; ".join(problems) or "ok")


def load_scenarios(testdata: Path) -> list[dict[str, Json]]:
    scenarios: list[dict[str, Json]] = json.loads((testdata / "interop" / "scenarios.json").read_text())["scenarios"]
    return scenarios


def run_scenarios(target: str, server: str, testdata: Path, only: str | None = None) -> list[Result]:
    """Every scenario (or those whose name contains ``only``) against ``target``, in file order."""
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        return [
            run_scenario(channel, scenario, testdata, server)
            for scenario in load_scenarios(testdata)
            if only is None or only in scenario["name"]
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="host:port of the reference server")
    parser.add_argument("--server", required=True, help="the server's language name (python, go, ...)")
    parser.add_argument("--testdata", type=Path, default=Path(__file__).resolve().parents[3] / "testdata")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    args = parser.parse_args(argv)
    results = run_scenarios(args.target, args.server, args.testdata, args.only)
    report = {"client": CLIENT, "server": args.server, "results": [asdict(r) for r in results]}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'} {result.name}" + ("" if result.passed else f": {result.detail}"))
    failed = sum(not r.passed for r in results)
    print(f"python client vs {args.server} server: {len(results) - failed}/{len(results)} scenarios passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

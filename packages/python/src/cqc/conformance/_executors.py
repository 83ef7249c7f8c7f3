"""Executors: the part that performs one call. The runner owns the cases and every check; an executor only
sends a request and reports what came back, as data (README.md, "Executor protocol").

- :class:`PythonExecutor` (``--executor python``, the default): in process, grpcio generic calls with the
  generated descriptors.
- :class:`ProcessExecutor` (``--executor "COMMAND ..."``): any program speaking the protocol as JSON lines on
  its stdin/stdout (the Go and TypeScript executors of this repository, or one of your own).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

Json = Any
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class ExecutorDied(RuntimeError):
    """An executor process exited or stopped answering: no further call can run through it."""


class Executor(Protocol):
    name: str

    def execute(self, call: Json) -> Json:
        """Performs ``call`` ({id, target, service, method, kind, request, headers, deadline_ms, cancel_after})
        and returns the result ({id, code, message, error_info, field_violations, responses, headers,
        trailers})."""
        ...

    def close(self) -> None: ...


def _metadata(pairs: Iterable[Any] | None) -> dict[str, list[str]]:
    """gRPC metadata as {key: [values]}; binary (-bin) entries are left out."""
    found: dict[str, list[str]] = {}
    for key, value in pairs or ():
        if str(key).endswith("-bin") or isinstance(value, bytes):
            continue
        found.setdefault(str(key), []).append(str(value))
    return found


def _details(pairs: Iterable[Any] | None) -> tuple[Json, list[Json]]:
    """(error_info or None, field_violations) from the grpc-status-details-bin trailer."""
    from google.rpc import error_details_pb2, status_pb2

    error_info: Json = None
    violations: list[Json] = []
    for key, value in pairs or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            if detail.Unpack(info) and error_info is None:
                error_info = {"reason": info.reason, "domain": info.domain, "metadata": dict(info.metadata)}
            elif detail.Unpack(bad_request):
                for v in bad_request.field_violations:
                    reason = getattr(v, "reason", "")
                    violations.append({"field": v.field, "reason": reason, "description": v.description})
    return error_info, violations


class PythonExecutor:
    """Calls through grpcio in this process (one channel per target, reused)."""

    name = "python"

    def __init__(self) -> None:
        self._channels: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _channel(self, target: str) -> Any:
        import grpc

        with self._lock:
            if target not in self._channels:
                self._channels[target] = grpc.insecure_channel(target)
            return self._channels[target]

    @staticmethod
    def _classes(service: str, method: str) -> tuple[Any, Any]:
        from google.protobuf import message_factory

        from cqc.conformance._descriptors import find_service

        descriptor = find_service(service).methods_by_name[method]
        return (
            message_factory.GetMessageClass(descriptor.input_type),
            message_factory.GetMessageClass(descriptor.output_type),
        )

    def execute(self, call: Json) -> Json:
        import grpc
        from google.protobuf import json_format

        result: Json = {"id": call.get("id"), "code": "OK", "message": "", "error_info": None,
                        "field_violations": [], "responses": [], "headers": {}, "trailers": {}}  # fmt: skip
        try:
            request_class, response_class = self._classes(call["service"], call["method"])
            try:
                request = json_format.ParseDict(call.get("request") or {}, request_class())
            except json_format.ParseError:  # perhaps a google.protobuf.Any of a type not imported yet
                from cqc.conformance._descriptors import import_everything

                import_everything()
                request = json_format.ParseDict(call.get("request") or {}, request_class())
        except Exception as error:  # a request that does not parse is the case's problem, reported as data
            result.update(code="EXECUTOR_ERROR", message=f"{type(error).__name__}: {error}")
            return result
        path = f"/{call['service']}/{call['method']}"
        channel = self._channel(call["target"])
        metadata = tuple((str(k), str(v)) for k, v in (call.get("headers") or {}).items())
        timeout = (call.get("deadline_ms") or 10_000) / 1000
        cancel_after = call.get("cancel_after")

        def to_json(message: Any) -> Json:
            return json_format.MessageToDict(message)

        rpc: Any
        cancelled_by_us = False
        started = time.monotonic()
        if call.get("kind", "unary") == "server_stream":
            multi = channel.unary_stream(path, request_serializer=request_class.SerializeToString,
                                         response_deserializer=response_class.FromString)  # fmt: skip
            rpc = multi(request, metadata=metadata, timeout=timeout)
            try:
                for response in rpc:
                    result["responses"].append(to_json(response))
                    if cancel_after is not None and len(result["responses"]) >= cancel_after:
                        cancelled_by_us = True
                        rpc.cancel()
                        break
            except grpc.RpcError:
                pass
        else:
            multi = channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)  # fmt: skip
            try:
                response, rpc = multi.with_call(request, metadata=metadata, timeout=timeout)
                result["responses"].append(to_json(response))
            except grpc.RpcError as error:
                rpc = error
        code = rpc.code()
        result["code"] = code.name if code is not None else "OK"
        # A server ends a call whose deadline (sent as grpc-timeout) expired with RST_STREAM CANCEL, racing the
        # client's own timer: a cancellation we did not ask for, at the deadline, is the deadline.
        if result["code"] == "CANCELLED" and not cancelled_by_us and time.monotonic() - started >= timeout - 0.005:
            result["code"] = "DEADLINE_EXCEEDED"
        result["message"] = rpc.details() or ""
        trailers = rpc.trailing_metadata()
        result["headers"] = _metadata(rpc.initial_metadata())
        result["trailers"] = _metadata(trailers)
        result["error_info"], result["field_violations"] = _details(trailers)
        return result

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


class ProcessExecutor:
    """A program speaking the executor protocol: one JSON call per line on its stdin, one JSON result per line
    on its stdout (anything else it prints goes to stderr). Started once, used for every call."""

    def __init__(self, command: str | Sequence[str], name: str | None = None, cwd: str | None = None) -> None:
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.name = name or self.command[0]
        # Its stderr goes through a pipe of its own, copied to ours: a child sharing our stdout/stderr file could
        # make it non-blocking (Node does), and a large report printed afterwards would then be cut short.
        self._process = subprocess.Popen(
            self.command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            bufsize=1,
        )  # fmt: skip
        self._stderr_tail: list[str] = []
        self._stderr_copier = threading.Thread(target=self._copy_stderr, daemon=True)
        self._stderr_copier.start()
        self._lock = threading.Lock()
        self._next = 0

    def _copy_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr_tail = [*self._stderr_tail[-19:], line.rstrip("\n")]
            sys.stderr.write(line)
            sys.stderr.flush()

    def execute(self, call: Json) -> Json:
        with self._lock:
            self._next += 1
            call = dict(call, id=call.get("id") or self._next)
            assert self._process.stdin is not None and self._process.stdout is not None
            try:
                self._process.stdin.write(json.dumps(call) + "\n")
                self._process.stdin.flush()
                line = self._process.stdout.readline()
            except (BrokenPipeError, OSError) as error:
                line, problem = "", str(error)
            else:
                problem = "no answer (the executor exited?)"
            if not line:
                try:
                    code: int | None = self._process.wait(2)
                except subprocess.TimeoutExpired:
                    code = None
                self._stderr_copier.join(2)
                tail = "".join(f"\n    {line}" for line in self._stderr_tail[-10:])
                exited = f" (exit code {code})" if code is not None else ""
                raise ExecutorDied(f"executor {self.name}: {problem}{exited}{tail}")
            try:
                result: Json = json.loads(line)
            except ValueError:
                return {"id": call["id"], "code": "EXECUTOR_ERROR", "message": f"{self.name} wrote {line[:200]!r}"}
            if result.get("id") != call["id"]:
                return {"id": call["id"], "code": "EXECUTOR_ERROR",
                        "message": f"{self.name} answered id {result.get('id')!r} to call {call['id']!r}"}  # fmt: skip
            return result

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr_copier.join(2)


def make_executor(spec: str, cwd: str | None = None) -> Executor:
    """``python`` → the built-in executor; anything else is a command line (``go run ./...``, ``node ...``)."""
    if spec in ("", "python"):
        return PythonExecutor()
    return ProcessExecutor(spec, cwd=cwd)

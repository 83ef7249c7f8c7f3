"""OpenAPI 3 documents of the CQC services, and the check of their REST mappings. Run through nox.

    python tools/cqcopenapi.py check           every unary RPC has a google.api.http mapping, no streaming
                                              RPC has one, and every path variable names a request field

`nox -s generate` (tools/cqcgen.py) calls `write_documents`: gnostic's protoc-gen-openapi (pinned in
tools/openapi/go.mod) writes one document per service file; this module then post-processes it, in one
deterministic pass, with what gnostic leaves out:

- the protovalidate rules JSON Schema can express, read from the descriptors' `buf.validate.field`
  options: string min_len/max_len/len/pattern/in/uuid, 32-bit integer and floating-point bounds,
  repeated min_items/max_items (and item rules), enum not_in/in (UNSPECIFIED dropped when 0 is excluded),
  `required` (the parent schema's `required` list, or a required query parameter), and CQC's predefined
  string rules (decimal grammars and id prefixes, proto/cqc/types/v1/rules.proto) as patterns;
- the error model: every operation's `default` response is a google.rpc.Status (gnostic's
  default_response), described here with CQC's ErrorInfo/BadRequest conventions.

64-bit integers are JSON strings in the canonical mapping, so their numeric bounds are not expressible;
CEL rules (message- and field-level) and oneof requirements are not either: the server enforces them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_DIR = ROOT / "docs" / "openapi"

HTTP_VERBS = ("get", "put", "post", "delete", "patch")
ULID = "[0-7][0-9A-HJKMNP-TV-Z]{25}"
CQC_STRING_PATTERNS = {
    "cqc.types.v1.decimal": r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$",
    "cqc.types.v1.non_negative_decimal": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$",
    "cqc.types.v1.positive_decimal": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$",
}
DECIMAL_MAX_LEN = 100
# cqc.text: the characters free text must not contain (controls but tab and line breaks; bidirectional
# embedding, override and isolate characters), as an ECMA-262 pattern with escapes.
TEXT_FORBIDDEN = r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]"
STATUS_DESCRIPTION = (
    "Error response of every CQC operation: the gRPC status as JSON. `code` is the google.rpc.Code number "
    "(3 INVALID_ARGUMENT, 5 NOT_FOUND, 6 ALREADY_EXISTS, 9 FAILED_PRECONDITION, 10 ABORTED, ...), `message` "
    "a developer-facing English text, and `details` carries a google.rpc.ErrorInfo whose `reason` is a "
    "cqc.services.v1.ErrorReason name (domain cqc.crypto-quant, metadata keys per reason) and, for "
    "validation failures, a google.rpc.BadRequest naming each violated field and rule."
)
ANY_DESCRIPTION = (
    "An error detail: `@type` names the message (type.googleapis.com/google.rpc.ErrorInfo, "
    "type.googleapis.com/google.rpc.BadRequest, ...) and the other members are its JSON fields."
)


class Descriptors:
    """The CQC descriptor image, with buf.validate rules readable through a private descriptor pool."""

    def __init__(self, image: bytes) -> None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        self.fds = descriptor_pb2.FileDescriptorSet.FromString(image)
        self.pool = descriptor_pool.DescriptorPool()
        for file in self.fds.file:
            self.pool.Add(file)
        self._field_options = message_factory.GetMessageClass(
            self.pool.FindMessageTypeByName("google.protobuf.FieldOptions")
        )
        self._method_options = message_factory.GetMessageClass(
            self.pool.FindMessageTypeByName("google.protobuf.MethodOptions")
        )
        self.field_rules_ext = self.pool.FindExtensionByName("buf.validate.field")
        self.http_ext = self.pool.FindExtensionByName("google.api.http")
        message_factory.GetMessageClass(self.field_rules_ext.message_type)
        message_factory.GetMessageClass(self.http_ext.message_type)
        self.string_exts = {
            name: self.pool.FindExtensionByName(name)
            for name in (*CQC_STRING_PATTERNS, "cqc.types.v1.id_prefix", "cqc.types.v1.text")
        }

    def rules(self, field: Any) -> Any | None:
        """The buf.validate.FieldRules of a field descriptor, or None."""
        options = self._field_options.FromString(field.GetOptions().SerializeToString())
        if not options.HasExtension(self.field_rules_ext):
            return None
        return options.Extensions[self.field_rules_ext]

    def http_rule(self, method: Any) -> Any | None:
        options = self._method_options.FromString(method.GetOptions().SerializeToString())
        if not options.HasExtension(self.http_ext):
            return None
        return options.Extensions[self.http_ext]

    def services(self) -> list[Any]:
        out = []
        for file in self.fds.file:
            if file.name.startswith("cqc/"):
                out.extend(self.pool.FindFileByName(file.name).services_by_name.values())
        return sorted(out, key=lambda s: s.full_name)


def http_binding(rule: Any) -> tuple[str, str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern is None or pattern == "custom":
        return "", "", rule.body
    return pattern, getattr(rule, pattern), rule.body


def _field_path(message: Any, path: str) -> Any | None:
    """The field at a dotted proto-name path (path variables) in a message descriptor."""
    field = None
    for part in path.split("."):
        if message is None:
            return None
        field = message.fields_by_name.get(part)
        if field is None:
            return None
        message = field.message_type
    return field


def check_http_rules(desc: Descriptors) -> list[str]:
    """Every unary RPC has exactly one google.api.http binding; streaming RPCs have none; every path
    variable names a (non-repeated, scalar) field of the request; a body is a request field or "*"; GET
    and DELETE have no body; no two RPCs share a method and path."""
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    for service in desc.services():
        for method in service.methods:
            name = method.full_name
            rule = desc.http_rule(method)
            streaming = method.server_streaming or method.client_streaming
            if streaming:
                if rule is not None:
                    problems.append(f"{name}: streaming RPCs have no REST mapping")
                continue
            if rule is None:
                problems.append(f"{name}: unary RPC without option (google.api.http)")
                continue
            if len(rule.additional_bindings):
                problems.append(f"{name}: additional_bindings are not used in CQC")
            verb, path, body = http_binding(rule)
            if not verb or not path.startswith("/v1/"):
                problems.append(f"{name}: binding must be get/post/patch/put/delete on a /v1/ path")
                continue
            if verb in ("get", "delete") and body:
                problems.append(f"{name}: {verb.upper()} has no body")
            if verb in ("post", "patch", "put") and not body:
                problems.append(f"{name}: {verb.upper()} needs a body")
            if body and body != "*" and method.input_type.fields_by_name.get(body) is None:
                problems.append(f"{name}: body {body!r} is not a field of {method.input_type.full_name}")
            for variable in re.findall(r"\{([^}=]+)(?:=[^}]*)?\}", path):
                field = _field_path(method.input_type, variable)
                if field is None:
                    problems.append(f"{name}: path variable {variable!r} is not a field of the request")
                elif field.message_type is not None or field.is_repeated:
                    problems.append(f"{name}: path variable {variable!r} must be a singular scalar field")
            key = (verb, re.sub(r"\{[^}]+\}", "{}", path))
            if key in seen:
                problems.append(f"{name}: {verb.upper()} {path} is also {seen[key]}")
            seen[key] = name
    return problems


# --- post-processing -------------------------------------------------------------------------------------

_INT32 = {"int32", "sint32", "sfixed32", "uint32", "fixed32"}
_FLOAT = {"float", "double"}


def _bounds(schema: dict[str, Any], numeric: Any) -> None:
    for key in ("gte", "gt"):
        if numeric.HasField(key):
            schema["minimum"] = getattr(numeric, key)
            if key == "gt":
                schema["exclusiveMinimum"] = True
    for key in ("lte", "lt"):
        if numeric.HasField(key):
            schema["maximum"] = getattr(numeric, key)
            if key == "lt":
                schema["exclusiveMaximum"] = True
    if numeric.HasField("const"):
        schema["enum"] = [numeric.const]
    if len(numeric.__getattribute__("in")):
        schema["enum"] = sorted(getattr(numeric, "in"))


def _string_rules(desc: Descriptors, schema: dict[str, Any], rules: Any) -> None:
    s = rules.string
    if s.HasField("len"):
        schema["minLength"] = schema["maxLength"] = s.len
    if s.HasField("min_len"):
        schema["minLength"] = s.min_len
    if s.HasField("max_len"):
        schema["maxLength"] = s.max_len
    if s.HasField("pattern"):
        schema["pattern"] = s.pattern
    if s.HasField("const"):
        schema["enum"] = [s.const]
    if len(getattr(s, "in")):
        schema["enum"] = list(getattr(s, "in"))
    if s.HasField("uuid") and s.uuid:
        schema["format"] = "uuid"
        schema["pattern"] = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    for name, pattern in CQC_STRING_PATTERNS.items():
        ext = desc.string_exts[name]
        if s.HasExtension(ext) and s.Extensions[ext]:
            schema.setdefault("pattern", pattern)
            schema["maxLength"] = min(schema.get("maxLength", DECIMAL_MAX_LEN), DECIMAL_MAX_LEN)
    prefix_ext = desc.string_exts["cqc.types.v1.id_prefix"]
    if s.HasExtension(prefix_ext) and s.Extensions[prefix_ext]:
        schema.setdefault("pattern", f"^{re.escape(s.Extensions[prefix_ext])}_{ULID}$")
    text_ext = desc.string_exts["cqc.types.v1.text"]
    if s.HasExtension(text_ext) and s.Extensions[text_ext]:
        schema["not"] = {"pattern": TEXT_FORBIDDEN}


def _enum_rules(schema: dict[str, Any], field: Any, rules: Any) -> None:
    if "enum" not in schema or not all(isinstance(v, str) for v in schema["enum"]):
        return
    e = rules.enum
    numbers = {v.name: v.number for v in field.enum_type.values}
    allowed = list(schema["enum"])
    if len(getattr(e, "in")):
        keep = set(getattr(e, "in"))
        allowed = [v for v in allowed if numbers.get(v) in keep]
    if len(e.not_in):
        drop = set(e.not_in)
        allowed = [v for v in allowed if numbers.get(v) not in drop]
    if e.HasField("const"):
        allowed = [v for v in allowed if numbers.get(v) == e.const]
    schema["enum"] = allowed


def _scalar_rules(desc: Descriptors, schema: dict[str, Any], field: Any, rules: Any) -> None:
    """Applies the rules of one (non-repeated) value to its schema, when it is not a $ref."""
    if "$ref" in schema:
        return
    kind = rules.WhichOneof("type")
    if kind == "string":
        _string_rules(desc, schema, rules)
    elif kind == "enum" and field.enum_type is not None:
        _enum_rules(schema, field, rules)
    elif kind in _INT32 or kind in _FLOAT:
        _bounds(schema, getattr(rules, kind))


def _ignored(rules: Any) -> bool:
    return rules.HasField("ignore") and rules.ignore == 3  # IGNORE_ALWAYS


_TYPE_BOUNDS = {  # FieldDescriptor.TYPE_*: 32-bit integers are JSON numbers with the type's range
    5: (-(2**31), 2**31 - 1),  # int32
    15: (-(2**31), 2**31 - 1),  # sfixed32
    17: (-(2**31), 2**31 - 1),  # sint32
    13: (0, 2**32 - 1),  # uint32
    7: (0, 2**32 - 1),  # fixed32
}


def _type_bounds(schema: dict[str, Any], field: Any) -> None:
    bounds = _TYPE_BOUNDS.get(field.type)
    if bounds is None:
        return
    target = schema.get("items") if field.is_repeated else schema
    if isinstance(target, dict) and target.get("type") == "integer":
        target.setdefault("minimum", bounds[0])
        target.setdefault("maximum", bounds[1])


def constrain(desc: Descriptors, schema: dict[str, Any], field: Any) -> bool:
    """Adds the field's rules to its property/parameter schema; returns whether the field is required."""
    _type_bounds(schema, field)
    rules = desc.rules(field)
    if rules is None or _ignored(rules):
        return False
    if field.is_repeated and not (field.message_type and field.message_type.GetOptions().map_entry):
        if rules.WhichOneof("type") == "repeated":
            rep = rules.repeated
            if rep.HasField("min_items"):
                schema["minItems"] = rep.min_items
            if rep.HasField("max_items"):
                schema["maxItems"] = rep.max_items
            if rep.HasField("unique") and rep.unique:
                schema["uniqueItems"] = True
            if isinstance(schema.get("items"), dict) and rep.HasField("items") and not _ignored(rep.items):
                _scalar_rules(desc, schema["items"], field, rep.items)
        if rules.required:
            schema["minItems"] = max(schema.get("minItems", 0), 1)
    elif not field.is_repeated:
        _scalar_rules(desc, schema, field, rules)
    return bool(rules.required)


def _resolve_param(message: Any, name: str) -> Any | None:
    """The field a query/path parameter names: dotted json names (query) or proto names (path)."""
    field = None
    for part in name.split("."):
        if message is None:
            return None
        field = next((f for f in message.fields if part in (f.json_name, f.name)), None)
        if field is None:
            return None
        message = field.message_type
    return field


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _simple_path_variables(paths: dict[str, Any]) -> dict[str, Any]:
    """Renames nested path variables ({asset.asset_id}, which gnostic names after the proto path) to a
    plain lowerCamelCase name ({assetId}): same URL, and a parameter name every OpenAPI tool accepts. The
    parameter's description keeps the request field it fills."""
    out: dict[str, Any] = {}
    for path, item in paths.items():
        renames = {v: _camel(v.split(".")[-1]) for v in re.findall(r"\{([^}]+\.[^}]+)\}", path)}
        for old, new in renames.items():
            path = path.replace("{" + old + "}", "{" + new + "}")
            for verb in HTTP_VERBS:
                for param in (item.get(verb) or {}).get("parameters", []):
                    if param.get("in") == "path" and param["name"] == old:
                        param["name"] = new
                        param["x-cqc-field"] = old
                        param.setdefault("description", f"{old} of the request (the resource's id).")
        if path in out:  # PATCH /v1/assets/{asset.asset_id} joins GET /v1/assets/{assetId}
            for verb in HTTP_VERBS:
                if verb in item:
                    if verb in out[path]:
                        raise SystemExit(f"two operations on {verb.upper()} {path}")
                    out[path][verb] = item[verb]
        else:
            out[path] = item
    return out


def postprocess(doc: dict[str, Any], desc: Descriptors, service: Any) -> dict[str, Any]:
    schemas = doc.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        try:
            message = desc.pool.FindMessageTypeByName(name)
        except KeyError:
            continue
        if not name.startswith("cqc.") or schema.get("type") != "object":
            continue
        props = schema.get("properties", {})
        required = [r for r in schema.get("required", [])]
        for field in message.fields:
            prop = props.get(field.json_name)
            if prop is None:
                continue
            if constrain(desc, prop, field) and field.json_name not in required:
                required.append(field.json_name)
        if required:
            schema["required"] = required
    if "google.rpc.Status" not in schemas:
        raise SystemExit(f"{service.full_name}: gnostic emitted no google.rpc.Status (default_response)")
    schemas["google.rpc.Status"]["description"] = STATUS_DESCRIPTION
    if "google.protobuf.Any" in schemas:
        schemas["google.protobuf.Any"]["description"] = ANY_DESCRIPTION

    by_operation = {f"{service.name}_{m.name}": m for m in service.methods}
    doc["paths"] = _simple_path_variables(doc.get("paths", {}))
    for path_item in doc["paths"].values():
        for verb in HTTP_VERBS:
            op = path_item.get(verb)
            if op is None:
                continue
            method = by_operation.get(op.get("operationId", ""))
            if method is None:
                raise SystemExit(f"{service.full_name}: unknown operation {op.get('operationId')}")
            for param in op.get("parameters", []):
                field = _resolve_param(method.input_type, param.get("x-cqc-field", param["name"]))
                if field is None or "schema" not in param:
                    continue
                if constrain(desc, param["schema"], field) and param.get("in") == "query":
                    param["required"] = True
            responses = op.setdefault("responses", {})
            default = responses.get("default")
            if default is not None:
                default["description"] = "Error: a google.rpc.Status (HTTP status = the gRPC code's mapping)"
    doc.setdefault("info", {})["version"] = "v1"
    return doc


def write_documents(gnostic_out: Path, image: Path, out_dir: Path = OPENAPI_DIR) -> list[Path]:
    """Post-processes gnostic's per-file documents (source_relative under `gnostic_out`) into
    out_dir/<service_snake>.openapi.yaml, one per service; fails on a broken REST mapping."""
    import yaml

    desc = Descriptors(image.read_bytes())
    problems = check_http_rules(desc)
    if problems:
        raise SystemExit("REST mappings (google.api.http):\n  " + "\n  ".join(problems))
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for service in desc.services():
        source = gnostic_out / service.file.name.replace(".proto", ".openapi.yaml")
        doc = yaml.safe_load(source.read_text())
        doc = postprocess(doc, desc, service)
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", service.name).lower()
        target = out_dir / f"{snake}.openapi.yaml"
        header = (
            f"# OpenAPI 3 document of {service.full_name}, generated by `nox -s generate` from "
            f"{service.file.name}\n# (gnostic protoc-gen-openapi + tools/cqcopenapi.py). DO NOT EDIT.\n"
        )
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
        target.write_text(header + text)
        written.append(target)
    stale = sorted(set(out_dir.glob("*.openapi.yaml")) - set(written))
    for path in stale:
        path.unlink()
    return written


def main(argv: list[str]) -> None:
    if argv[:1] == ["check"] and len(argv) <= 2:
        sys.path.insert(0, str(ROOT / "tools"))
        import cqcgen

        image = Path(argv[1]) if len(argv) == 2 else cqcgen.BUILD / "openapi-image.binpb"
        if len(argv) == 1:
            cqcgen.write_image(image, cqcgen.write_deps(cqcgen.BUILD / "deps.binpb"))
        desc = Descriptors(image.read_bytes())
        problems = check_http_rules(desc)
        unary = sum(
            1 for s in desc.services() for m in s.methods if not (m.server_streaming or m.client_streaming)
        )
        if problems:
            raise SystemExit("REST mappings (google.api.http):\n  " + "\n  ".join(problems))
        print(f"REST mappings: ok ({unary} unary RPCs mapped, streaming RPCs unmapped)")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

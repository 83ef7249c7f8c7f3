"""API reference of the CQC contract, generated from the protos. Run through nox (`nox -s docs`).

    python tools/cqcdocs.py build [OUT_DIR]   write the reference (default docs/reference/)
    python tools/cqcdocs.py check             build into a temporary directory, fail if docs/reference differs

Input: a descriptor image of proto/ with source info (tools/cqcgen.py `image`), read with the CQC Python
package imported, so field options decode with their extensions (buf.validate rules, CQC predefined rules,
google.api.http mappings). Output:

    docs/reference/README.md          the index: every package, with links to the generated schema files
    docs/reference/<package>.md       every service and RPC, message and field (with its rules), enum and value
    docs/reference/catalog.json       the same, machine-readable, for coding agents and tools

Links: every message links its JSON Schema (schemas/jsonschema/); OpenAPI and AsyncAPI documents found in
the repository (see SPEC_GLOBS) are listed in the index.
"""

from __future__ import annotations

import filecmp
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, text_format

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import cqcgen  # noqa: E402

OUT = ROOT / "docs" / "reference"
JSONSCHEMA = ROOT / "schemas" / "jsonschema"
# OpenAPI (per service) and AsyncAPI (events) documents, wherever the generators commit them.
SPEC_GLOBS = ("schemas/**/*openapi*.*", "schemas/**/*asyncapi*.*", "docs/**/*openapi*.*", "docs/**/*asyncapi*.*",
              "proto/**/*asyncapi*.*", "schemas/openapi/**/*.*", "schemas/asyncapi/**/*.*")

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {v: k.removeprefix("TYPE_").lower() for k, v in FDP.Type.items()}
LABEL_REPEATED = FDP.LABEL_REPEATED

# source_code_info path components (descriptor.proto field numbers)
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE, SERVICE_METHOD = 2, 2


def load_image() -> list[descriptor_pb2.FileDescriptorProto]:
    from cqc.registry import generated_modules

    generated_modules()  # registers every CQC extension, so options decode with their rules
    import google.api.annotations_pb2  # noqa: F401  (google.api.http)

    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "image.binpb"
        cqcgen.write_image(image, cqcgen.write_deps(Path(tmp) / "deps.binpb"))
        fds = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes())
    return [f for f in fds.file if f.name.startswith("cqc/")]


def _comments(fdp: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found = {}
    for loc in fdp.source_code_info.location:
        text = loc.leading_comments or loc.trailing_comments
        if text:
            found[tuple(loc.path)] = "\n".join(line.strip() for line in text.strip().splitlines()).strip()
    return found


def _options_text(options: Any, skip: tuple[str, ...] = ()) -> str:
    text = text_format.MessageToString(options, as_one_line=True).strip()
    return "" if any(text.startswith(s) for s in skip) and not text else text


def _rules(options: descriptor_pb2.FieldOptions | descriptor_pb2.MessageOptions | descriptor_pb2.OneofOptions) -> str:
    """The protovalidate (and CQC) rules of an element, as protobuf text format."""
    copy = type(options)()
    copy.CopyFrom(options)
    for name in ("deprecated", "debug_redact", "json_name", "packed", "lazy", "map_entry"):
        if copy.DESCRIPTOR.fields_by_name.get(name) is not None:
            copy.ClearField(name)
    return text_format.MessageToString(copy, as_one_line=True).strip()


class Catalog:
    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]) -> None:
        self.files = files
        self.package_of: dict[str, str] = {}
        self.kind_of: dict[str, str] = {}
        self.map_entries: dict[str, descriptor_pb2.DescriptorProto] = {}
        for f in files:
            for m in f.message_type:
                self._index_message(f.package, f.package, m)
            for e in f.enum_type:
                self.package_of[f"{f.package}.{e.name}"] = f.package
                self.kind_of[f"{f.package}.{e.name}"] = "enum"

    def _index_message(self, package: str, scope: str, m: descriptor_pb2.DescriptorProto) -> None:
        name = f"{scope}.{m.name}"
        if m.options.map_entry:
            self.map_entries[name] = m
            return
        self.package_of[name], self.kind_of[name] = package, "message"
        for nested in m.nested_type:
            self._index_message(package, name, nested)
        for e in m.enum_type:
            self.package_of[f"{name}.{e.name}"], self.kind_of[f"{name}.{e.name}"] = package, "enum"

    def type_of(self, field: descriptor_pb2.FieldDescriptorProto) -> str:
        if field.type_name:
            type_name = field.type_name.lstrip(".")
            entry = self.map_entries.get(type_name)
            if entry is not None:
                return f"map<{self.type_of(entry.field[0])}, {self.type_of(entry.field[1])}>"
            base = type_name
        else:
            base = SCALARS[field.type]
        if field.label == LABEL_REPEATED:
            return f"repeated {base}"
        return f"optional {base}" if field.proto3_optional else base

    def build(self) -> dict[str, Any]:
        packages: dict[str, dict[str, Any]] = {}
        for f in self.files:
            comments = _comments(f)
            pkg = packages.setdefault(
                f.package, {"name": f.package, "files": [], "services": [], "messages": [], "enums": []}
            )
            pkg["files"].append(f.name)
            for i, s in enumerate(f.service):
                pkg["services"].append(self._service(f, s, comments, (FILE_SERVICE, i)))
            for i, m in enumerate(f.message_type):
                self._message(f, f.package, m, comments, (FILE_MESSAGE, i), pkg)
            for i, e in enumerate(f.enum_type):
                pkg["enums"].append(self._enum(f, f.package, e, comments, (FILE_ENUM, i)))
        return {
            "description": "The CQC contract (proto/), generated by tools/cqcdocs.py (`nox -s docs`). Field "
            "`rules` are protovalidate/CQC rules in protobuf text format; `json_name` is the canonical proto JSON "
            "key; `json_schema` is relative to the repository root.",
            "packages": [packages[name] for name in sorted(packages)],
        }

    def _service(self, f: Any, s: Any, comments: dict, path: tuple[int, ...]) -> dict[str, Any]:
        rpcs = []
        for j, m in enumerate(s.method):
            http = {}
            if m.options.HasExtension(_http_extension()):
                rule = m.options.Extensions[_http_extension()]
                kind = rule.WhichOneof("pattern")
                if kind:
                    http = {"method": kind.upper(), "path": getattr(rule, kind)}
                    if rule.body:
                        http["body"] = rule.body
            rpcs.append(
                {
                    "name": m.name,
                    "request": m.input_type.lstrip("."),
                    "response": m.output_type.lstrip("."),
                    "client_streaming": m.client_streaming,
                    "server_streaming": m.server_streaming,
                    "idempotency_level": descriptor_pb2.MethodOptions.IdempotencyLevel.Name(
                        m.options.idempotency_level
                    ),
                    "http": http or None,
                    "comment": comments.get((*path, SERVICE_METHOD, j), ""),
                }
            )
        return {"name": f"{f.package}.{s.name}", "file": f.name, "comment": comments.get(path, ""), "rpcs": rpcs}

    def _message(self, f: Any, scope: str, m: Any, comments: dict, path: tuple[int, ...], pkg: dict) -> None:
        if m.options.map_entry:
            return
        name = f"{scope}.{m.name}"
        schema = JSONSCHEMA / f"{name}.jsonschema.json"
        fields = []
        for i, field in enumerate(m.field):
            oneof = None
            if field.HasField("oneof_index") and not field.proto3_optional:
                oneof = m.oneof_decl[field.oneof_index].name
            fields.append(
                {
                    "name": field.name,
                    "number": field.number,
                    "json_name": field.json_name,
                    "type": self.type_of(field),
                    "oneof": oneof,
                    "rules": _rules(field.options),
                    "redacted": field.options.debug_redact,
                    "deprecated": field.options.deprecated,
                    "comment": comments.get((*path, MESSAGE_FIELD, i), ""),
                }
            )
        oneofs = [
            {"name": o.name, "rules": _rules(o.options), "comment": comments.get((*path, MESSAGE_ONEOF, k), "")}
            for k, o in enumerate(m.oneof_decl)
            if not o.name.startswith("_")
        ]
        pkg["messages"].append(
            {
                "name": name,
                "file": f.name,
                "comment": comments.get(path, ""),
                "rules": _rules(m.options),
                "fields": fields,
                "oneofs": oneofs,
                "json_schema": schema.relative_to(ROOT).as_posix() if schema.exists() else None,
            }
        )
        for i, nested in enumerate(m.nested_type):
            self._message(f, name, nested, comments, (*path, MESSAGE_NESTED, i), pkg)
        for i, e in enumerate(m.enum_type):
            pkg["enums"].append(self._enum(f, name, e, comments, (*path, MESSAGE_ENUM, i)))

    def _enum(self, f: Any, scope: str, e: Any, comments: dict, path: tuple[int, ...]) -> dict[str, Any]:
        return {
            "name": f"{scope}.{e.name}",
            "file": f.name,
            "comment": comments.get(path, ""),
            "values": [
                {"name": v.name, "number": v.number, "comment": comments.get((*path, ENUM_VALUE, k), "")}
                for k, v in enumerate(e.value)
            ],
        }


def _http_extension() -> Any:
    from google.api import annotations_pb2

    return annotations_pb2.http


# --- Markdown ---------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") if text else ""


def _para(text: str) -> str:
    return "\n".join(line for line in text.splitlines()).strip() + "\n\n" if text else ""


class Markdown:
    def __init__(self, catalog: dict[str, Any], kinds: dict[str, str], packages: dict[str, str]) -> None:
        self.catalog, self.kinds, self.package_of = catalog, kinds, packages

    def link(self, type_name: str, here: str) -> str:
        """A type as Markdown: linked when it is a CQC message or enum."""
        words = type_name.replace("<", " < ").replace(">", " > ").replace(",", " , ").split()
        out = []
        for word in words:
            package = self.package_of.get(word)
            if package is None:
                out.append(f"`{word}`" if "." in word else word)
            else:
                target = "" if package == here else f"{package}.md"
                out.append(f"[`{word.removeprefix(package + '.')}`]({target}#{_anchor(word)})")
        return " ".join(out).replace(" < ", "<").replace(" > ", ">").replace(" , ", ", ").replace("< ", "<")

    def package(self, pkg: dict[str, Any]) -> str:
        here = pkg["name"]
        lines = [f"# `{here}`\n\n", "Generated from proto/ by tools/cqcdocs.py (`nox -s docs`). DO NOT EDIT.\n\n"]
        lines.append("Files: " + ", ".join(f"[`{n}`](../../proto/{n})" for n in pkg["files"]) + "\n\n")
        lines.append("[Index](README.md)")
        for title, key in (("Services", "services"), ("Messages", "messages"), ("Enums", "enums")):
            if pkg[key]:
                lines.append(f" · [{title}](#{title.lower()})")
        lines.append("\n\n")
        if pkg["services"]:
            lines.append("## Services\n\n")
            for s in pkg["services"]:
                lines.append(f'<a id="{_anchor(s["name"])}"></a>\n\n### {s["name"].rsplit(".", 1)[1]}\n\n')
                lines.append(_para(s["comment"]))
                lines.append("| RPC | Request | Response | HTTP |\n|---|---|---|---|\n")
                for r in s["rpcs"]:
                    stream = lambda flag: "stream " if flag else ""  # noqa: E731
                    http = r["http"]
                    http_text = f"`{http['method']} {http['path']}`" if http else ""
                    lines.append(
                        f"| [`{r['name']}`](#{_anchor(s['name'] + '.' + r['name'])}) | "
                        f"{stream(r['client_streaming'])}{self.link(r['request'], here)} | "
                        f"{stream(r['server_streaming'])}{self.link(r['response'], here)} | {http_text} |\n"
                    )
                lines.append("\n")
                for r in s["rpcs"]:
                    lines.append(f'<a id="{_anchor(s["name"] + "." + r["name"])}"></a>\n\n#### {r["name"]}\n\n')
                    lines.append(_para(r["comment"]))
                    if r["http"]:
                        body = f", body `{r['http']['body']}`" if r["http"].get("body") else ""
                        lines.append(f"HTTP: `{r['http']['method']} {r['http']['path']}`{body}.\n\n")
        if pkg["messages"]:
            lines.append("## Messages\n\n")
            for m in pkg["messages"]:
                lines.append(f'<a id="{_anchor(m["name"])}"></a>\n\n### {m["name"].removeprefix(here + ".")}\n\n')
                lines.append(_para(m["comment"]))
                if m["json_schema"]:
                    lines.append(f"JSON Schema: [`{Path(m['json_schema']).name}`](../../{m['json_schema']})\n\n")
                if m["rules"]:
                    cel = re.findall(r'cel \{ id: "([^"]*)" message: "((?:[^"\\\\]|\\\\.)*)"', m["rules"])
                    sorted_rules = re.findall(
                        r'\[cqc\.types\.v1\.sorted\] \{ id: "([^"]*)" message: "((?:[^"\\\\]|\\\\.)*)" field: "([^"]*)"'
                        r' key: "([^"]*)" order: SORT_ORDER_([A-Z]+)( strict: true)?(?: when: "((?:[^"\\\\]|\\\\.)*)")? \}',
                        m["rules"],
                    )
                    if cel:
                        lines.append("Message rules (CEL, see catalog.json for the expressions):\n\n")
                        lines += [f"- `{rule_id}`: {_cell(text)}\n" for rule_id, text in cel]
                        lines.append("\n")
                    if sorted_rules:
                        lines.append(
                            "Sorted rules (typed relations, `cqc.types.v1.SortedRule`: evaluated by CQC's validators, "
                            "compared exactly as decimals; plain protovalidate does not evaluate them):\n\n"
                        )
                        for rule_id, text, fld, key, order, strict, when in sorted_rules:
                            how = f"`{fld}` by `{key}`, {order.lower()}" + (", strictly" if strict else "")
                            cond = f", when `{_cell(when)}`" if when else ""
                            lines.append(f"- `{rule_id}`: {_cell(text)} ({how}{cond})\n")
                        lines.append("\n")
                    if not cel and not sorted_rules:
                        lines.append(f"Message rules: `{_cell(m['rules'])}`\n\n")
                for o in m["oneofs"]:
                    rules = f" Rules: `{o['rules']}`." if o["rules"] else ""
                    lines.append(f"- oneof `{o['name']}`: {_cell(o['comment'])}{rules}\n")
                if m["oneofs"]:
                    lines.append("\n")
                if m["fields"]:
                    lines.append("| Field | # | JSON | Type | Rules | Description |\n|---|---|---|---|---|---|\n")
                    for fl in m["fields"]:
                        notes = []
                        if fl["oneof"]:
                            notes.append(f"oneof `{fl['oneof']}`")
                        if fl["redacted"]:
                            notes.append("debug_redact")
                        if fl["deprecated"]:
                            notes.append("deprecated")
                        note = f" ({', '.join(notes)})" if notes else ""
                        rules = f"`{_cell(fl['rules'])}`" if fl["rules"] else ""
                        lines.append(
                            f"| `{fl['name']}`{note} | {fl['number']} | `{fl['json_name']}` | "
                            f"{self.link(fl['type'], here)} | {rules} | {_cell(fl['comment'])} |\n"
                        )
                    lines.append("\n")
        if pkg["enums"]:
            lines.append("## Enums\n\n")
            for e in pkg["enums"]:
                lines.append(f'<a id="{_anchor(e["name"])}"></a>\n\n### {e["name"].removeprefix(here + ".")}\n\n')
                lines.append(_para(e["comment"]))
                lines.append("| Value | # | Description |\n|---|---|---|\n")
                for v in e["values"]:
                    lines.append(f"| `{v['name']}` | {v['number']} | {_cell(v['comment'])} |\n")
                lines.append("\n")
        return "".join(lines).rstrip() + "\n"

    def index(self, specs: list[str]) -> str:
        lines = [
            "# CQC API reference\n\n",
            "Generated from proto/ by tools/cqcdocs.py (`nox -s docs`; `make test` checks it is fresh). DO NOT "
            "EDIT. The same content, machine-readable, is in [catalog.json](catalog.json).\n\n",
            "| Package | Services | Messages | Enums |\n|---|---|---|---|\n",
        ]
        for pkg in self.catalog["packages"]:
            lines.append(
                f"| [`{pkg['name']}`]({pkg['name']}.md) | {len(pkg['services'])} | {len(pkg['messages'])} | "
                f"{len(pkg['enums'])} |\n"
            )
        lines.append("\n## Services\n\n")
        for pkg in self.catalog["packages"]:
            for s in pkg["services"]:
                lines.append(f"- [`{s['name']}`]({pkg['name']}.md#{_anchor(s['name'])}): {len(s['rpcs'])} RPCs\n")
        lines.append(
            "\n## Schemas\n\n"
            "- JSON Schema (2020-12) of every message, canonical proto JSON (lowerCamelCase keys): "
            "[`schemas/jsonschema/`](../../schemas/jsonschema/), one `<full.MessageName>.jsonschema.json` per "
            "message; each message below links its own.\n"
        )
        for spec in specs:
            lines.append(f"- [`{spec}`](../../{spec})\n")
        return "".join(lines)


def _anchor(name: str) -> str:
    return name.lower().replace(".", "-")


def _specs() -> list[str]:
    found: set[str] = set()
    for pattern in SPEC_GLOBS:
        for path in ROOT.glob(pattern):
            if path.is_file() and "node_modules" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return sorted(found)


def build(out: Path) -> None:
    files = load_image()
    indexer = Catalog(files)
    catalog = indexer.build()
    specs = _specs()
    catalog["specs"] = {"jsonschema_dir": "schemas/jsonschema", "other": specs}
    if out.exists():
        for old in out.iterdir():
            if old.is_file():
                old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalog.json").write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
    md = Markdown(catalog, indexer.kind_of, indexer.package_of)
    (out / "README.md").write_text(md.index(specs))
    for pkg in catalog["packages"]:
        (out / f"{pkg['name']}.md").write_text(md.package(pkg))


def check() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "reference"
        build(fresh)
        names = sorted({p.name for p in fresh.iterdir()} | {p.name for p in OUT.glob("*") if p.is_file()})
        stale = [n for n in names if not (OUT / n).exists() or not (fresh / n).exists()
                 or not filecmp.cmp(OUT / n, fresh / n, shallow=False)]
    if stale:
        raise SystemExit(f"docs/reference is stale ({', '.join(stale)}): run `nox -s docs` and commit it")
    print(f"docs/reference is fresh ({len(names)} files)")


def main(argv: list[str]) -> None:
    if argv[:1] == ["build"] and len(argv) <= 2:
        build(Path(argv[1]) if len(argv) == 2 else OUT)
    elif argv == ["check"]:
        check()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

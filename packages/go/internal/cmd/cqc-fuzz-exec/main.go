// Command cqc-fuzz-exec is Go's executor for the differential fuzzer (tools/fuzz.py): it reads one JSON
// request per line on stdin, {"type": "<full name>", "binary": "<base64>"} or {"type": ..., "json": "<text>"},
// decodes the input as that type, validates it, re-encodes it and writes one JSON line per request with the
// verdict ("parse_error", "valid", "invalid" or "runtime_error"), the violations ("<field path> <rule id>",
// sorted), the binary re-encoding (base64) and the canonical JSON (null when the message has none).
// It is deliberately thin: everything it does is what a Go service would do with the package.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	cqc "github.com/crypto-quant/cqc/packages/go"
	_ "github.com/crypto-quant/cqc/packages/go/gen/all"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

type request struct {
	Type   string  `json:"type"`
	Binary *string `json:"binary"`
	JSON   *string `json:"json"`
}

type response struct {
	Verdict    string          `json:"verdict"`
	Violations []string        `json:"violations"`
	Error      string          `json:"error,omitempty"`
	Binary     *string         `json:"binary"`
	JSON       json.RawMessage `json:"json"`
}

func run(req request) (resp response) {
	resp.Violations = []string{}
	resp.JSON = json.RawMessage("null")
	defer func() {
		if r := recover(); r != nil {
			resp = response{Verdict: "crash", Violations: []string{}, Error: fmt.Sprint(r), JSON: json.RawMessage("null")}
		}
	}()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(req.Type))
	if err != nil {
		resp.Verdict, resp.Error = "unknown_type", err.Error()
		return resp
	}
	msg := mt.New().Interface()
	if req.Binary != nil {
		raw, err := base64.StdEncoding.DecodeString(*req.Binary)
		if err == nil {
			err = cqc.UnmarshalBinary(raw, msg)
		}
		if err != nil {
			resp.Verdict, resp.Error = "parse_error", err.Error()
			return resp
		}
	} else if req.JSON != nil {
		if err := protojson.Unmarshal([]byte(*req.JSON), msg); err != nil {
			resp.Verdict, resp.Error = "parse_error", err.Error()
			return resp
		}
	}
	vs, err := cqc.Violations(msg)
	if err != nil {
		resp.Verdict, resp.Error = "runtime_error", err.Error()
		return resp
	}
	for _, v := range vs {
		resp.Violations = append(resp.Violations, v.Field+" "+v.RuleID)
	}
	sort.Strings(resp.Violations)
	resp.Verdict = "valid"
	if len(vs) > 0 {
		resp.Verdict = "invalid"
	}
	wire, err := proto.Marshal(msg)
	if err == nil {
		b := base64.StdEncoding.EncodeToString(wire)
		resp.Binary = &b
	}
	if text, err := protojson.Marshal(msg); err == nil {
		resp.JSON = text
	}
	return resp
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, "cqc-fuzz-exec: bad request:", err)
			os.Exit(2)
		}
		if err := enc.Encode(run(req)); err != nil {
			os.Exit(2)
		}
		if err := out.Flush(); err != nil {
			os.Exit(2)
		}
	}
}

// Command cqc-fuzz-exec is Go's executor for the differential fuzzer (tools/fuzz.py): it reads one JSON
// request per line on stdin, {"type": "<full name>", "binary": "<base64>"} or {"type": ..., "json": "<text>"},
// decodes the input as that type, validates it, re-encodes it and writes one JSON line per request with the
// verdict ("parse_error", "valid", "invalid" or "runtime_error"), the violations ("<field path> <rule id>",
// sorted), the binary re-encoding (base64) and the canonical JSON (null when the message has none).
// The conformance runner (tools/conformance.py) uses it too: "json_value" (a JSON value, decoded like "json"),
// "check": true (adds "checks": round trips, "golden" JSON text and the "compare" list of other languages'
// encodings, each decoded and compared with the message as protobuf values).
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
	Type      string  `json:"type"`
	Binary    *string `json:"binary"`
	JSON      *string `json:"json"`
	JSONValue *string `json:"json_value"`
	// Conformance extras (tools/conformance.py).
	Check   bool      `json:"check"`
	Golden  *string   `json:"golden"`
	Compare []request `json:"compare"`
}

type response struct {
	Verdict    string          `json:"verdict"`
	Violations []string        `json:"violations"`
	Error      string          `json:"error,omitempty"`
	Binary     *string         `json:"binary"`
	JSON       json.RawMessage `json:"json"`
	JSONError  string          `json:"json_error,omitempty"`
	Checks     *checks         `json:"checks,omitempty"`
}

type checks struct {
	Problems []string  `json:"problems"`
	Compared []*string `json:"compared"`
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
	} else if text := firstNonNil(req.JSON, req.JSONValue); text != nil {
		if err := protojson.Unmarshal([]byte(*text), msg); err != nil {
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
	} else {
		resp.JSONError = err.Error()
	}
	if req.Check {
		resp.Checks = check(mt, msg, resp.JSON, req)
	}
	return resp
}

func firstNonNil(a, b *string) *string {
	if a != nil {
		return a
	}
	return b
}

// check runs the conformance extras: the binary and canonical JSON round trips, the golden JSON and the other
// languages' encodings, each decoded and compared with msg as protobuf values.
func check(mt protoreflect.MessageType, msg proto.Message, asJSON json.RawMessage, req request) *checks {
	c := &checks{Problems: []string{}, Compared: []*string{}}
	if wire, err := proto.Marshal(msg); err == nil {
		back := mt.New().Interface()
		if err := proto.Unmarshal(wire, back); err != nil || !proto.Equal(back, msg) {
			c.Problems = append(c.Problems, fmt.Sprintf("binary round trip changed the message (err=%v)", err))
		}
	}
	if string(asJSON) != "null" {
		back := mt.New().Interface()
		if err := protojson.Unmarshal(asJSON, back); err != nil || !proto.Equal(back, withoutUnknown(msg)) {
			c.Problems = append(c.Problems, fmt.Sprintf("canonical JSON round trip changed the message (err=%v)", err))
		}
	}
	if req.Golden != nil {
		back := mt.New().Interface()
		if err := protojson.Unmarshal([]byte(*req.Golden), back); err != nil || !proto.Equal(back, msg) {
			c.Problems = append(c.Problems, fmt.Sprintf("golden decodes to a different message (err=%v)", err))
		}
	}
	for _, other := range req.Compare {
		var problem *string
		say := func(format string, args ...any) { s := fmt.Sprintf(format, args...); problem = &s }
		back := mt.New().Interface()
		if other.Binary != nil {
			raw, err := base64.StdEncoding.DecodeString(*other.Binary)
			if err == nil {
				err = proto.Unmarshal(raw, back)
			}
			if err != nil {
				say("their binary does not decode: %v", err)
			} else if !proto.Equal(back, msg) {
				say("their binary decodes to a different message")
			}
		} else if other.JSON != nil {
			if err := protojson.Unmarshal([]byte(*other.JSON), back); err != nil {
				say("their canonical JSON does not decode: %v", err)
			} else if !proto.Equal(back, withoutUnknown(msg)) {
				say("their canonical JSON decodes to a different message")
			}
		}
		c.Compared = append(c.Compared, problem)
	}
	return c
}

// withoutUnknown returns a copy of msg without unknown fields at any depth (JSON cannot carry them).
func withoutUnknown(msg proto.Message) proto.Message {
	copied := proto.Clone(msg)
	discardUnknown(copied.ProtoReflect())
	return copied
}

func discardUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				discardUnknown(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				discardUnknown(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsMap():
			discardUnknown(v.Message())
		}
		return true
	})
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

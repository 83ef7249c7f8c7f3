package cqc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypto-quant/cqc/packages/go"
	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// redactionCases is testdata/helpers/redaction-cases.json (run by Python and TypeScript too).
type redactionCases struct {
	Marker string `json:"marker"`
	Cases  []struct {
		Name     string          `json:"name"`
		Type     string          `json:"type"`
		Input    json.RawMessage `json:"input"`
		Expected json.RawMessage `json:"expected"`
	} `json:"cases"`
}

// leaked are values of the first shared case that must never be printed.
var leaked = []string{"354937868", "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIg", "vault://trading/binance/main"}

func loadRedactionCases(t *testing.T) redactionCases {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpus.Testdata(), "helpers", "redaction-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases redactionCases
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func decodeAs(t *testing.T, typeName string, value []byte) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		t.Fatal(err)
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(value, m); err != nil {
		t.Fatalf("%s: %v", typeName, err)
	}
	return m
}

func sharedAccount(t *testing.T) *venuesv1.VenueAccount {
	t.Helper()
	cases := loadRedactionCases(t)
	return decodeAs(t, cases.Cases[0].Type, cases.Cases[0].Input).(*venuesv1.VenueAccount)
}

func TestRedactSharedCases(t *testing.T) {
	cases := loadRedactionCases(t)
	if cases.Marker != cqc.Redacted {
		t.Fatalf("marker %q, want %q", cases.Marker, cqc.Redacted)
	}
	for _, c := range cases.Cases {
		t.Run(c.Name, func(t *testing.T) {
			input := decodeAs(t, c.Type, c.Input)
			before, _ := proto.MarshalOptions{Deterministic: true}.Marshal(input)
			got := cqc.Redact(input)
			if want := decodeAs(t, c.Type, c.Expected); !proto.Equal(got, want) {
				t.Errorf("redacted:\n%v\nwant:\n%v", prototext.Format(got), prototext.Format(want))
			}
			after, _ := proto.MarshalOptions{Deterministic: true}.Marshal(input)
			if !bytes.Equal(before, after) {
				t.Error("the input was modified")
			}
		})
	}
}

func assertSafe(t *testing.T, form, output string) {
	t.Helper()
	for _, secret := range leaked {
		if strings.Contains(output, secret) {
			t.Errorf("%s leaks %q: %s", form, secret, output)
		}
	}
	if !strings.Contains(output, cqc.Redacted) {
		t.Errorf("%s shows no marker: %s", form, output)
	}
}

// protobuf-go ignores debug_redact (v1.36): String(), %v and prototext print every field. This test
// documents it; if it starts failing, upstream began honouring the option.
func TestRawFormsLeakSoTheSafeAPIIsRequired(t *testing.T) {
	account := sharedAccount(t)
	for form, output := range map[string]string{
		"String()":  account.String(),
		"%v":        fmt.Sprintf("%v", account),
		"prototext": prototext.Format(account),
	} {
		if !strings.Contains(output, leaked[0]) {
			t.Errorf("%s no longer prints debug_redact fields: update the READMEs and this test", form)
		}
	}
}

func TestSafeFormsHideRedactedValues(t *testing.T) {
	account := sharedAccount(t)
	safe := cqc.Safe(account)
	encoded, err := json.Marshal(map[string]any{"account": safe})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	logger := log.New(&logged, "", 0)
	logger.Printf("account %v", safe)
	for form, output := range map[string]string{
		"String":       safe.String(),
		"%v":           fmt.Sprintf("%v", safe),
		"%+v":          fmt.Sprintf("%+v", safe),
		"%s":           fmt.Sprintf("%s", safe),
		"%q":           fmt.Sprintf("%q", safe),
		"Text":         cqc.Text(account),
		"JSON":         cqc.JSON(account),
		"json.Marshal": string(encoded),
		"log.Printf":   logged.String(),
		"Sprintf":      cqc.Sprintf("account %v / %s", account, account),
	} {
		assertSafe(t, form, output)
	}
}

func TestSlogRedacts(t *testing.T) {
	account := sharedAccount(t)
	for _, name := range []string{"text+ReplaceAttr", "json+ReplaceAttr", "RedactingHandler", "LogValuer"} {
		var out bytes.Buffer
		var logger *slog.Logger
		switch name {
		case "text+ReplaceAttr":
			logger = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: cqc.ReplaceAttr}))
		case "json+ReplaceAttr":
			logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{ReplaceAttr: cqc.ReplaceAttr}))
		case "RedactingHandler":
			logger = slog.New(cqc.RedactingHandler(slog.NewJSONHandler(&out, nil)))
		case "LogValuer":
			logger = slog.New(slog.NewTextHandler(&out, nil))
		}
		if name == "LogValuer" {
			logger.Info("account", "account", cqc.Safe(account))
		} else {
			logger.Info("account", "account", account)
			logger.With("pinned", account).Info("with")
			logger.Info("group", slog.Group("g", "account", account))
			logger.InfoContext(context.Background(), "attrs", slog.Any("account", account))
		}
		assertSafe(t, name, out.String())
	}
}

func TestStatusErrorfRedacts(t *testing.T) {
	account := sharedAccount(t)
	err := cqc.StatusErrorf(codes.InvalidArgument, "bad account %v", account)
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code %v", st.Code())
	}
	assertSafe(t, "StatusErrorf", st.Message())
	assertSafe(t, "StatusErrorf.Error", err.Error())
}

func TestRedactDropsUnknownFieldsAndRedactsAny(t *testing.T) {
	account := sharedAccount(t)
	account.ProtoReflect().SetUnknown(protoreflect.RawFields{0xba, 0x3e, 0x06, 's', 'e', 'c', 'r', 'e', 't'})
	if got := cqc.Redact(account); len(got.ProtoReflect().GetUnknown()) != 0 {
		t.Error("unknown fields kept")
	}
	packed, err := anypb.New(sharedAccount(t))
	if err != nil {
		t.Fatal(err)
	}
	inner := &venuesv1.VenueAccount{}
	if err := cqc.Redact(packed).UnmarshalTo(inner); err != nil {
		t.Fatal(err)
	}
	if inner.GetExternalAccountId() != cqc.Redacted {
		t.Errorf("Any content not redacted: %v", inner.GetExternalAccountId())
	}
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/example.Unknown", Value: []byte("\x0a\x06secret")}
	if got := cqc.Redact(unknown); len(got.GetValue()) != 0 {
		t.Error("unknown Any value kept")
	}
}

// scrubCases is testdata/helpers/scrub-cases.json (run by Python and TypeScript too).
type scrubCase struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	Args   []string `json:"args"`
	Result string   `json:"result"`
}

func TestScrubSharedCases(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpus.Testdata(), "helpers", "scrub-cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []scrubCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			record := &typesv1.SourceRecord{Source: "binance"}
			var got string
			switch c.Op {
			case "endpoint":
				got = cqc.ScrubEndpoint(c.Args[0])
				record.Endpoint = got
			case "json":
				got = cqc.ScrubJSON(c.Args[0])
				record.RawJson = got
			case "request":
				got = cqc.EndpointFromRequest(c.Args[0], c.Args[1])
				record.Endpoint = got
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			if got != c.Result {
				t.Errorf("got %q, want %q", got, c.Result)
			}
			record.ReceiveTime = nil
			built := cqc.NewSourceRecord(record.Source, record.Endpoint, record.RawJson, time.Unix(1733047200, 0))
			if violations, err := cqc.Violations(built); err != nil || len(violations) != 0 {
				t.Errorf("scrubbed record invalid: %v", violations)
			}
		})
	}
}

func TestNewSourceRecordScrubs(t *testing.T) {
	record := cqc.NewSourceRecord("binance", "GET /api/v3/order?symbol=BTCUSDT&signature=c8db5682",
		`{"symbol":"BTCUSDT","apiKey":"vmPUZE6mv9SD"}`, time.Time{})
	if record.GetEndpoint() != "GET /api/v3/order?symbol=BTCUSDT" {
		t.Errorf("endpoint %q", record.GetEndpoint())
	}
	if record.GetRawJson() != `{"symbol":"BTCUSDT","apiKey":"[REDACTED]"}` {
		t.Errorf("raw_json %q", record.GetRawJson())
	}
	if violations, err := cqc.Violations(record); err != nil || len(violations) != 0 {
		t.Errorf("invalid: %v", violations)
	}
}

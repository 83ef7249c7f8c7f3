package cqc

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	typesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/types/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Redacted is the marker every redacted string field prints as, in every CQC package.
const Redacted = "[REDACTED]"

// Redact returns a copy of m in which every field marked debug_redact is redacted; m is not modified.
//
// protobuf-go ignores debug_redact: the generated String(), fmt's %v, prototext and protojson all print
// wallet and deposit addresses, memos, venue account identifiers and api key ids in clear. Print and log
// messages through Redact, Safe, RedactingHandler/ReplaceAttr and StatusErrorf instead (the policy is in
// proto/README.md, section "Redaction"). Rules, the same in Python and TypeScript
// (testdata/helpers/redaction-cases.json is the shared spec):
//   - a set redacted string field becomes "[REDACTED]" (each element of a repeated one, each value of a map);
//   - any other set redacted field (number, bool, enum, bytes, message, map of non-strings) is cleared;
//   - messages inside fields that are not redacted (singular, repeated, map values, oneof members) are
//     redacted recursively; a google.protobuf.Any is unpacked when its type is registered, redacted and
//     packed again, and its value is dropped when the type is unknown;
//   - unknown fields are dropped (a newer schema may have marked them redacted).
func Redact[M proto.Message](m M) M {
	clone := proto.Clone(m)
	if clone == nil {
		return m
	}
	redactMessage(clone.ProtoReflect())
	return clone.(M)
}

func isRedacted(fd protoreflect.FieldDescriptor) bool {
	options, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && options.GetDebugRedact()
}

func redactMessage(m protoreflect.Message) {
	if !m.IsValid() {
		return
	}
	m.SetUnknown(nil)
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		redactAny(m)
		return
	}
	type entry struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var set []entry
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		set = append(set, entry{fd, v})
		return true
	})
	for _, e := range set {
		fd, v := e.fd, e.v
		switch {
		case isRedacted(fd):
			redactField(m, fd, v)
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					redactMessage(mv.Message())
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				list := v.List()
				for i := 0; i < list.Len(); i++ {
					redactMessage(list.Get(i).Message())
				}
			}
		case fd.Message() != nil:
			redactMessage(v.Message())
		}
	}
}

func redactField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	marker := protoreflect.ValueOfString(Redacted)
	switch {
	case fd.IsMap():
		if fd.MapValue().Kind() != protoreflect.StringKind {
			m.Clear(fd)
			return
		}
		var keys []protoreflect.MapKey
		v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		for _, k := range keys {
			v.Map().Set(k, marker)
		}
	case fd.Kind() != protoreflect.StringKind:
		m.Clear(fd)
	case fd.IsList():
		list := v.List()
		for i := 0; i < list.Len(); i++ {
			list.Set(i, marker)
		}
	default:
		m.Set(fd, marker)
	}
}

func redactAny(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	typeURL, value := fields.ByNumber(1), fields.ByNumber(2)
	url := m.Get(typeURL).String()
	if url == "" {
		return
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		m.Clear(value) // unknown type: its content cannot be checked
		return
	}
	inner := mt.New()
	if err := (proto.UnmarshalOptions{}).Unmarshal(m.Get(value).Bytes(), inner.Interface()); err != nil {
		m.Clear(value)
		return
	}
	redactMessage(inner)
	encoded, err := proto.MarshalOptions{Deterministic: true}.Marshal(inner.Interface())
	if err != nil {
		m.Clear(value)
		return
	}
	m.Set(value, protoreflect.ValueOfBytes(encoded))
}

// Text is the compact protobuf text format of the redacted message, for logs.
func Text(m proto.Message) string {
	return prototext.MarshalOptions{}.Format(Redact(m))
}

// JSON is the canonical proto JSON of the redacted message, for logs; "" when m cannot be encoded.
func JSON(m proto.Message) string {
	encoded, err := protojson.Marshal(Redact(m))
	if err != nil {
		return ""
	}
	return string(encoded)
}

// SafeMessage wraps a message so every way of printing it is redacted: fmt's verbs (%v, %+v, %s, %q...),
// String, slog (LogValue) and encoding/json (MarshalJSON). Message gives the original back.
type SafeMessage struct {
	Message proto.Message
}

// Safe wraps m for printing: log.Printf("sent %v", cqc.Safe(req)), slog.Info("sent", "request", cqc.Safe(req)).
func Safe(m proto.Message) SafeMessage { return SafeMessage{Message: m} }

// String returns the type name and the redacted text format.
func (s SafeMessage) String() string {
	if s.Message == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s{%s}", s.Message.ProtoReflect().Descriptor().FullName(), Text(s.Message))
}

// Format implements fmt.Formatter: every verb prints the redacted String.
func (s SafeMessage) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue implements slog.LogValuer: the redacted text format.
func (s SafeMessage) LogValue() slog.Value {
	if s.Message == nil {
		return slog.StringValue("<nil>")
	}
	return slog.StringValue(Text(s.Message))
}

// MarshalJSON implements json.Marshaler: the redacted canonical proto JSON (so slog's JSONHandler and
// encoding/json print it as an object).
func (s SafeMessage) MarshalJSON() ([]byte, error) {
	if s.Message == nil {
		return []byte("null"), nil
	}
	return protojson.Marshal(Redact(s.Message))
}

// ReplaceAttr is an slog.HandlerOptions.ReplaceAttr that redacts every proto.Message attribute value:
// slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: cqc.ReplaceAttr})).
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindAny {
		if m, ok := a.Value.Any().(proto.Message); ok {
			a.Value = slog.AnyValue(Safe(m))
		}
	}
	return a
}

// RedactingHandler wraps any slog.Handler so proto.Message attribute values (also inside groups, and
// those added with Logger.With) reach it redacted.
func RedactingHandler(next slog.Handler) slog.Handler { return redactingHandler{next} }

type redactingHandler struct{ next slog.Handler }

func (h redactingHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		safe[i] = redactAttr(a)
	}
	return redactingHandler{h.next.WithAttrs(safe)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.next.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		group := a.Value.Group()
		safe := make([]any, len(group))
		for i, g := range group {
			safe[i] = redactAttr(g)
		}
		return slog.Group(a.Key, safe...)
	}
	return ReplaceAttr(nil, a)
}

// StatusErrorf is status.Errorf for messages: every proto.Message argument is formatted redacted, so a
// gRPC error sent to a client (or logged) never carries a redacted field's value. Use it instead of
// status.Errorf whenever an argument is, or may be, a message.
func StatusErrorf(code codes.Code, format string, args ...any) error {
	return status.Error(code, Sprintf(format, args...))
}

// Sprintf is fmt.Sprintf with every proto.Message argument wrapped in Safe.
func Sprintf(format string, args ...any) string {
	safe := make([]any, len(args))
	for i, arg := range args {
		if m, ok := arg.(proto.Message); ok {
			safe[i] = Safe(m)
		} else {
			safe[i] = arg
		}
	}
	return fmt.Sprintf(format, safe...)
}

// --- Scrubbing credentials out of source records ---------------------------------------------------------
//
// SourceRecord keeps what a venue sent; what CQC sent to the venue (signatures, api keys, passphrases) must
// not be kept. The contract refuses credential parameters in SourceRecord.endpoint (cqc.no_credential_params)
// and credential values in raw_json (cqc.no_credential_json_values). These helpers remove them first, with
// the same algorithm as Python and TypeScript (testdata/helpers/scrub-cases.json is the shared spec).

// CredentialParameters are the parameter and header names dropped from endpoints (compared
// case-insensitively, "-" and "_" alike).
var CredentialParameters = []string{
	"signature", "sign", "apikey", "api_key", "apisecret", "secret", "secretkey", "passphrase", "password",
	"token", "access_token", "listenkey", "privatekey", "private_key", "x-mbx-apikey", "ok-access-key",
	"ok-access-sign", "ok-access-passphrase", "cb-access-key", "cb-access-sign", "cb-access-passphrase",
}

// CredentialJSONKeys are the JSON keys whose string values are replaced by the marker in raw JSON.
var CredentialJSONKeys = []string{
	"signature", "apikey", "api_key", "apisecret", "api_secret", "secret", "secretkey", "secret_key",
	"passphrase", "password", "privatekey", "private_key", "listenkey", "x-mbx-apikey", "ok-access-key",
	"ok-access-sign", "ok-access-passphrase", "cb-access-key", "cb-access-sign", "cb-access-passphrase",
}

func credentialNames(words []string) string {
	dash := regexp.MustCompile("[-_]")
	parts := make([]string, len(words))
	for i, w := range words {
		parts[i] = dash.ReplaceAllString(w, "[-_]")
	}
	return strings.Join(parts, "|")
}

var (
	scrubParam     = regexp.MustCompile(`(?i)^(` + credentialNames(CredentialParameters) + `)$`)
	scrubHeader    = regexp.MustCompile(`(?i)[ \t]+(` + credentialNames(CredentialParameters) + `)[ ]*:[ ]*[^ \t]*`)
	scrubRule      = regexp.MustCompile(`(?i)(^|[^A-Za-z0-9])(` + credentialNames(CredentialParameters) + `)["']?[ ]*[=:]`)
	scrubJSONValue = regexp.MustCompile(`(?i)("(` + credentialNames(CredentialJSONKeys) + `)"[ \t\r\n]*:[ \t\r\n]*)"(?:[^"\\]|\\.)+"`)
	scrubQuery     = regexp.MustCompile(`\?([^\t\n\f\r #]*)`)
	scrubScheme    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*`)
)

// ScrubEndpoint returns endpoint without credential parameters: query parameters named in
// CredentialParameters are dropped (and the "?" when none is left), header-like " Name: value" parts are
// removed, and if anything credential-like is still left the text is cut before it. The result passes
// cqc.no_credential_params.
func ScrubEndpoint(endpoint string) string {
	result := endpoint
	if loc := scrubQuery.FindStringSubmatchIndex(result); loc != nil {
		var kept []string
		for _, item := range strings.Split(result[loc[2]:loc[3]], "&") {
			name, _, _ := strings.Cut(item, "=")
			if item != "" && !scrubParam.MatchString(name) {
				kept = append(kept, item)
			}
		}
		replacement := ""
		if len(kept) > 0 {
			replacement = "?" + strings.Join(kept, "&")
		}
		result = result[:loc[0]] + replacement + result[loc[1]:]
	}
	result = scrubHeader.ReplaceAllString(result, "")
	if loc := scrubRule.FindStringIndex(result); loc != nil {
		result = strings.TrimRight(result[:loc[0]], " \t?&;")
	}
	return result
}

// ScrubJSON returns rawJSON with the non-empty string value of every key in CredentialJSONKeys
// (case-insensitive, any depth) replaced by "[REDACTED]"; every other byte is kept as received.
func ScrubJSON(rawJSON string) string {
	return scrubJSONValue.ReplaceAllString(rawJSON, `${1}"`+Redacted+`"`)
}

// EndpointFromRequest returns "GET /api/v3/order?symbol=BTCUSDT" from a request method and URL: scheme,
// host and user-info are left out, credential parameters scrubbed.
func EndpointFromRequest(method, url string) string {
	rest := url
	if loc := scrubScheme.FindStringIndex(rest); loc != nil {
		rest = rest[loc[1]:]
	}
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	if method != "" {
		rest = strings.ToUpper(method) + " " + rest
	}
	return ScrubEndpoint(rest)
}

// NewSourceRecord builds a JSON SourceRecord with endpoint and rawJSON scrubbed; a zero receiveTime
// means now.
func NewSourceRecord(source, endpoint, rawJSON string, receiveTime time.Time) *typesv1.SourceRecord {
	if receiveTime.IsZero() {
		receiveTime = time.Now()
	}
	return &typesv1.SourceRecord{
		Source:      source,
		Endpoint:    ScrubEndpoint(endpoint),
		RawJson:     ScrubJSON(rawJSON),
		ReceiveTime: timestamppb.New(receiveTime),
	}
}

// Package interop runs the data-driven gRPC interop scenarios of testdata/interop/scenarios.json against a
// reference server (testdata/interop/README.md). Methods are invoked generically, through the descriptors
// in protoregistry (grpc.ClientConn.Invoke and NewStream); responses are compared as canonical proto JSON.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crypto-quant/cqc/packages/go/internal/corpus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/health/grpc_health_v1" // registers grpc.health.v1 for the health scenarios
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/crypto-quant/cqc/packages/go/gen/all" // registers every CQC service and message
)

// ErrorDomain is the google.rpc.ErrorInfo domain every CQC error carries.
const ErrorDomain = "cqc.crypto-quant"

// Scenario is one entry of scenarios.json.
type Scenario struct {
	Name       string            `json:"name"`
	Service    string            `json:"service"`
	Method     string            `json:"method"`
	Kind       string            `json:"kind"`
	Request    json.RawMessage   `json:"request"`
	Headers    map[string]string `json:"headers,omitempty"`
	DeadlineMS int               `json:"deadline_ms,omitempty"`
	Repeat     int               `json:"repeat,omitempty"`
	Expect     Expect            `json:"expect"`
}

// Expect is what a scenario's responses must satisfy (testdata/interop/README.md).
type Expect struct {
	Code                string            `json:"code"`
	ErrorReason         string            `json:"error_reason,omitempty"`
	ErrorMetadata       map[string]string `json:"error_metadata,omitempty"`
	BadRequestRules     [][2]string       `json:"bad_request_rules,omitempty"`
	ResponseCounts      map[string]int    `json:"response_counts,omitempty"`
	ResponseFields      map[string]any    `json:"response_fields,omitempty"`
	Stream              *StreamExpect     `json:"stream,omitempty"`
	Pagination          *Pagination       `json:"pagination,omitempty"`
	SameResponseAsFirst string            `json:"same_response_as_first,omitempty"`
	ResponseHeaders     map[string]string `json:"response_headers,omitempty"`
	ResponseTrailers    map[string]string `json:"response_trailers,omitempty"`
}

// StreamExpect bounds a server stream's messages and the fields they hold.
type StreamExpect struct {
	MinMessages *int           `json:"min_messages,omitempty"`
	MaxMessages *int           `json:"max_messages,omitempty"`
	FirstFields map[string]any `json:"first_fields,omitempty"`
	EveryFields map[string]any `json:"every_fields,omitempty"`
}

// Pagination asks to follow next_page_token to the end and compare the ids with the examples.
type Pagination struct {
	PageSize          int    `json:"page_size"`
	TotalFromExamples string `json:"total_from_examples"`
	ItemsField        string `json:"items_field"`
	IDField           string `json:"id_field"`
}

// Result is one scenario's outcome, as written to results.json.
type Result struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Report is the results.json a client writes: {"client", "server", "results"}.
type Report struct {
	Client  string   `json:"client"`
	Server  string   `json:"server"`
	Results []Result `json:"results"`
}

// Failed counts the results that did not pass.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if !res.Passed {
			n++
		}
	}
	return n
}

// LoadScenarios reads scenarios.json strictly: an expectation this client does not know is an error, never
// silently skipped.
func LoadScenarios(path string) ([]Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Description string     `json:"description"`
		Scenarios   []Scenario `json:"scenarios"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, sc := range doc.Scenarios {
		if seen[sc.Name] {
			return nil, fmt.Errorf("%s: duplicate scenario %q", path, sc.Name)
		}
		seen[sc.Name] = true
	}
	return doc.Scenarios, nil
}

// Runner runs scenarios over one connection to one server.
type Runner struct {
	// Conn is the connection to the server under test.
	Conn grpc.ClientConnInterface
	// Server is the server's language name; "$server" in expected metadata stands for it.
	Server string
	// Testdata is the repository's testdata directory ($example requests, pagination totals).
	Testdata string
	// CallTimeout bounds each call without its own deadline_ms (default 10 s).
	CallTimeout time.Duration
}

// RunAll runs the scenarios in order and reports them as the "go" client.
func (r *Runner) RunAll(ctx context.Context, scenarios []Scenario) Report {
	report := Report{Client: "go", Server: r.Server, Results: []Result{}}
	for _, sc := range scenarios {
		report.Results = append(report.Results, r.Run(ctx, sc))
	}
	return report
}

// call is what one RPC returned.
type call struct {
	responses []map[string]any // canonical JSON of each response message
	header    metadata.MD
	trailer   metadata.MD
	err       error
}

// Run runs one scenario and checks everything its expect says.
func (r *Runner) Run(ctx context.Context, sc Scenario) (result Result) {
	result.Name = sc.Name
	problems, detail, err := r.run(ctx, sc)
	switch {
	case err != nil:
		result.Detail = "error: " + err.Error()
	case len(problems) > 0:
		result.Detail = strings.Join(problems, "; ")
	default:
		result.Passed, result.Detail = true, detail
	}
	return result
}

func (r *Runner) run(ctx context.Context, sc Scenario) (problems []string, detail string, err error) {
	method, err := findMethod(sc.Service, sc.Method)
	if err != nil {
		return nil, "", err
	}
	if streaming := method.IsStreamingServer(); streaming != (sc.Kind == "server_stream") || method.IsStreamingClient() {
		return nil, "", fmt.Errorf("kind %q does not match %s", sc.Kind, method.FullName())
	}
	reqJSON, err := r.resolveRequest(sc.Request)
	if err != nil {
		return nil, "", err
	}
	if sc.Expect.Pagination != nil {
		return r.paginate(ctx, sc, method, reqJSON)
	}
	repeat := max(sc.Repeat, 1)
	var calls []call
	for i := 0; i < repeat; i++ {
		c, err := r.invoke(ctx, sc, method, reqJSON)
		if err != nil {
			return nil, "", err
		}
		calls = append(calls, c)
	}
	for i, c := range calls {
		prefix := ""
		if repeat > 1 {
			prefix = fmt.Sprintf("call %d: ", i+1)
		}
		for _, p := range r.check(sc.Expect, c) {
			problems = append(problems, prefix+p)
		}
	}
	if field := sc.Expect.SameResponseAsFirst; field != "" {
		first, ok := firstValue(calls[0], field)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s missing in the first response", field))
		}
		for i, c := range calls[1:] {
			if v, _ := firstValue(c, field); !reflect.DeepEqual(v, first) {
				problems = append(problems, fmt.Sprintf("call %d: %s = %v, first call had %v", i+2, field, v, first))
			}
		}
	}
	last := calls[len(calls)-1]
	detail = codeName(status.Code(last.err))
	if info := errorInfo(last.err); info != nil {
		detail += " " + info.GetReason()
	}
	if sc.Kind == "server_stream" {
		detail += fmt.Sprintf(", %d messages", len(last.responses))
	}
	if repeat > 1 {
		detail += fmt.Sprintf(", %d calls", repeat)
	}
	return problems, detail, nil
}

func findMethod(service, method string) (protoreflect.MethodDescriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", service)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", service, method)
	}
	return md, nil
}

func newMessage(name protoreflect.FullName) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", name, err)
	}
	return mt.New().Interface(), nil
}

// invoke sends the request (JSON) once and collects every response, the metadata and the status.
func (r *Runner) invoke(ctx context.Context, sc Scenario, md protoreflect.MethodDescriptor, reqJSON []byte) (call, error) {
	req, err := newMessage(md.Input().FullName())
	if err != nil {
		return call{}, err
	}
	if err := protojson.Unmarshal(reqJSON, req); err != nil {
		return call{}, fmt.Errorf("request is not a %s: %w", md.Input().FullName(), err)
	}
	timeout := r.CallTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if sc.DeadlineMS > 0 {
		timeout = time.Duration(sc.DeadlineMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for k, v := range sc.Headers {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	fullMethod := fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name())
	var c call
	record := func(m proto.Message) error {
		doc, err := canonical(m)
		if err != nil {
			return err
		}
		c.responses = append(c.responses, doc)
		return nil
	}
	if !md.IsStreamingServer() {
		resp, err := newMessage(md.Output().FullName())
		if err != nil {
			return call{}, err
		}
		c.err = r.Conn.Invoke(ctx, fullMethod, req, resp, grpc.Header(&c.header), grpc.Trailer(&c.trailer))
		if c.err == nil {
			if err := record(resp); err != nil {
				return call{}, err
			}
		}
		return c, nil
	}
	stream, err := r.Conn.NewStream(ctx, &grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: true}, fullMethod)
	if err != nil {
		c.err = err
		return c, nil
	}
	// SendMsg's io.EOF means the stream ended early: RecvMsg then returns the real status.
	if err := stream.SendMsg(req); err != nil && err != io.EOF {
		c.err = err
	}
	_ = stream.CloseSend()
	for c.err == nil {
		resp, err := newMessage(md.Output().FullName())
		if err != nil {
			return call{}, err
		}
		if err := stream.RecvMsg(resp); err != nil {
			if err != io.EOF {
				c.err = err
			}
			break
		}
		if err := record(resp); err != nil {
			return call{}, err
		}
	}
	c.header, _ = stream.Header()
	c.trailer = stream.Trailer()
	return c, nil
}

// canonical is the message's canonical proto JSON, decoded.
func canonical(m proto.Message) (map[string]any, error) {
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// check compares one call with the expectation (everything but pagination and same_response_as_first).
func (r *Runner) check(want Expect, c call) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	wantCode := want.Code
	if wantCode == "" {
		wantCode = "OK"
	}
	st := status.Convert(c.err)
	if got := codeName(st.Code()); got != wantCode {
		add("code %s (%q), want %s", got, st.Message(), wantCode)
	}
	if want.ErrorReason != "" || len(want.ErrorMetadata) > 0 {
		info := errorInfo(c.err)
		switch {
		case info == nil:
			add("no google.rpc.ErrorInfo in the status details")
		default:
			if info.GetReason() != want.ErrorReason && want.ErrorReason != "" {
				add("ErrorInfo.reason %q, want %q", info.GetReason(), want.ErrorReason)
			}
			if info.GetDomain() != ErrorDomain {
				add("ErrorInfo.domain %q, want %q", info.GetDomain(), ErrorDomain)
			}
			for _, k := range sortedKeys(want.ErrorMetadata) {
				if got, ok := info.GetMetadata()[k]; !ok || got != want.ErrorMetadata[k] {
					add("ErrorInfo.metadata[%s] = %q, want %q", k, got, want.ErrorMetadata[k])
				}
			}
		}
	}
	if len(want.BadRequestRules) > 0 {
		found := badRequestRules(c.err)
		for _, rule := range want.BadRequestRules {
			if !found[rule] {
				add("BadRequest has no violation field %q rule %q (has %v)", rule[0], rule[1], sortedRules(found))
			}
		}
	}
	if len(want.ResponseFields) > 0 || len(want.ResponseCounts) > 0 {
		if len(c.responses) == 0 {
			add("no response to check fields in")
		} else {
			problems = append(problems, checkFields(c.responses[0], want.ResponseFields, "")...)
			for _, path := range sortedKeys(want.ResponseCounts) {
				v, _ := lookup(c.responses[0], path)
				items, _ := v.([]any)
				if v != nil && items == nil {
					add("%s is not a list", path)
				} else if len(items) != want.ResponseCounts[path] {
					add("%s has %d items, want %d", path, len(items), want.ResponseCounts[path])
				}
			}
		}
	}
	if s := want.Stream; s != nil {
		n := len(c.responses)
		if s.MinMessages != nil && n < *s.MinMessages {
			add("%d stream messages, want at least %d", n, *s.MinMessages)
		}
		if s.MaxMessages != nil && n > *s.MaxMessages {
			add("%d stream messages, want at most %d", n, *s.MaxMessages)
		}
		if len(s.FirstFields) > 0 {
			if n == 0 {
				add("no first stream message")
			} else {
				problems = append(problems, checkFields(c.responses[0], s.FirstFields, "first message: ")...)
			}
		}
		for i, doc := range c.responses {
			problems = append(problems, checkFields(doc, s.EveryFields, fmt.Sprintf("message %d: ", i+1))...)
		}
	}
	problems = append(problems, r.checkMetadata("header", c.header, want.ResponseHeaders)...)
	problems = append(problems, r.checkMetadata("trailer", c.trailer, want.ResponseTrailers)...)
	return problems
}

func (r *Runner) checkMetadata(kind string, got metadata.MD, want map[string]string) []string {
	var problems []string
	for _, k := range sortedKeys(want) {
		expected := want[k]
		if expected == "$server" {
			expected = r.Server
		}
		values := got.Get(k)
		if !contains(values, expected) {
			problems = append(problems, fmt.Sprintf("response %s %s = %q, want %q", kind, k, values, expected))
		}
	}
	return problems
}

// paginate follows next_page_token to the end: ids unique, ascending, pages within page_size, and as many
// as there are examples of the type.
func (r *Runner) paginate(ctx context.Context, sc Scenario, md protoreflect.MethodDescriptor, reqJSON []byte) ([]string, string, error) {
	p := sc.Expect.Pagination
	var req map[string]any
	if err := json.Unmarshal(reqJSON, &req); err != nil {
		return nil, "", err
	}
	exampleIDs, err := r.exampleIDs(p.TotalFromExamples, p.IDField)
	if err != nil {
		return nil, "", err
	}
	var problems []string
	var ids []string
	pages := 0
	for token := ""; ; {
		if token != "" {
			req["pageToken"] = token
		}
		body, _ := json.Marshal(req)
		c, err := r.invoke(ctx, sc, md, body)
		if err != nil {
			return nil, "", err
		}
		pages++
		if problems = r.check(Expect{Code: sc.Expect.Code, ResponseHeaders: sc.Expect.ResponseHeaders,
			ResponseTrailers: sc.Expect.ResponseTrailers}, c); len(problems) > 0 {
			return append(problems, fmt.Sprintf("(page %d)", pages)), "", nil
		}
		doc := c.responses[0]
		items, _ := doc[p.ItemsField].([]any)
		if len(items) > p.PageSize {
			problems = append(problems, fmt.Sprintf("page %d has %d items, page_size %d", pages, len(items), p.PageSize))
		}
		for _, item := range items {
			obj, _ := item.(map[string]any)
			id, _ := obj[p.IDField].(string)
			ids = append(ids, id)
		}
		token, _ = doc["nextPageToken"].(string)
		if token == "" {
			break
		}
		if pages > 10000 {
			return append(problems, "more than 10000 pages"), "", nil
		}
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			problems = append(problems, fmt.Sprintf("id %s returned twice", id))
		}
		seen[id] = true
		if i > 0 && ids[i-1] >= id {
			problems = append(problems, fmt.Sprintf("ids not ascending: %s then %s", ids[i-1], id))
		}
	}
	if len(ids) != len(exampleIDs) {
		problems = append(problems, fmt.Sprintf("%d ids over %d pages, want %d (the distinct ids of the %s examples)",
			len(ids), pages, len(exampleIDs), p.TotalFromExamples))
	}
	for _, id := range sortedKeys(exampleIDs) {
		if !seen[id] {
			problems = append(problems, "example id "+id+" not listed")
		}
	}
	return problems, fmt.Sprintf("OK, %d ids over %d pages", len(ids), pages), nil
}

// exampleIDs is the set of distinct ids (JSON field idField) of the examples of a type. Two example files
// may describe the same resource (e.g. a minimal and a detailed asset), so files are not counted.
func (r *Runner) exampleIDs(typeName, idField string) (map[string]bool, error) {
	files, err := filepath.Glob(filepath.Join(r.Testdata, "examples", typeName, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no examples of %s in %s", typeName, r.Testdata)
	}
	ids := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		id, _ := doc[idField].(string)
		if id == "" {
			return nil, fmt.Errorf("%s has no %s", file, idField)
		}
		ids[id] = true
	}
	return ids, nil
}

// --- requests -----------------------------------------------------------------------------------------

// resolveRequest replaces every {"$example": "<Type>/<name>", "$patch": {...}} with the patched example.
func (r *Runner) resolveRequest(raw json.RawMessage) ([]byte, error) {
	var v any
	if len(raw) == 0 {
		return []byte("{}"), nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	resolved, err := r.resolve(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resolved)
}

func (r *Runner) resolve(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$example"].(string); ok {
			typeName, name, _ := strings.Cut(ref, "/")
			data, err := os.ReadFile(filepath.Join(r.Testdata, "examples", typeName, name+".json"))
			if err != nil {
				return nil, fmt.Errorf("$example %s: %w", ref, err)
			}
			var example any
			if err := json.Unmarshal(data, &example); err != nil {
				return nil, fmt.Errorf("$example %s: %w", ref, err)
			}
			if patch, ok := t["$patch"]; ok {
				example = corpus.MergePatch(example, patch)
			}
			return example, nil
		}
		out := map[string]any{}
		for k, item := range t {
			resolved, err := r.resolve(item)
			if err != nil {
				return nil, err
			}
			out[k] = resolved
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, item := range t {
			resolved, err := r.resolve(item)
			if err != nil {
				return nil, err
			}
			out[i] = resolved
		}
		return out, nil
	}
	return v, nil
}

// --- responses ----------------------------------------------------------------------------------------

var segment = regexp.MustCompile(`^([^\[\]]*)((?:\[\d+\])*)$`)
var index = regexp.MustCompile(`\[(\d+)\]`)

// lookup reads a path like "orderBook.bids[0].price" in decoded JSON.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, part := range strings.Split(path, ".") {
		m := segment.FindStringSubmatch(part)
		if m == nil {
			return nil, false
		}
		if m[1] != "" {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = obj[m[1]]; !ok {
				return nil, false
			}
		}
		for _, idx := range index.FindAllStringSubmatch(m[2], -1) {
			i, _ := strconv.Atoi(idx[1])
			list, ok := cur.([]any)
			if !ok || i >= len(list) {
				return nil, false
			}
			cur = list[i]
		}
	}
	return cur, true
}

// isDefault reports whether v is a value canonical JSON omits (so a missing field equals it).
func isDefault(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case float64:
		return t == 0
	case string:
		return t == "" || t == "0" || strings.HasSuffix(t, "_UNSPECIFIED")
	case []any:
		return len(t) == 0
	}
	return false
}

func checkFields(doc map[string]any, want map[string]any, prefix string) []string {
	var problems []string
	for _, path := range sortedKeys(want) {
		expected := want[path]
		got, ok := lookup(doc, path)
		if !ok {
			if !isDefault(expected) {
				problems = append(problems, fmt.Sprintf("%s%s missing, want %v", prefix, path, jsonText(expected)))
			}
			continue
		}
		if !reflect.DeepEqual(got, expected) {
			problems = append(problems, fmt.Sprintf("%s%s = %s, want %s", prefix, path, jsonText(got), jsonText(expected)))
		}
	}
	return problems
}

func firstValue(c call, path string) (any, bool) {
	if len(c.responses) == 0 {
		return nil, false
	}
	return lookup(c.responses[0], path)
}

func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

var ruleSuffix = regexp.MustCompile(`\[([^\[\]]+)\]\s*$`)

// badRequestRules is the set of (field, rule id) pairs of the status's BadRequest field violations.
func badRequestRules(err error) map[[2]string]bool {
	found := map[[2]string]bool{}
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				rule := ""
				if m := ruleSuffix.FindStringSubmatch(v.GetDescription()); m != nil {
					rule = m[1]
				}
				found[[2]string{v.GetField(), rule}] = true
			}
		}
	}
	return found
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// codeName is the canonical name of a gRPC status code, e.g. "NOT_FOUND".
func codeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return fmt.Sprintf("CODE(%d)", c)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedRules(found map[[2]string]bool) []string {
	var out []string
	for r := range found {
		out = append(out, r[0]+" "+r[1])
	}
	sort.Strings(out)
	return out
}

func contains(values []string, want string) bool {
	for _, v := range values {
		if v == want {
			return true
		}
	}
	return false
}

func jsonText(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

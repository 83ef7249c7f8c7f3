// Command cqc-conformance-exec is the Go executor of the service conformance suite (Python cqc.conformance
// owns the cases and every check; packages/python/src/cqc/conformance/README.md, "Executor protocol"): it
// reads one JSON call per line on stdin, performs it with grpc-go (ClientConn.Invoke / NewStream with the
// protoregistry types of the generated code) and writes one JSON result per line on stdout.
//
//	cqc-conformance --target 127.0.0.1:PORT --executor "go run ./internal/cmd/cqc-conformance-exec" --executor-cwd packages/go
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health/grpc_health_v1" // registers grpc.health.v1 (the common suite)
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/crypto-quant/cqc/packages/go/gen/all" // registers every CQC service and message
)

// call is one line of input (the protocol's request).
type call struct {
	ID          any               `json:"id"`
	Target      string            `json:"target"`
	Service     string            `json:"service"`
	Method      string            `json:"method"`
	Kind        string            `json:"kind"`
	Request     json.RawMessage   `json:"request"`
	Headers     map[string]string `json:"headers"`
	DeadlineMS  int               `json:"deadline_ms"`
	CancelAfter *int              `json:"cancel_after"`
}

type errorInfo struct {
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

type violation struct {
	Field       string `json:"field"`
	Reason      string `json:"reason"`
	Description string `json:"description"`
}

// result is one line of output (the protocol's result).
type result struct {
	ID              any                 `json:"id"`
	Code            string              `json:"code"`
	Message         string              `json:"message"`
	ErrorInfo       *errorInfo          `json:"error_info"`
	FieldViolations []violation         `json:"field_violations"`
	Responses       []json.RawMessage   `json:"responses"`
	Headers         map[string][]string `json:"headers"`
	Trailers        map[string][]string `json:"trailers"`
}

var (
	connsMu sync.Mutex
	conns   = map[string]*grpc.ClientConn{}
)

func conn(target string) (*grpc.ClientConn, error) {
	connsMu.Lock()
	defer connsMu.Unlock()
	if c, ok := conns[target]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		conns[target] = c
	}
	return c, err
}

func newMessage(name protoreflect.FullName) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", name, err)
	}
	return mt.New().Interface(), nil
}

func method(service, name string) (protoreflect.MethodDescriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not a service", service)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, fmt.Errorf("service %s has no method %s", service, name)
	}
	return md, nil
}

// textMetadata is gRPC metadata without the binary (-bin) keys.
func textMetadata(md metadata.MD) map[string][]string {
	out := map[string][]string{}
	for k, v := range md {
		if !strings.HasSuffix(k, "-bin") {
			out[k] = v
		}
	}
	return out
}

func execute(c call) result {
	r := result{ID: c.ID, Code: "OK", FieldViolations: []violation{}, Responses: []json.RawMessage{},
		Headers: map[string][]string{}, Trailers: map[string][]string{}}
	md, err := method(c.Service, c.Method)
	var req proto.Message
	if err == nil {
		req, err = newMessage(md.Input().FullName())
	}
	if err == nil && len(c.Request) > 0 {
		err = protojson.Unmarshal(c.Request, req)
	}
	var cc *grpc.ClientConn
	if err == nil {
		cc, err = conn(c.Target)
	}
	if err != nil {
		r.Code, r.Message = "EXECUTOR_ERROR", err.Error()
		return r
	}
	deadline := time.Duration(c.DeadlineMS) * time.Millisecond
	if deadline <= 0 {
		deadline = 10 * time.Second
	}
	started := time.Now()
	cancelledByUs := false
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for k, v := range c.Headers {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	fullMethod := fmt.Sprintf("/%s/%s", md.Parent().FullName(), md.Name())
	var header, trailer metadata.MD
	record := func(m proto.Message) {
		data, err := protojson.Marshal(m)
		if err != nil {
			data, _ = json.Marshal(map[string]string{"$error": err.Error()})
		}
		r.Responses = append(r.Responses, data)
	}
	var callErr error
	if !md.IsStreamingServer() {
		resp, _ := newMessage(md.Output().FullName())
		callErr = cc.Invoke(ctx, fullMethod, req, resp, grpc.Header(&header), grpc.Trailer(&trailer))
		if callErr == nil {
			record(resp)
		}
	} else {
		streamCtx, cancelStream := context.WithCancel(ctx)
		defer cancelStream()
		stream, err := cc.NewStream(streamCtx, &grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: true}, fullMethod)
		if err != nil {
			callErr = err
		} else {
			// SendMsg's io.EOF means the stream ended early: RecvMsg then returns the real status.
			if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
				callErr = err
			}
			_ = stream.CloseSend()
			for callErr == nil {
				resp, _ := newMessage(md.Output().FullName())
				if err := stream.RecvMsg(resp); err != nil {
					if !errors.Is(err, io.EOF) {
						callErr = err
					}
					break
				}
				record(resp)
				if c.CancelAfter != nil && len(r.Responses) >= *c.CancelAfter {
					cancelledByUs = true
					cancelStream()
					callErr = status.Error(codes.Canceled, "cancelled by the client after "+fmt.Sprint(*c.CancelAfter)+" messages")
				}
			}
			header, _ = stream.Header()
			trailer = stream.Trailer()
		}
	}
	st := status.Convert(callErr)
	r.Code = codeName(st.Code())
	// A server ends a call whose deadline (sent as grpc-timeout) expired with RST_STREAM CANCEL, racing the
	// client's own timer: a cancellation we did not ask for, at the deadline, is the deadline.
	if st.Code() == codes.Canceled && !cancelledByUs && time.Since(started) >= deadline-5*time.Millisecond {
		r.Code = "DEADLINE_EXCEEDED"
	}
	r.Message = st.Message()
	r.Headers, r.Trailers = textMetadata(header), textMetadata(trailer)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if r.ErrorInfo == nil {
				r.ErrorInfo = &errorInfo{Reason: d.GetReason(), Domain: d.GetDomain(), Metadata: d.GetMetadata()}
				if r.ErrorInfo.Metadata == nil {
					r.ErrorInfo.Metadata = map[string]string{}
				}
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				r.FieldViolations = append(r.FieldViolations, violation{v.GetField(), v.GetReason(), v.GetDescription()})
			}
		}
	}
	return r
}

// codeName is the gRPC code's canonical name (OK, NOT_FOUND, CANCELLED, ...).
func codeName(c codes.Code) string {
	if c == codes.Canceled {
		return "CANCELLED"
	}
	name := c.String() // e.g. "NotFound", "DeadlineExceeded"
	var b strings.Builder
	for i, ch := range name {
		if i > 0 && ch >= 'A' && ch <= 'Z' && name[i-1] >= 'a' && name[i-1] <= 'z' {
			b.WriteByte('_')
		}
		b.WriteRune(ch)
	}
	return strings.ToUpper(b.String())
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		var c call
		var r result
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			r = result{Code: "EXECUTOR_ERROR", Message: "bad call: " + err.Error()}
		} else {
			r = execute(c)
		}
		data, err := json.Marshal(r)
		if err != nil {
			data, _ = json.Marshal(result{ID: c.ID, Code: "EXECUTOR_ERROR", Message: err.Error()})
		}
		out.Write(append(data, '\n'))
		out.Flush()
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "cqc-conformance-exec:", err)
		os.Exit(1)
	}
}

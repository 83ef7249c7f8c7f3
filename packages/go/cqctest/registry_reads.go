package cqctest

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/crypto-quant/cqc/packages/go/cqckit"
)

// registryMaxResponseBytes is the most a registry response carries: the 4 MiB gRPC default less room for
// framing and the page token. List pages end early before it; batches over it fail RESPONSE_TOO_LARGE.
// A variable so tests can lower it.
var registryMaxResponseBytes = 4<<20 - 64<<10

const etagField protoreflect.Name = "etag"

// registryWrites serialises registry updates so that an etag check and the write it guards are atomic.
var registryWrites sync.Mutex

// etagOf is the resource's current etag: a digest of its stored content without the etag field, so every
// write changes it and equal content gives equal etags.
func etagOf(m proto.Message) string {
	clone := proto.Clone(m)
	if fd := clone.ProtoReflect().Descriptor().Fields().ByName(etagField); fd != nil {
		clone.ProtoReflect().Clear(fd)
	}
	raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	sum := sha256.Sum256(raw)
	return "W1-" + hex.EncodeToString(sum[:])[:24]
}

// checkReadMask refuses a read_mask path that names no field of desc (INVALID_READ_MASK).
func checkReadMask(mask *fieldmaskpb.FieldMask, desc protoreflect.MessageDescriptor) error {
	var unknown []string
	for _, path := range mask.GetPaths() {
		if !validPath(desc, strings.Split(path, ".")) {
			unknown = append(unknown, path)
		}
	}
	if len(unknown) > 0 {
		return newError(codes.InvalidArgument, "INVALID_READ_MASK", map[string]string{"paths": strings.Join(unknown, ",")},
			"read_mask paths name no field of %s: %s", desc.FullName(), strings.Join(unknown, ", "))
	}
	return nil
}

func validPath(desc protoreflect.MessageDescriptor, parts []string) bool {
	fd := desc.Fields().ByName(protoreflect.Name(parts[0]))
	if fd == nil {
		return false
	}
	if len(parts) == 1 {
		return true
	}
	if fd.Message() == nil || fd.IsList() || fd.IsMap() {
		return false
	}
	return validPath(fd.Message(), parts[1:])
}

// readable is the resource as a read returns it: etag set, then only the read_mask paths kept.
func readable[T proto.Message](m T, mask *fieldmaskpb.FieldMask) T {
	out := proto.Clone(m).(T)
	r := out.ProtoReflect()
	if fd := r.Descriptor().Fields().ByName(etagField); fd != nil {
		r.Set(fd, protoreflect.ValueOfString(etagOf(m)))
	}
	if len(mask.GetPaths()) == 0 {
		return out
	}
	kept := r.New()
	for _, path := range mask.GetPaths() {
		copyPath(r, kept, strings.Split(path, "."))
	}
	return kept.Interface().(T)
}

func copyPath(src, dst protoreflect.Message, parts []string) {
	fd := src.Descriptor().Fields().ByName(protoreflect.Name(parts[0]))
	if fd == nil || !src.Has(fd) {
		return
	}
	if len(parts) == 1 {
		dst.Set(fd, src.Get(fd))
		return
	}
	copyPath(src.Get(fd).Message(), dst.Mutable(fd).Message(), parts[1:])
}

// boundedPage ends a page before its size passes registryMaxResponseBytes and then returns the id of the
// last item kept, where the next page continues (pages are ordered by id); "" when the page fits. One item
// is always kept.
func boundedPage[T proto.Message](items []T, c *collection) ([]T, string) {
	size := 0
	for i, item := range items {
		size += proto.Size(item) + 8 // the item plus its field tag and length prefix
		if size > registryMaxResponseBytes && i > 0 {
			return items[:i], c.idOf(items[i-1])
		}
	}
	return items, ""
}

// checkBatchSize fails RESOURCE_EXHAUSTED (RESPONSE_TOO_LARGE) when a batch cannot fit in one response.
func checkBatchSize[T proto.Message](items []T) error {
	size := 0
	for _, item := range items {
		size += proto.Size(item) + 8
	}
	if size > registryMaxResponseBytes {
		return newError(codes.ResourceExhausted, "RESPONSE_TOO_LARGE",
			map[string]string{"limit_bytes": strconv.Itoa(registryMaxResponseBytes), "size_bytes": strconv.Itoa(size)},
			"the response would be %d bytes, over the %d-byte bound: ask for fewer ids or leave out source_record with a read_mask",
			size, registryMaxResponseBytes)
	}
	return nil
}

func regGet[T proto.Message](s *state, c *collection, id string, mask *fieldmaskpb.FieldMask) (T, error) {
	var zero T
	if err := checkReadMask(mask, zero.ProtoReflect().Descriptor()); err != nil {
		return zero, err
	}
	m, err := get[T](s, c, id)
	if err != nil {
		return zero, err
	}
	return readable(m, mask), nil
}

// listRequest is a registry List request: its page fields, and the rest as the filters its tokens are bound to.
type listRequest interface {
	proto.Message
	GetPageSize() int32
	GetPageToken() string
}

// regList is one page of a registry List RPC. Its page tokens are bound to the RPC and a digest of the
// request's other fields (cqckit.FilterDigest): another RPC's token, or one issued for other filters, is
// INVALID_PAGE_TOKEN like garbage and tampered tokens.
func regList[T proto.Message](s *state, c *collection, req listRequest, mask *fieldmaskpb.FieldMask, keep func(T) bool) ([]T, string, error) {
	var zero T
	if err := checkReadMask(mask, zero.ProtoReflect().Descriptor()); err != nil {
		return nil, "", err
	}
	rpc, filters := string(req.ProtoReflect().Descriptor().FullName()), cqckit.FilterDigest(req)
	after, err := pageTokens.Decode(rpc, filters, req.GetPageToken())
	if err != nil {
		return nil, "", err
	}
	token := ""
	if after != "" {
		token = encodeToken(after) // the store's own (unbound) token for the same position
	}
	items, next, err := list(s, c, req.GetPageSize(), token, keep)
	if err != nil {
		return nil, "", err
	}
	out := make([]T, len(items))
	for i, item := range items {
		out[i] = readable(item, mask)
	}
	out, last := boundedPage(out, c)
	if last == "" && next != "" {
		if last, err = decodeToken(next); err != nil {
			return nil, "", err
		}
	}
	if last == "" {
		return out, "", nil
	}
	return out, pageTokens.Encode(rpc, filters, last), nil
}

// regBatch returns the resources in the order of ids: all or nothing (NOT_FOUND on the first unknown id).
func regBatch[T proto.Message](s *state, c *collection, ids []string, mask *fieldmaskpb.FieldMask) ([]T, error) {
	var zero T
	if err := checkReadMask(mask, zero.ProtoReflect().Descriptor()); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		m, err := get[T](s, c, id)
		if err != nil {
			return nil, err
		}
		out = append(out, readable(m, mask))
	}
	if err := checkBatchSize(out); err != nil {
		return nil, err
	}
	return out, nil
}

// regCreate stores msg without its output-only etag and returns it as a read would.
func regCreate[T proto.Message](s *state, c *collection, msg T) (T, error) {
	in := proto.Clone(msg).(T)
	if fd := in.ProtoReflect().Descriptor().Fields().ByName(etagField); fd != nil {
		in.ProtoReflect().Clear(fd)
	}
	created, err := create(s, c, in)
	if err != nil {
		return created, err
	}
	return readable(created, nil), nil
}

// regUpdate refuses an update_mask naming the output-only etag and, when etag is non-empty, an update of a
// resource whose etag changed since it was read (ABORTED ETAG_MISMATCH).
func regUpdate[T proto.Message](s *state, c *collection, msg T, mask *fieldmaskpb.FieldMask, etag string) (T, error) {
	var zero T
	for _, path := range mask.GetPaths() {
		if path == string(etagField) {
			return zero, newError(codes.InvalidArgument, "INVALID_UPDATE_MASK", map[string]string{"paths": path},
				"etag is output only and cannot be in update_mask")
		}
	}
	registryWrites.Lock()
	defer registryWrites.Unlock()
	if etag != "" {
		id := c.idOf(msg)
		current, err := get[T](s, c, id)
		if err != nil {
			return zero, err
		}
		if now := etagOf(current); now != etag {
			return zero, newError(codes.Aborted, "ETAG_MISMATCH", map[string]string{string(c.idField): id, "current_etag": now},
				"%s %s changed since it was read (etag %q, now %q): read it again and retry", c.idField, id, etag, now)
		}
	}
	updated, err := update(s, c, msg, mask)
	if err != nil {
		return zero, err
	}
	return readable(updated, nil), nil
}

package cqc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	eventsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/events/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The datacontenttype values of the CloudEvents mapping: the CloudEvent's data is the whole Event, in
// protobuf binary (ContentTypeProtobuf, the default) or in canonical proto JSON (ContentTypeJSON).
const (
	ContentTypeProtobuf = "application/protobuf"
	ContentTypeJSON     = "application/json"
)

// ErrNoPayload is returned (wrapped) by EventPayload for an envelope with no payload case set: an event
// from a newer contract that this build does not know decodes that way. Consumers skip such envelopes.
var ErrNoPayload = errors.New("no payload case known to this build")

// payloadOneof is cqc.events.v1.Event's oneof `payload`.
var payloadOneof = (&eventsv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload")

// EventOptions are the envelope fields NewEvent takes from its caller.
type EventOptions struct {
	// Source is the producing service, "//cqc/<service>[/<instance>]". Required.
	Source string
	// Subject is the CQC id of the entity the event is about, e.g. "ast_01JDVSDC000000000000000000".
	Subject string
	// OccurredAt is when the event happened at its origin. Required (the zero time is an error).
	OccurredAt time.Time
	// PartitionKey is the ordering key; empty means Subject (NewEvent then sets it to Subject).
	PartitionKey string
	// CorrelationID groups a chain of events; empty means the new event's own id (a chain's root).
	CorrelationID string
	// CausationID is the event_id of the event that caused this one; empty for none.
	CausationID string
	// Sequence is the producer's position in the partition key; the rules require at least 1.
	Sequence uint64
	// SourceVersion is the producing service's build version, e.g. "1.4.2"; required by the rules.
	SourceVersion string
	// RecordedAt is when CQC recorded the event; the zero time means now.
	RecordedAt time.Time
}

// NewEvent wraps payload, an event message of the contract, in a new cqc.events.v1.Event: event_id is a
// new random UUID (version 4, lower case), event_type the payload's full proto name and the payload (a
// copy) goes to the oneof case whose message type is the payload's. PartitionKey defaults to Subject,
// CorrelationID to the new event_id, RecordedAt to now; schema_version is 1.
//
// Sequence (at least 1) and SourceVersion are required, as the envelope's rules require them; with options
// of the documented forms the result passes Validate. NewEvent returns an error naming the type when payload
// is not an event of cqc.events.v1.Event, and an error naming the option when OccurredAt is the zero time,
// Sequence is 0 or SourceVersion is empty.
func NewEvent(payload proto.Message, opts EventOptions) (*eventsv1.Event, error) {
	if payload == nil {
		return nil, errors.New("cqc.NewEvent: nil payload")
	}
	source := payload.ProtoReflect()
	typeName := source.Descriptor().FullName()
	var field protoreflect.FieldDescriptor
	fields := payloadOneof.Fields()
	for i := 0; i < fields.Len(); i++ {
		if fields.Get(i).Message().FullName() == typeName {
			field = fields.Get(i)
			break
		}
	}
	if field == nil {
		return nil, fmt.Errorf("cqc.NewEvent: %s is not an event of the CQC contract (no cqc.events.v1.Event payload case)", typeName)
	}
	if opts.OccurredAt.IsZero() {
		return nil, errors.New("cqc.NewEvent: OccurredAt is required")
	}
	if opts.Sequence == 0 {
		return nil, errors.New("cqc.NewEvent: Sequence is required (at least 1)")
	}
	if opts.SourceVersion == "" {
		return nil, errors.New("cqc.NewEvent: SourceVersion is required")
	}
	eventID := newUUIDv4()
	event := &eventsv1.Event{
		EventId:       eventID,
		EventType:     string(typeName),
		Source:        opts.Source,
		SourceVersion: opts.SourceVersion,
		OccurredAt:    timestamppb.New(opts.OccurredAt),
		Subject:       opts.Subject,
		PartitionKey:  opts.PartitionKey,
		CorrelationId: opts.CorrelationID,
		CausationId:   opts.CausationID,
		SchemaVersion: 1,
		Sequence:      opts.Sequence,
	}
	if event.PartitionKey == "" {
		event.PartitionKey = opts.Subject
	}
	if event.CorrelationId == "" {
		event.CorrelationId = eventID
	}
	if opts.RecordedAt.IsZero() {
		event.RecordedAt = timestamppb.Now()
	} else {
		event.RecordedAt = timestamppb.New(opts.RecordedAt)
	}
	m := event.ProtoReflect()
	value := m.NewField(field)
	if value.Message().Type() == source.Type() {
		value = protoreflect.ValueOfMessage(proto.Clone(payload).ProtoReflect())
	} else {
		// Same message, another Go type (e.g. dynamicpb): copy through the wire format.
		wire, err := proto.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("cqc.NewEvent: %s: %w", typeName, err)
		}
		if err := proto.Unmarshal(wire, value.Message().Interface()); err != nil {
			return nil, fmt.Errorf("cqc.NewEvent: %s: %w", typeName, err)
		}
	}
	m.Set(field, value)
	return event, nil
}

// newUUIDv4 is a random UUID (RFC 9562 version 4) in lower-case hex with hyphens.
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (it crashes the program instead)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// EventPayload returns the message of event's populated payload case; its type is event_type. The error
// wraps ErrNoPayload when no case is set (an event this build does not know: skip it).
func EventPayload(event *eventsv1.Event) (proto.Message, error) {
	m := event.ProtoReflect()
	field := m.WhichOneof(payloadOneof)
	if field == nil {
		return nil, fmt.Errorf("event %q of type %q: %w", event.GetEventId(), event.GetEventType(), ErrNoPayload)
	}
	return m.Get(field).Message().Interface(), nil
}

// CloudEventAttributes returns the CloudEvents 1.0 attributes of event by the mapping documented on
// cqc.events.v1.Event, with datacontenttype "application/protobuf"; see CloudEventAttributesWithContentType.
func CloudEventAttributes(event *eventsv1.Event) (map[string]string, error) {
	return CloudEventAttributesWithContentType(event, ContentTypeProtobuf)
}

// CloudEventAttributesWithContentType returns the CloudEvents 1.0 attributes of event by the mapping
// documented on cqc.events.v1.Event; contentType (ContentTypeProtobuf or ContentTypeJSON) says how the
// CloudEvent's data, the whole Event, is encoded. Times are RFC 3339 in UTC with "Z" and only the
// fractional digits needed ("2024-11-27T08:00:01.02Z", time.RFC3339Nano's form); partitionkey is the
// subject when partition_key is empty; causationid is left out when causation_id is empty. The envelope is
// mapped as is, not validated, but an error is returned when event_id, source or event_type is empty, when
// occurred_at or recorded_at is unset or outside the Timestamp range, or for another contentType.
func CloudEventAttributesWithContentType(event *eventsv1.Event, contentType string) (map[string]string, error) {
	if contentType != ContentTypeProtobuf && contentType != ContentTypeJSON {
		return nil, fmt.Errorf("datacontenttype %q is not %q or %q", contentType, ContentTypeProtobuf, ContentTypeJSON)
	}
	for _, required := range []struct{ name, value string }{
		{"event_id", event.GetEventId()}, {"source", event.GetSource()}, {"event_type", event.GetEventType()},
	} {
		if required.value == "" {
			return nil, fmt.Errorf("event has no %s: the CloudEvents attribute it maps to is required", required.name)
		}
	}
	occurred, err := rfc3339(event.GetOccurredAt(), "occurred_at")
	if err != nil {
		return nil, fmt.Errorf("event %q: %w", event.GetEventId(), err)
	}
	recorded, err := rfc3339(event.GetRecordedAt(), "recorded_at")
	if err != nil {
		return nil, fmt.Errorf("event %q: %w", event.GetEventId(), err)
	}
	partitionKey := event.GetPartitionKey()
	if partitionKey == "" {
		partitionKey = event.GetSubject()
	}
	attributes := map[string]string{
		"id":              event.GetEventId(),
		"source":          event.GetSource(),
		"specversion":     "1.0",
		"type":            event.GetEventType(),
		"datacontenttype": contentType,
		"dataschema":      "urn:cqc:proto:" + event.GetEventType(),
		"subject":         event.GetSubject(),
		"time":            occurred,
		"partitionkey":    partitionKey,
		"sequence":        strconv.FormatUint(event.GetSequence(), 10),
		"correlationid":   event.GetCorrelationId(),
		"recordedtime":    recorded,
		"sourceversion":   event.GetSourceVersion(),
		"schemaversion":   strconv.FormatUint(uint64(event.GetSchemaVersion()), 10),
	}
	if causation := event.GetCausationId(); causation != "" {
		attributes["causationid"] = causation
	}
	return attributes, nil
}

// rfc3339 writes ts in RFC 3339, UTC with "Z", with only the fractional digits needed (none to nine).
func rfc3339(ts *timestamppb.Timestamp, name string) (string, error) {
	if ts == nil {
		return "", fmt.Errorf("no %s", name)
	}
	if err := ts.CheckValid(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	text := time.Unix(ts.GetSeconds(), 0).UTC().Format("2006-01-02T15:04:05")
	if fraction := strings.TrimRight(fmt.Sprintf("%09d", ts.GetNanos()), "0"); fraction != "" {
		text += "." + fraction
	}
	return text + "Z", nil
}

package cqc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"sort"
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
	// Source is the producing service, "//cqc/<service>[/<instance>]": the service the event type's option
	// names (ProducerSource), optionally followed by an instance path. Required.
	Source string
	// Subject is the CQC id of the entity the event is about, e.g. "ast_01JDVSDC000000000000000000".
	Subject string
	// OccurredAt is when the event happened at its origin. Required (the zero time is an error).
	OccurredAt time.Time
	// PartitionKey is the delivery key; empty means the payload's key, named by the event type's
	// (cqc.events.v1.event) option (PartitionKeyOf). A different non-empty value is an error.
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
// new UUIDv7 (NewUUIDv7), event_type the payload's full proto name and the payload (a copy) goes to the
// oneof case whose message type is the payload's. PartitionKey defaults to the payload's key named by its
// (cqc.events.v1.event) option (PartitionKeyOf), CorrelationID to the new event_id, RecordedAt to now;
// schema_version is 1. It is an error when the payload has no key, when PartitionKey is another value, or
// when Source is not the producer's (ProducerSource, optionally followed by "/<instance>"): the
// envelope's rules would reject the event.
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
	key, err := PartitionKeyOf(payload)
	if err != nil {
		return nil, fmt.Errorf("cqc.NewEvent: %w", err)
	}
	if opts.PartitionKey != "" && opts.PartitionKey != key {
		return nil, fmt.Errorf("cqc.NewEvent: PartitionKey %q is not the %s key %q", opts.PartitionKey, typeName, key)
	}
	producer, err := ProducerSource(typeName)
	if err != nil {
		return nil, fmt.Errorf("cqc.NewEvent: %w", err)
	}
	if opts.Source != producer && !strings.HasPrefix(opts.Source, producer+"/") {
		return nil, fmt.Errorf("cqc.NewEvent: Source %q is not %s's producer %q[/<instance>]", opts.Source, typeName, producer)
	}
	eventID := NewUUIDv7()
	event := &eventsv1.Event{
		EventId:       eventID,
		EventType:     string(typeName),
		Source:        opts.Source,
		SourceVersion: opts.SourceVersion,
		OccurredAt:    timestamppb.New(opts.OccurredAt),
		Subject:       opts.Subject,
		PartitionKey:  key,
		CorrelationId: opts.CorrelationID,
		CausationId:   opts.CausationID,
		SchemaVersion: 1,
		Sequence:      opts.Sequence,
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

// NewUUIDv7 returns a new UUIDv7 (RFC 9562 section 5.7) in lower-case hex with hyphens: the current Unix
// time in milliseconds in the first 48 bits, then the version, 74 random bits and the variant. Ids made
// later sort after ids made earlier (to the millisecond); event_id uses this form.
func NewUUIDv7() string {
	return UUIDv7At(time.Now().UnixMilli())
}

// UUIDv7At is NewUUIDv7 for the Unix time unixMilli (milliseconds, 0 to 2^48-1; other values are taken
// modulo 2^48).
func UUIDv7At(unixMilli int64) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (it crashes the program instead)
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(unixMilli)&(1<<48-1))
	copy(b[0:6], ms[2:8])
	b[6] = b[6]&0x0f | 0x70 // version 7
	b[8] = b[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// EventTypeOptions returns the (cqc.events.v1.event) option of the event message named typeName (e.g.
// "cqc.events.v1.OrderPlaced"): its producer, partition key path(s) and lifecycle. It is an error when
// typeName is not an event of cqc.events.v1.Event's payload oneof.
func EventTypeOptions(typeName protoreflect.FullName) (*eventsv1.EventOptions, error) {
	field := payloadField(typeName)
	if field == nil {
		return nil, fmt.Errorf("%s is not an event of the CQC contract (no cqc.events.v1.Event payload case)", typeName)
	}
	options, _ := proto.GetExtension(field.Message().Options(), eventsv1.E_Event).(*eventsv1.EventOptions)
	if options == nil {
		return nil, fmt.Errorf("%s has no (cqc.events.v1.event) option", typeName)
	}
	return options, nil
}

// payloadField is the case of Event's payload oneof holding typeName, or nil.
func payloadField(typeName protoreflect.FullName) protoreflect.FieldDescriptor {
	fields := payloadOneof.Fields()
	for i := 0; i < fields.Len(); i++ {
		if fields.Get(i).Message().FullName() == typeName {
			return fields.Get(i)
		}
	}
	return nil
}

// PartitionKeyOf returns the partition key of an event message: the value of the first path of its
// option's partition_key that is set (e.g. order.account_id for OrderPlaced). It is an error when no path
// is set or the message is not an event.
func PartitionKeyOf(event proto.Message) (string, error) {
	m := event.ProtoReflect()
	options, err := EventTypeOptions(m.Descriptor().FullName())
	if err != nil {
		return "", err
	}
	for _, path := range options.GetPartitionKey() {
		if value := fieldPathString(m, path); value != "" {
			return value, nil
		}
	}
	return "", fmt.Errorf("%s has no partition key: %s is empty", m.Descriptor().FullName(),
		strings.Join(options.GetPartitionKey(), ", "))
}

// fieldPathString is the string at the dotted field path in m, or "" when a field is missing or unset.
func fieldPathString(m protoreflect.Message, path string) string {
	parts := strings.Split(path, ".")
	for i, part := range parts {
		field := m.Descriptor().Fields().ByName(protoreflect.Name(part))
		if field == nil || !m.Has(field) {
			return ""
		}
		if i == len(parts)-1 {
			if field.Kind() != protoreflect.StringKind || field.IsList() {
				return ""
			}
			return m.Get(field).String()
		}
		if field.Message() == nil || field.IsList() || field.IsMap() {
			return ""
		}
		m = m.Get(field).Message()
	}
	return ""
}

var upperCase = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// ProducerSource returns the source of the service that produces the event type typeName: "//cqc/" + the
// option's producer in kebab case, e.g. "//cqc/venue-gateway" for cqc.events.v1.OrderPlaced.
func ProducerSource(typeName protoreflect.FullName) (string, error) {
	options, err := EventTypeOptions(typeName)
	if err != nil {
		return "", err
	}
	return "//cqc/" + strings.ToLower(upperCase.ReplaceAllString(options.GetProducer(), "$1-$2")), nil
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

// DefaultDedupWindow is how many of the last applied sequences' event ids an EventStreamTracker made by
// NewEventStreamTracker(0) remembers per stream.
const DefaultDedupWindow = 1024

// StreamAction is what to do with one delivered event, by the ordering rules on cqc.events.v1.Event.
type StreamAction string

// The four answers of EventStreamTracker.Offer.
const (
	// StreamApply: the next event of its stream; apply Decision.Released (the event, then the held events
	// it unblocked).
	StreamApply StreamAction = "apply"
	// StreamDuplicate: its event_id was already applied or is held; acknowledge and drop it (the only drop).
	StreamDuplicate StreamAction = "duplicate"
	// StreamGap: events before it are missing; it is held until they arrive (or until Resync).
	StreamGap StreamAction = "gap"
	// StreamReset: a sequence at or below the last applied one with a new event_id, or a second event for
	// a held position: the producer lost its counter, or the event is older than the de-duplication
	// window. Re-sync the entity from the producing service, then apply the event (in Released).
	StreamReset StreamAction = "reset"
)

// Decision is an EventStreamTracker's answer for one delivered event (or for Resync).
type Decision struct {
	// Action says what the event is.
	Action StreamAction
	// Released are the events to apply now, in order: for StreamApply the event then the held events it
	// unblocked; for StreamReset the event itself (after re-syncing); none for duplicates and gaps.
	Released []*eventsv1.Event
	// Superseded are held events a reset or resync made obsolete (the re-synced state holds them):
	// acknowledge them without applying.
	Superseded []*eventsv1.Event
}

// StreamKey identifies a stream: the producer's source and the partition key.
type StreamKey struct {
	Source       string
	PartitionKey string
}

type appliedID struct {
	sequence uint64
	eventID  string
}

type eventStream struct {
	last       uint64
	applied    []appliedID // oldest first
	appliedIDs map[string]bool
	held       map[uint64]*eventsv1.Event
}

// EventStreamTracker applies the ordering and de-duplication rules of cqc.events.v1.Event to events in
// delivery order. A stream is (source, partition_key; the subject when partition_key is empty): several
// producers writing the same key (the account_id is written by the VenueGateway, the Portfolio and the
// RiskEngine) are separate streams with their own sequences, so none of their events is taken for a
// duplicate. A stream never seen starts at position 0 (its next event is sequence 1); a consumer that
// starts from a snapshot calls Resync first. Not safe for concurrent use; in memory only.
type EventStreamTracker struct {
	window  int
	streams map[StreamKey]*eventStream
}

// NewEventStreamTracker returns a tracker remembering, per stream, the event ids of the last window
// applied sequences (DefaultDedupWindow when window <= 0).
func NewEventStreamTracker(window int) *EventStreamTracker {
	if window <= 0 {
		window = DefaultDedupWindow
	}
	return &EventStreamTracker{window: window, streams: map[StreamKey]*eventStream{}}
}

// StreamOf returns the stream of event: (source, partition_key or subject).
func StreamOf(event *eventsv1.Event) StreamKey {
	key := event.GetPartitionKey()
	if key == "" {
		key = event.GetSubject()
	}
	return StreamKey{Source: event.GetSource(), PartitionKey: key}
}

func (t *EventStreamTracker) stream(key StreamKey) *eventStream {
	s := t.streams[key]
	if s == nil {
		s = &eventStream{appliedIDs: map[string]bool{}, held: map[uint64]*eventsv1.Event{}}
		t.streams[key] = s
	}
	return s
}

func (t *EventStreamTracker) remember(s *eventStream, event *eventsv1.Event) {
	s.last = event.GetSequence()
	s.applied = append(s.applied, appliedID{event.GetSequence(), event.GetEventId()})
	s.appliedIDs[event.GetEventId()] = true
	for len(s.applied) > 0 && (len(s.applied) > t.window ||
		(s.last >= uint64(t.window) && s.applied[0].sequence <= s.last-uint64(t.window))) {
		delete(s.appliedIDs, s.applied[0].eventID)
		s.applied = s.applied[1:]
	}
}

func (t *EventStreamTracker) drain(s *eventStream) []*eventsv1.Event {
	var released []*eventsv1.Event
	for {
		event, ok := s.held[s.last+1]
		if !ok {
			return released
		}
		delete(s.held, s.last+1)
		t.remember(s, event)
		released = append(released, event)
	}
}

func heldInOrder(s *eventStream, keep func(uint64) bool) []*eventsv1.Event {
	sequences := make([]uint64, 0, len(s.held))
	for sequence := range s.held {
		if keep(sequence) {
			sequences = append(sequences, sequence)
		}
	}
	sort.Slice(sequences, func(i, j int) bool { return sequences[i] < sequences[j] })
	events := make([]*eventsv1.Event, 0, len(sequences))
	for _, sequence := range sequences {
		events = append(events, s.held[sequence])
		delete(s.held, sequence)
	}
	return events
}

// Offer classifies the next delivered event of its stream (see StreamAction).
func (t *EventStreamTracker) Offer(event *eventsv1.Event) Decision {
	s := t.stream(StreamOf(event))
	sequence, id := event.GetSequence(), event.GetEventId()
	if s.appliedIDs[id] {
		return Decision{Action: StreamDuplicate}
	}
	for _, held := range s.held {
		if held.GetEventId() == id {
			return Decision{Action: StreamDuplicate}
		}
	}
	if sequence == s.last+1 {
		t.remember(s, event)
		return Decision{Action: StreamApply, Released: append([]*eventsv1.Event{event}, t.drain(s)...)}
	}
	if _, taken := s.held[sequence]; sequence > s.last+1 && !taken {
		s.held[sequence] = event
		return Decision{Action: StreamGap}
	}
	superseded := heldInOrder(s, func(uint64) bool { return true })
	t.remember(s, event)
	return Decision{Action: StreamReset, Released: []*eventsv1.Event{event}, Superseded: superseded}
}

// Resync sets the stream's position to sequence after the consumer loaded the entity's state as of that
// position from the producing service (a snapshot, or the re-sync after a gap timeout or a reset). It
// returns, as a StreamApply decision, the held events above sequence that now follow without a gap
// (apply them), and as Superseded the held events at or below it (the state already holds them).
func (t *EventStreamTracker) Resync(source, partitionKey string, sequence uint64) Decision {
	s := t.stream(StreamKey{Source: source, PartitionKey: partitionKey})
	superseded := heldInOrder(s, func(held uint64) bool { return held <= sequence })
	s.last = sequence
	return Decision{Action: StreamApply, Released: t.drain(s), Superseded: superseded}
}

// Position returns the last applied sequence of the stream (0 when nothing was applied).
func (t *EventStreamTracker) Position(source, partitionKey string) uint64 {
	if s := t.streams[StreamKey{Source: source, PartitionKey: partitionKey}]; s != nil {
		return s.last
	}
	return 0
}

// Held returns the sequences held behind a gap in the stream, ascending.
func (t *EventStreamTracker) Held(source, partitionKey string) []uint64 {
	s := t.streams[StreamKey{Source: source, PartitionKey: partitionKey}]
	if s == nil {
		return nil
	}
	sequences := make([]uint64, 0, len(s.held))
	for sequence := range s.held {
		sequences = append(sequences, sequence)
	}
	sort.Slice(sequences, func(i, j int) bool { return sequences[i] < sequences[j] })
	return sequences
}

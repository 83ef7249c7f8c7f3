// Package cqcnats publishes and consumes cqc.events.v1.Event envelopes on NATS JetStream, by the binding
// documented in proto/cqc/events/README.md, "Transport: NATS JetStream". Python (cqc.nats) and
// TypeScript (@crypto-quant/cqc/nats) implement the same binding; `nox -s events` holds the three together.
//
//   - Subject: "<event_type>.<partition key token>" (SubjectFor; key characters outside [A-Za-z0-9_-] are
//     written ~XX).
//   - Streams: CQC_EVENTS for every event ("cqc.events.v1.>"), CQC_DEADLETTER ("cqc.deadletter.v1.>").
//   - Headers: CloudEvents binary mode ("ce-*" from cqc.CloudEventAttributes), Content-Type
//     application/protobuf or application/json, Nats-Msg-Id = event_id.
//   - Publisher: publish with a broker ack and bounded retry, the same Nats-Msg-Id each time.
//   - Consumer: durable, explicit ack; ordering, gaps and de-duplication by cqc.EventStreamTracker;
//     positions persisted by a StateStore; undecodable or invalid events go to the dead-letter subject with
//     the reason, then are acked.
//
// It is a package of the cqc module, so nats.go is in the module's requirements; a program that does not
// import cqcnats never builds or downloads nats.go (Go's module graph pruning loads only go.mod files).
package cqcnats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/crypto-quant/cqc/packages/go"
	eventsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/events/v1"
)

// Names of the binding.
const (
	SubjectPrefix     = "cqc.events.v1"
	DeadletterPrefix  = "cqc.deadletter.v1"
	EventsStream      = "CQC_EVENTS"
	DeadletterStream  = "CQC_DEADLETTER"
	EventsMaxAge      = 7 * 24 * time.Hour
	DeadletterMaxAge  = 30 * 24 * time.Hour
	DuplicateWindow   = 10 * time.Minute
	PublishAttempts   = 5
	ContentTypeHeader = "Content-Type"
	ReasonHeader      = "CQC-Deadletter-Reason"
	OriginalSubject   = "CQC-Deadletter-Subject"
)

var knownTypes = func() map[string]bool {
	known := map[string]bool{}
	fields := (&eventsv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload").Fields()
	for i := range fields.Len() {
		known[string(fields.Get(i).Message().FullName())] = true
	}
	return known
}()

func tokenSafe(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// KeyToken is the partition key as one NATS subject token: [A-Za-z0-9_-] kept, every other byte written
// ~XX (upper-case hex); the empty key is "_".
func KeyToken(key string) string {
	if key == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if tokenSafe(key[i]) {
			b.WriteByte(key[i])
		} else {
			fmt.Fprintf(&b, "~%02X", key[i])
		}
	}
	return b.String()
}

// SubjectFor is the subject of an event: its event_type, ".", and KeyToken of its partition key (the
// subject when the key is empty).
func SubjectFor(event *eventsv1.Event) string {
	key := event.GetPartitionKey()
	if key == "" {
		key = event.GetSubject()
	}
	return event.GetEventType() + "." + KeyToken(key)
}

var typeName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)

// DeadletterSubject is "cqc.deadletter.v1.<EventType>", or "...undecodable" when the type is unknown.
func DeadletterSubject(eventType string) string {
	name := ""
	if strings.HasPrefix(eventType, SubjectPrefix+".") {
		name = eventType[len(SubjectPrefix)+1:]
	}
	if !typeName.MatchString(name) {
		name = "undecodable"
	}
	return DeadletterPrefix + "." + name
}

// Headers are the message headers of an event: "ce-<attribute>" for each CloudEvents attribute but
// datacontenttype (Content-Type), and Nats-Msg-Id = event_id.
func Headers(event *eventsv1.Event, contentType string) (nats.Header, error) {
	attributes, err := cqc.CloudEventAttributesWithContentType(event, contentType)
	if err != nil {
		return nil, err
	}
	header := nats.Header{}
	for name, value := range attributes {
		if name == "datacontenttype" {
			header.Set(ContentTypeHeader, value)
		} else {
			header["ce-"+name] = []string{value}
		}
	}
	header.Set(jetstream.MsgIDHeader, event.GetEventId())
	return header, nil
}

// Encode is the message data: the whole Event in protobuf binary or canonical proto JSON.
func Encode(event *eventsv1.Event, contentType string) ([]byte, error) {
	switch contentType {
	case cqc.ContentTypeJSON:
		return protojson.Marshal(event)
	case cqc.ContentTypeProtobuf:
		return proto.Marshal(event)
	}
	return nil, fmt.Errorf("content type %q is not %s or %s", contentType, cqc.ContentTypeProtobuf, cqc.ContentTypeJSON)
}

// Decode decodes message data by its Content-Type (protobuf when empty); unknown JSON fields are ignored.
func Decode(data []byte, contentType string) (*eventsv1.Event, error) {
	event := &eventsv1.Event{}
	switch contentType {
	case cqc.ContentTypeJSON:
		return event, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, event)
	case "", cqc.ContentTypeProtobuf:
		return event, proto.Unmarshal(data, event)
	}
	return nil, fmt.Errorf("unsupported Content-Type %q", contentType)
}

// EnsureStreams creates or updates CQC_EVENTS and CQC_DEADLETTER (file storage, limits retention).
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range []jetstream.StreamConfig{
		{Name: EventsStream, Subjects: []string{SubjectPrefix + ".>"}, MaxAge: EventsMaxAge},
		{Name: DeadletterStream, Subjects: []string{DeadletterPrefix + ".>"}, MaxAge: DeadletterMaxAge},
	} {
		cfg.Retention, cfg.Storage, cfg.Duplicates, cfg.Replicas = jetstream.LimitsPolicy, jetstream.FileStorage, DuplicateWindow, 1
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// Publisher publishes events with a JetStream ack and bounded retry (same Nats-Msg-Id).
type Publisher struct {
	JS          jetstream.JetStream
	ContentType string        // default application/protobuf
	Attempts    int           // default PublishAttempts
	Backoff     time.Duration // first retry delay, doubled each time; default 200ms
}

// Publish publishes one event; it reports whether the broker had already stored it (a duplicate).
func (p *Publisher) Publish(ctx context.Context, event *eventsv1.Event) (bool, error) {
	contentType := p.ContentType
	if contentType == "" {
		contentType = cqc.ContentTypeProtobuf
	}
	attempts, delay := p.Attempts, p.Backoff
	if attempts < 1 {
		attempts = PublishAttempts
	}
	if delay <= 0 {
		delay = 200 * time.Millisecond
	}
	data, err := Encode(event, contentType)
	if err != nil {
		return false, err
	}
	header, err := Headers(event, contentType)
	if err != nil {
		return false, err
	}
	msg := &nats.Msg{Subject: SubjectFor(event), Data: data, Header: header}
	for attempt := 1; ; attempt++ {
		ack, err := p.JS.PublishMsg(ctx, msg)
		if err == nil {
			return ack.Duplicate, nil
		}
		if attempt >= attempts || ctx.Err() != nil {
			return false, fmt.Errorf("publish %s after %d attempts: %w", event.GetEventId(), attempt, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 5*time.Second)
	}
}

// State is what a consumer persists: per stream ("source|partition_key") the last applied sequence and
// the ids of the last applied events, plus application data saved in the same write.
type State struct {
	Streams map[string]*StreamState `json:"streams"`
	Extra   map[string]any          `json:"extra"`
}

// StreamState is one stream's persisted position.
type StreamState struct {
	Last uint64   `json:"last"`
	IDs  []string `json:"ids"`
}

// StateStore loads and saves a consumer's State; Save runs after the handler and before the ack: commit it
// with the handler's effects to apply each event exactly once across crashes.
type StateStore interface {
	Load() (*State, error)
	Save(*State) error
}

// FileStateStore keeps the state in one JSON file, replaced atomically on every save.
type FileStateStore struct{ Path string }

// Load reads the file (an empty state when it does not exist).
func (f FileStateStore) Load() (*State, error) {
	state := &State{}
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return state, nil
	}
	if err != nil {
		return nil, err
	}
	return state, json.Unmarshal(data, state)
}

// Save writes the state to a temporary file, syncs it and renames it over the file.
func (f FileStateStore) Save(state *State) error {
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), filepath.Base(f.Path)+".")
	if err != nil {
		return err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

// MemoryStateStore forgets on restart (tests, benchmarks).
type MemoryStateStore struct{ state State }

// Load returns the saved state.
func (m *MemoryStateStore) Load() (*State, error) { s := m.state; return &s, nil }

// Save keeps the state.
func (m *MemoryStateStore) Save(s *State) error { m.state = *s; return nil }

// Counts is what a consumer saw.
type Counts struct {
	Delivered    int `json:"delivered"`
	Redelivered  int `json:"redelivered"`
	Applied      int `json:"applied"`
	Duplicates   int `json:"duplicates"`
	Gaps         int `json:"gaps"`
	Resets       int `json:"resets"`
	DeadLettered int `json:"dead_lettered"`
	Unknown      int `json:"unknown"`
}

// Consumer is a durable pull consumer of the events stream with explicit ack (see the package comment and
// Python's cqc.nats.Consumer, which it mirrors step for step).
type Consumer struct {
	js      jetstream.JetStream
	durable string
	filter  string
	ackWait time.Duration
	handler func(*eventsv1.Event) error
	store   StateStore
	tracker *cqc.EventStreamTracker
	state   *State
	idSet   map[string]bool
	held    map[string]jetstream.Msg
	OnReset func(*eventsv1.Event)
	Counts  Counts
}

// NewConsumer restores the state from store (nil: in memory) and prepares the durable consumer `durable`
// on filter (empty: every event).
func NewConsumer(js jetstream.JetStream, durable, filter string, ackWait time.Duration, store StateStore, handler func(*eventsv1.Event) error) (*Consumer, error) {
	if store == nil {
		store = &MemoryStateStore{}
	}
	if filter == "" {
		filter = SubjectPrefix + ".>"
	}
	state, err := store.Load()
	if err != nil {
		return nil, err
	}
	if state.Streams == nil {
		state.Streams = map[string]*StreamState{}
	}
	if state.Extra == nil {
		state.Extra = map[string]any{}
	}
	c := &Consumer{js: js, durable: durable, filter: filter, ackWait: ackWait, handler: handler, store: store,
		tracker: cqc.NewEventStreamTracker(cqc.DefaultDedupWindow), state: state, idSet: map[string]bool{},
		held: map[string]jetstream.Msg{}}
	for name, s := range state.Streams {
		source, key, _ := strings.Cut(name, "|")
		c.tracker.Resync(source, key, s.Last)
		for _, id := range s.IDs {
			c.idSet[id] = true
		}
	}
	return c, nil
}

// Extra is application data saved with the positions (in the same atomic save).
func (c *Consumer) Extra() map[string]any { return c.state.Extra }

func (c *Consumer) remember(event *eventsv1.Event) {
	key := cqc.StreamOf(event)
	name := key.Source + "|" + key.PartitionKey
	s := c.state.Streams[name]
	if s == nil {
		s = &StreamState{}
		c.state.Streams[name] = s
	}
	s.IDs = append(s.IDs, event.GetEventId())
	if len(s.IDs) > cqc.DefaultDedupWindow {
		delete(c.idSet, s.IDs[0])
		s.IDs = s.IDs[1:]
	}
	s.Last = c.tracker.Position(key.Source, key.PartitionKey)
	c.idSet[event.GetEventId()] = true
}

func (c *Consumer) deadletter(ctx context.Context, msg jetstream.Msg, reason, eventType string) error {
	header := nats.Header{}
	for name, values := range msg.Headers() {
		if strings.HasPrefix(name, "ce-") || name == ContentTypeHeader {
			header[name] = values
		}
	}
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	// Header values stay printable ASCII (Go's protobuf errors contain U+00A0, for one).
	header.Set(ReasonHeader, strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, reason))
	header.Set(OriginalSubject, msg.Subject())
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		header.Set(jetstream.MsgIDHeader, "dl-"+id)
	}
	if _, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: DeadletterSubject(eventType), Data: msg.Data(), Header: header}); err != nil {
		return err // not acked: redelivered and dead-lettered again later
	}
	c.Counts.DeadLettered++
	return msg.Ack()
}

// Handle processes one delivered message.
func (c *Consumer) Handle(ctx context.Context, msg jetstream.Msg) error {
	c.Counts.Delivered++
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
		c.Counts.Redelivered++
	}
	event, err := Decode(msg.Data(), msg.Headers().Get(ContentTypeHeader))
	if err != nil {
		return c.deadletter(ctx, msg, "undecodable: "+err.Error(), msg.Headers().Get("ce-type"))
	}
	if event.GetPayload() == nil && event.GetEventId() != "" && !knownTypes[event.GetEventType()] {
		c.Counts.Unknown++
		return msg.Ack()
	}
	if violations, err := cqc.Violations(event); err != nil || len(violations) > 0 {
		parts := []string{}
		for _, v := range violations {
			parts = append(parts, fmt.Sprintf("%s: %s [%s]", v.Field, v.Message, v.RuleID))
		}
		if err != nil {
			parts = append(parts, err.Error())
		}
		return c.deadletter(ctx, msg, "invalid: "+strings.Join(parts, "; "), event.GetEventType())
	}
	if c.idSet[event.GetEventId()] {
		c.Counts.Duplicates++
		return msg.Ack()
	}
	decision := c.tracker.Offer(event)
	switch decision.Action {
	case cqc.StreamDuplicate:
		if _, ok := c.held[event.GetEventId()]; ok {
			c.held[event.GetEventId()] = msg
			return nil
		}
		c.Counts.Duplicates++
		return msg.Ack()
	case cqc.StreamGap:
		c.Counts.Gaps++
		c.held[event.GetEventId()] = msg
		return nil
	case cqc.StreamReset:
		c.Counts.Resets++
		if c.OnReset != nil {
			c.OnReset(event)
		}
	}
	for _, e := range decision.Released {
		if err := c.handler(e); err != nil {
			return err // not acked, not saved: redelivered
		}
		c.remember(e)
		c.Counts.Applied++
	}
	if err := c.store.Save(c.state); err != nil {
		return err
	}
	for _, e := range append(decision.Superseded, decision.Released...) {
		if h, ok := c.held[e.GetEventId()]; ok {
			delete(c.held, e.GetEventId())
			_ = h.Ack()
		} else if e.GetEventId() == event.GetEventId() {
			_ = msg.Ack()
		}
	}
	return nil
}

// Consumer creates or updates the durable consumer and returns it.
func (c *Consumer) consumer(ctx context.Context) (jetstream.Consumer, error) {
	return c.js.CreateOrUpdateConsumer(ctx, EventsStream, jetstream.ConsumerConfig{
		Durable: c.durable, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait: c.ackWait, FilterSubject: c.filter, MaxAckPending: 10000,
	})
}

// Run fetches and handles messages until ctx ends or, with idle > 0, until none arrived for idle.
func (c *Consumer) Run(ctx context.Context, idle time.Duration) error {
	cons, err := c.consumer(ctx)
	if err != nil {
		return err
	}
	wait := idle
	if wait <= 0 {
		wait = time.Second
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(wait))
		if err != nil {
			return err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			if err := c.Handle(ctx, msg); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if n == 0 && idle > 0 {
			return nil
		}
	}
	return ctx.Err()
}

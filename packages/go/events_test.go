package cqc_test

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crypto-quant/cqc/packages/go"
	assetsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/assets/v1"
	eventsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/events/v1"
	venuesv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/venues/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

const examplesDir = "../../testdata/examples"

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// eventCase is one case of testdata/helpers/events-cases.json.
type eventCase struct {
	Name            string            `json:"name"`
	Example         string            `json:"example"`
	Patch           map[string]any    `json:"patch"`
	DataContentType string            `json:"datacontenttype"`
	Error           bool              `json:"error"`
	Attributes      map[string]string `json:"attributes"`
	Payload         *string           `json:"payload"`
}

func loadEventCases(t *testing.T) []eventCase {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/helpers/events-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []eventCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	return file.Cases
}

// caseEvent is the case's example envelope with its patch applied (top-level keys; null removes a key).
func caseEvent(t *testing.T, c eventCase) *eventsv1.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examplesDir, "cqc.events.v1.Event", c.Example))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	for key, value := range c.Patch {
		if value == nil {
			delete(data, key)
		} else {
			data[key] = value
		}
	}
	patched, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	event := &eventsv1.Event{}
	if err := protojson.Unmarshal(patched, event); err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return event
}

func TestCloudEventAttributesCases(t *testing.T) {
	cases := loadEventCases(t)
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			event := caseEvent(t, c)
			contentType := c.DataContentType
			if contentType == "" {
				contentType = cqc.ContentTypeProtobuf
			}
			got, err := cqc.CloudEventAttributesWithContentType(event, contentType)
			switch {
			case c.Error && err == nil:
				t.Fatalf("expected an error, got %v", got)
			case !c.Error && err != nil:
				t.Fatal(err)
			case !c.Error && !maps.Equal(got, c.Attributes):
				t.Fatalf("attributes\n got  %v\n want %v", got, c.Attributes)
			}
			payload, err := cqc.EventPayload(event)
			if c.Payload == nil {
				if !errors.Is(err, cqc.ErrNoPayload) {
					t.Fatalf("expected ErrNoPayload, got %v, %v", payload, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name := string(payload.ProtoReflect().Descriptor().FullName()); name != *c.Payload {
				t.Fatalf("payload type %s, want %s", name, *c.Payload)
			}
		})
	}
}

func TestCloudEventAttributesDefaultsToProtobuf(t *testing.T) {
	event := caseEvent(t, loadEventCases(t)[0])
	got, err := cqc.CloudEventAttributes(event)
	if err != nil || got["datacontenttype"] != "application/protobuf" {
		t.Fatalf("%v, %v", got, err)
	}
}

// payloadExamples lists every example of every event message (not the envelope), by message name.
func payloadExamples(t *testing.T) map[protoreflect.FullName][]string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(examplesDir, "cqc.events.v1.*"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[protoreflect.FullName][]string{}
	for _, dir := range dirs {
		name := protoreflect.FullName(filepath.Base(dir))
		if name == "cqc.events.v1.Event" {
			continue
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		found[name] = files
	}
	return found
}

func TestNewEventForEveryEventType(t *testing.T) {
	examples := payloadExamples(t)
	fields := (&eventsv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload").Fields()
	if fields.Len() != 30 || len(examples) != fields.Len() {
		t.Fatalf("%d payload cases, examples for %d event types", fields.Len(), len(examples))
	}
	count := 0
	for i := 0; i < fields.Len(); i++ {
		typeName := fields.Get(i).Message().FullName()
		files := examples[typeName]
		if len(files) == 0 {
			t.Fatalf("no example for %s", typeName)
		}
		for _, file := range files {
			count++
			t.Run(string(typeName)+"/"+filepath.Base(file), func(t *testing.T) {
				messageType, err := protoregistry.GlobalTypes.FindMessageByName(typeName)
				if err != nil {
					t.Fatal(err)
				}
				payload := messageType.New().Interface()
				raw, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if err := protojson.Unmarshal(raw, payload); err != nil {
					t.Fatal(err)
				}
				occurredAt := time.Now()
				producer, err := cqc.ProducerSource(typeName)
				if err != nil {
					t.Fatal(err)
				}
				key, err := cqc.PartitionKeyOf(payload)
				if err != nil {
					t.Fatal(err)
				}
				event, err := cqc.NewEvent(payload, cqc.EventOptions{
					Source:        producer + "/helper-test",
					Subject:       "ast_01JDVSDC000000000000000000",
					OccurredAt:    occurredAt,
					Sequence:      1,
					SourceVersion: "0.1.0",
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := cqc.Validate(event); err != nil {
					t.Fatal(err)
				}
				if !uuidV7.MatchString(event.GetEventId()) || event.GetCorrelationId() != event.GetEventId() {
					t.Fatalf("event_id %q, correlation_id %q", event.GetEventId(), event.GetCorrelationId())
				}
				if event.GetEventType() != string(typeName) || event.GetPartitionKey() != key || key == "" ||
					event.GetCausationId() != "" || event.GetSchemaVersion() != 1 ||
					!event.GetOccurredAt().AsTime().Equal(occurredAt) {
					t.Fatalf("unexpected envelope %v", event)
				}
				if d := time.Since(event.GetRecordedAt().AsTime()); d < 0 || d > 10*time.Second {
					t.Fatalf("recorded_at %v is not now", event.GetRecordedAt().AsTime())
				}
				got, err := cqc.EventPayload(event)
				if err != nil || !proto.Equal(got, payload) {
					t.Fatalf("payload %v, %v", got, err)
				}
				if got == payload {
					t.Fatal("NewEvent must copy the payload")
				}
				attributes, err := cqc.CloudEventAttributes(event)
				if err != nil || attributes["type"] != string(typeName) {
					t.Fatalf("%v, %v", attributes, err)
				}
			})
		}
	}
	if count < 30 {
		t.Fatalf("only %d payload examples", count)
	}
}

func TestNewEventRebuildsTheEnvelopeExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "cqc.events.v1.Event", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			example := &eventsv1.Event{}
			if err := protojson.Unmarshal(raw, example); err != nil {
				t.Fatal(err)
			}
			payload, err := cqc.EventPayload(example)
			if err != nil {
				t.Fatal(err)
			}
			event, err := cqc.NewEvent(payload, cqc.EventOptions{
				Source:        example.GetSource(),
				Subject:       example.GetSubject(),
				OccurredAt:    example.GetOccurredAt().AsTime(),
				PartitionKey:  example.GetPartitionKey(),
				CorrelationID: example.GetCorrelationId(),
				CausationID:   example.GetCausationId(),
				Sequence:      example.GetSequence(),
				SourceVersion: example.GetSourceVersion(),
				RecordedAt:    example.GetRecordedAt().AsTime(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := cqc.Validate(event); err != nil {
				t.Fatal(err)
			}
			event.EventId = example.GetEventId()
			if example.GetPartitionKey() == "" {
				if event.GetPartitionKey() != example.GetSubject() {
					t.Fatalf("partition_key %q, want the subject", event.GetPartitionKey())
				}
				event.PartitionKey = ""
			}
			if !proto.Equal(event, example) {
				t.Fatalf("rebuilt\n %v\nwant\n %v", event, example)
			}
		})
	}
}

func TestNewEventOptions(t *testing.T) {
	created := &eventsv1.AssetCreated{Asset: &assetsv1.Asset{AssetId: "ast_01JDVSDC000000000000000000"}}
	occurred := time.Date(2024, 11, 20, 9, 0, 0, 123456789, time.UTC)
	recorded := time.Date(2024, 11, 20, 10, 0, 1, 0, time.FixedZone("CET", 3600))
	event, err := cqc.NewEvent(created, cqc.EventOptions{
		Source:        "//cqc/asset-registry",
		Subject:       "ast_01JDVSDC000000000000000000",
		OccurredAt:    occurred,
		PartitionKey:  "ast_01JDVSDC000000000000000000",
		CorrelationID: "0193499a-2b40-7c11-8e0f-5a1d3c7b9e21",
		CausationID:   "01972941-a1c3-7e55-b0d2-93f4c6e8a017",
		Sequence:      7,
		SourceVersion: "1.4.2",
		RecordedAt:    recorded,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := event.GetPayload().(*eventsv1.Event_AssetCreated); !ok {
		t.Fatalf("payload case %T", event.GetPayload())
	}
	if event.GetPartitionKey() != "ast_01JDVSDC000000000000000000" || event.GetSequence() != 7 ||
		event.GetCorrelationId() != "0193499a-2b40-7c11-8e0f-5a1d3c7b9e21" ||
		event.GetCausationId() != "01972941-a1c3-7e55-b0d2-93f4c6e8a017" {
		t.Fatalf("unexpected envelope %v", event)
	}
	attributes, err := cqc.CloudEventAttributes(event)
	if err != nil {
		t.Fatal(err)
	}
	if attributes["time"] != "2024-11-20T09:00:00.123456789Z" || attributes["recordedtime"] != "2024-11-20T09:00:01Z" ||
		attributes["causationid"] != "01972941-a1c3-7e55-b0d2-93f4c6e8a017" {
		t.Fatalf("attributes %v", attributes)
	}
	again, err := cqc.NewEvent(created, cqc.EventOptions{
		Source: "//cqc/asset-registry", Subject: event.GetSubject(), OccurredAt: occurred, Sequence: 8, SourceVersion: "1.4.2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.GetEventId() == event.GetEventId() || again.GetSequence() != 8 || again.GetSourceVersion() != "1.4.2" {
		t.Fatalf("unexpected second event %v", again)
	}
	for name, opts := range map[string]cqc.EventOptions{
		"Sequence":      {Source: "//cqc/asset-registry", Subject: event.GetSubject(), OccurredAt: occurred, SourceVersion: "1.4.2"},
		"SourceVersion": {Source: "//cqc/asset-registry", Subject: event.GetSubject(), OccurredAt: occurred, Sequence: 1},
	} {
		if _, err := cqc.NewEvent(created, opts); err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("missing %s: expected an error naming it, got %v", name, err)
		}
	}
}

func TestNewEventAcceptsDynamicMessages(t *testing.T) {
	created := &eventsv1.AssetCreated{Asset: &assetsv1.Asset{AssetId: "ast_01JDVSDC000000000000000000"}}
	dynamic := dynamicpb.NewMessage(created.ProtoReflect().Descriptor())
	wire, err := proto.Marshal(created)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(wire, dynamic); err != nil {
		t.Fatal(err)
	}
	event, err := cqc.NewEvent(dynamic, cqc.EventOptions{
		Source: "//cqc/asset-registry", Subject: "ast_01JDVSDC000000000000000000", OccurredAt: time.Now(), Sequence: 1, SourceVersion: "1.4.2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(event.GetAssetCreated(), created) {
		t.Fatalf("payload %v", event.GetAssetCreated())
	}
}

func TestNewEventRejectsWhatIsNotAnEvent(t *testing.T) {
	opts := cqc.EventOptions{Source: "//cqc/x", Subject: "ast_01JDVSDC000000000000000000", OccurredAt: time.Now()}
	for _, message := range []proto.Message{&assetsv1.Asset{}, &eventsv1.Event{}} {
		name := string(message.ProtoReflect().Descriptor().FullName())
		if _, err := cqc.NewEvent(message, opts); err == nil || !strings.Contains(err.Error(), name+" is not an event") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := cqc.NewEvent(nil, opts); err == nil {
		t.Fatal("nil payload accepted")
	}
	if _, err := cqc.NewEvent(&eventsv1.AssetCreated{}, cqc.EventOptions{Source: "//cqc/x"}); err == nil ||
		!strings.Contains(err.Error(), "OccurredAt") {
		t.Fatalf("zero OccurredAt: %v", err)
	}
}

func TestCloudEventAttributesRejectsOutOfRangeTimes(t *testing.T) {
	event := caseEvent(t, loadEventCases(t)[0])
	event.OccurredAt.Seconds = 253402300800 // 10000-01-01
	if _, err := cqc.CloudEventAttributes(event); err == nil || !strings.Contains(err.Error(), "occurred_at") {
		t.Fatalf("expected an occurred_at error, got %v", err)
	}
}

func TestNewEventRefusesAKeyOrSourceOtherThanTheOptions(t *testing.T) {
	placed := &eventsv1.OrderPlaced{Order: &venuesv1.Order{AccountId: "acc_01JDBNSP0TMA1N000000000000"}}
	base := cqc.EventOptions{Subject: "ord_01JDBNGTCBVY00000000000000", OccurredAt: time.Now(), Sequence: 1, SourceVersion: "1.0.0"}
	for want, opts := range map[string]func(o *cqc.EventOptions){
		"is not the cqc.events.v1.OrderPlaced key": func(o *cqc.EventOptions) {
			o.Source, o.PartitionKey = "//cqc/venue-gateway", "ord_01JDBNGTCBVY00000000000000"
		},
		`producer "//cqc/venue-gateway"`: func(o *cqc.EventOptions) { o.Source = "//cqc/portfolio" },
		"producer":                       func(o *cqc.EventOptions) { o.Source = "//cqc/venue-gateway-2" },
	} {
		o := base
		opts(&o)
		if _, err := cqc.NewEvent(placed, o); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: %v", want, err)
		}
	}
	o := base
	o.Source = "//cqc/venue-gateway"
	if _, err := cqc.NewEvent(&eventsv1.OrderPlaced{}, o); err == nil ||
		!strings.Contains(err.Error(), "has no partition key: order.account_id is empty") {
		t.Fatalf("empty key: %v", err)
	}
	o.Source = "//cqc/venue-gateway/okx"
	event, err := cqc.NewEvent(placed, o)
	if err != nil || event.GetPartitionKey() != "acc_01JDBNSP0TMA1N000000000000" {
		t.Fatalf("%v, %v", event, err)
	}
	for typeName, want := range map[protoreflect.FullName]string{
		"cqc.events.v1.PositionChanged": "//cqc/portfolio", "cqc.events.v1.RiskAlert": "//cqc/risk-engine",
		"cqc.events.v1.MarketCreated": "//cqc/asset-registry", "cqc.events.v1.PriceUpdated": "//cqc/market-data",
	} {
		if got, err := cqc.ProducerSource(typeName); err != nil || got != want {
			t.Fatalf("%s: %q, %v", typeName, got, err)
		}
	}
	if _, err := cqc.EventTypeOptions("cqc.assets.v1.Asset"); err == nil {
		t.Fatal("options of a non-event")
	}
}

func TestEveryEventTypeHasTheEventOption(t *testing.T) {
	fields := (&eventsv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload").Fields()
	for i := 0; i < fields.Len(); i++ {
		options, err := cqc.EventTypeOptions(fields.Get(i).Message().FullName())
		if err != nil || options.GetProducer() == "" || len(options.GetPartitionKey()) == 0 || options.GetLifecycle() == "" {
			t.Fatalf("%s: %v, %v", fields.Get(i).Message().FullName(), options, err)
		}
	}
}

func TestUUIDv7(t *testing.T) {
	value := cqc.UUIDv7At(0x0193A8F26C1E)
	if !uuidV7.MatchString(value) || !strings.HasPrefix(value, "0193a8f2-6c1e-7") {
		t.Fatalf("UUIDv7At: %q", value)
	}
	if !(cqc.UUIDv7At(1) < cqc.UUIDv7At(2) && cqc.UUIDv7At(2) < cqc.NewUUIDv7()) {
		t.Fatal("UUIDv7 values do not sort by time")
	}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		seen[cqc.UUIDv7At(5)] = true
	}
	if len(seen) != 1000 || !uuidV7.MatchString(cqc.UUIDv7At(1<<48-1)) {
		t.Fatalf("%d distinct ids", len(seen))
	}
}

// streamCase is one case of testdata/helpers/event-stream-cases.json.
type streamCase struct {
	Name   string `json:"name"`
	Window int    `json:"window"`
	Steps  []struct {
		Offer *struct {
			EventID      string `json:"event_id"`
			Source       string `json:"source"`
			PartitionKey string `json:"partition_key"`
			Sequence     uint64 `json:"sequence"`
		} `json:"offer"`
		Resync *struct {
			Source       string `json:"source"`
			PartitionKey string `json:"partition_key"`
			Sequence     uint64 `json:"sequence"`
		} `json:"resync"`
		Action     string   `json:"action"`
		Released   []string `json:"released"`
		Superseded []string `json:"superseded"`
	} `json:"steps"`
	Positions []struct {
		Source       string `json:"source"`
		PartitionKey string `json:"partition_key"`
		Sequence     uint64 `json:"sequence"`
	} `json:"positions"`
	Applied []string `json:"applied"`
}

func eventIDs(events []*eventsv1.Event) []string {
	ids := []string{}
	for _, event := range events {
		ids = append(ids, event.GetEventId())
	}
	return ids
}

func TestEventStreamCases(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/helpers/event-stream-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []streamCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) < 10 {
		t.Fatalf("only %d cases", len(file.Cases))
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			tracker := cqc.NewEventStreamTracker(c.Window)
			applied := []string{}
			for i, step := range c.Steps {
				var decision cqc.Decision
				if step.Offer != nil {
					decision = tracker.Offer(&eventsv1.Event{
						EventId: step.Offer.EventID, Source: step.Offer.Source,
						PartitionKey: step.Offer.PartitionKey, Sequence: step.Offer.Sequence,
					})
					if string(decision.Action) != step.Action {
						t.Fatalf("step %d: action %q, want %q", i, decision.Action, step.Action)
					}
				} else {
					decision = tracker.Resync(step.Resync.Source, step.Resync.PartitionKey, step.Resync.Sequence)
				}
				released := eventIDs(decision.Released)
				if strings.Join(released, ",") != strings.Join(step.Released, ",") {
					t.Fatalf("step %d: released %v, want %v", i, released, step.Released)
				}
				if got := eventIDs(decision.Superseded); strings.Join(got, ",") != strings.Join(step.Superseded, ",") {
					t.Fatalf("step %d: superseded %v, want %v", i, got, step.Superseded)
				}
				applied = append(applied, released...)
			}
			if strings.Join(applied, ",") != strings.Join(c.Applied, ",") {
				t.Fatalf("applied %v, want %v", applied, c.Applied)
			}
			for _, p := range c.Positions {
				if got := tracker.Position(p.Source, p.PartitionKey); got != p.Sequence {
					t.Fatalf("position of %s %s: %d, want %d", p.Source, p.PartitionKey, got, p.Sequence)
				}
			}
		})
	}
}

func TestEventStreamTrackerFallsBackToSubject(t *testing.T) {
	tracker := cqc.NewEventStreamTracker(0)
	event := &eventsv1.Event{EventId: "x-1", Source: "//cqc/portfolio", Subject: "pos_01JDBNBTCVSDTPERP10NG00000", Sequence: 1}
	if d := tracker.Offer(event); d.Action != cqc.StreamApply {
		t.Fatalf("%v", d)
	}
	if tracker.Position("//cqc/portfolio", "pos_01JDBNBTCVSDTPERP10NG00000") != 1 ||
		len(tracker.Held("//cqc/portfolio", "pos_01JDBNBTCVSDTPERP10NG00000")) != 0 {
		t.Fatal("stream not keyed by the subject")
	}
}

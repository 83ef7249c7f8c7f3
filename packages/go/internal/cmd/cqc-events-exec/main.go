// Command cqc-events-exec is the Go executor of `nox -s events` (tools/events.py owns the cases and the
// report): a thin CLI over package cqcnats with the same commands, arguments and output as the Python
// executor tools/events_exec.py (read its docstring).
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/crypto-quant/cqc/packages/go"
	"github.com/crypto-quant/cqc/packages/go/cqcnats"
	eventsv1 "github.com/crypto-quant/cqc/packages/go/gen/cqc/events/v1"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cqc-events-exec:", err)
	os.Exit(1)
}

func connect(url string) (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(url)
	if err != nil {
		fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	return nc, js
}

func examples(dir string) []*eventsv1.Event {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		fail(err)
	}
	sort.Strings(paths)
	var found []*eventsv1.Event
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fail(err)
		}
		e := &eventsv1.Event{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, e); err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
		found = append(found, e)
	}
	return found
}

func must[T any](v T, err error) T {
	if err != nil {
		fail(err)
	}
	return v
}

func printJSON(v any) {
	data := must(json.Marshal(v))
	fmt.Println(string(data))
}

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: cqc-events-exec publish|replay|consume ..."))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	url := fs.String("url", "", "")
	lang := fs.String("lang", "go", "")
	from := fs.Int("from", 0, "")
	count := fs.Int("count", 0, "")
	contentType := fs.String("content-type", cqc.ContentTypeProtobuf, "")
	out := fs.String("out", "", "")
	in := fs.String("in", "", "")
	durable := fs.String("durable", "", "")
	state := fs.String("state", "", "")
	idle := fs.Float64("idle", 1, "")
	ackWait := fs.Float64("ack-wait", 1, "")
	dieAfter := fs.Int("die-after", -1, "")
	dir, _ := os.Getwd()
	examplesDir := fs.String("examples", filepath.Join(dir, "../../testdata/examples/cqc.events.v1.Event"), "")
	if err := fs.Parse(os.Args[2:]); err != nil {
		fail(err)
	}
	ctx := context.Background()
	nc, js := connect(*url)
	defer nc.Close()
	publisher := &cqcnats.Publisher{JS: js, ContentType: *contentType}
	switch os.Args[1] {
	case "publish":
		if err := cqcnats.EnsureStreams(ctx, js); err != nil {
			fail(err)
		}
		found := examples(*examplesDir)
		streams := make([]string, len(found))
		for i, e := range found {
			body := must(cqc.EventPayload(e))
			name := body.ProtoReflect().Descriptor().FullName()
			streams[i] = must(cqc.ProducerSource(name)) + "|" + must(cqc.PartitionKeyOf(body))
		}
		f := must(os.Create(*out))
		w := bufio.NewWriter(f)
		duplicates := 0
		for i := *from; i < *from+*count; i++ {
			example := found[i%len(found)]
			body := must(cqc.EventPayload(example))
			sequence := uint64(1)
			for j := 0; j < i; j++ {
				if streams[j%len(found)] == streams[i%len(found)] {
					sequence++
				}
			}
			var name protoreflect.FullName = body.ProtoReflect().Descriptor().FullName()
			event := must(cqc.NewEvent(body, cqc.EventOptions{
				Source: must(cqc.ProducerSource(name)) + "/exec-" + *lang, Subject: example.GetSubject(),
				OccurredAt: example.GetOccurredAt().AsTime(), Sequence: sequence, SourceVersion: "1.0.0",
			}))
			duplicate := must(publisher.Publish(ctx, event))
			if duplicate {
				duplicates++
			}
			line := must(json.Marshal(map[string]any{
				"id": event.GetEventId(), "source": event.GetSource(), "key": event.GetPartitionKey(),
				"seq": event.GetSequence(), "duplicate": duplicate,
				"data": base64.StdEncoding.EncodeToString(must(proto.Marshal(event))),
			}))
			_, _ = w.Write(append(line, '\n'))
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		_ = f.Close()
		printJSON(map[string]int{"published": *count, "duplicates": duplicates})
	case "replay":
		f := must(os.Open(*in))
		scanner := bufio.NewScanner(f)
		scanner.Buffer(make([]byte, 1<<20), 1<<24)
		n, duplicates := 0, 0
		for scanner.Scan() {
			var line struct{ Data string }
			if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
				fail(err)
			}
			event := &eventsv1.Event{}
			if err := proto.Unmarshal(must(base64.StdEncoding.DecodeString(line.Data)), event); err != nil {
				fail(err)
			}
			if must(publisher.Publish(ctx, event)) {
				duplicates++
			}
			n++
		}
		printJSON(map[string]int{"published": n, "duplicates": duplicates})
	case "consume":
		seen := 0
		var consumer *cqcnats.Consumer
		handler := func(event *eventsv1.Event) error {
			if *dieAfter >= 0 && seen == *dieAfter {
				os.Exit(137) // a crash: nothing saved, nothing acked
			}
			seen++
			applied, _ := consumer.Extra()["applied"].([]any)
			consumer.Extra()["applied"] = append(applied, []any{event.GetEventId(), event.GetSource(), event.GetPartitionKey(), event.GetSequence()})
			return nil
		}
		consumer = must(cqcnats.NewConsumer(js, *durable, "", time.Duration(*ackWait*float64(time.Second)),
			cqcnats.FileStateStore{Path: *state}, handler))
		// Until drained: nothing pending and nothing awaiting an ack (a killed run's deliveries come back
		// after ack-wait), bounded by 60 s.
		deadline := time.Now().Add(60 * time.Second)
		for {
			if err := consumer.Run(ctx, time.Duration(*idle*float64(time.Second))); err != nil {
				fail(err)
			}
			info := must(must(js.Consumer(ctx, cqcnats.EventsStream, *durable)).Info(ctx))
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Now().After(deadline) {
				fail(fmt.Errorf("not drained after 60 s: %d pending, %d awaiting ack", info.NumPending, info.NumAckPending))
			}
		}
		printJSON(map[string]any{"counts": consumer.Counts})
	case "bench":
		// Events/s published (with ack) and consumed (decode, validate, order, apply, ack) vs a bytes-only
		// payload of the same size, published and consumed with ack on the same broker.
		if err := cqcnats.EnsureStreams(ctx, js); err != nil {
			fail(err)
		}
		raw := "cqcbench." + *lang
		must(js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "CQC_BENCH_RAW_" + *lang, Subjects: []string{raw + ".>"}}))
		example := examples(*examplesDir)[0]
		body := must(cqc.EventPayload(example))
		source := must(cqc.ProducerSource(body.ProtoReflect().Descriptor().FullName())) + "/bench-" + *lang
		events := make([]*eventsv1.Event, *count)
		for i := range events {
			events[i] = must(cqc.NewEvent(body, cqc.EventOptions{Source: source, Subject: example.GetSubject(),
				OccurredAt: example.GetOccurredAt().AsTime(), Sequence: uint64(i + 1), SourceVersion: "1.0.0"}))
		}
		began := time.Now()
		for _, e := range events {
			must(publisher.Publish(ctx, e))
		}
		pub := float64(*count) / time.Since(began).Seconds()
		size := len(must(proto.Marshal(events[0])))
		consumer := must(cqcnats.NewConsumer(js, "bench-"+*lang, "cqc.events.v1.*."+events[0].GetPartitionKey(), 30*time.Second, nil,
			func(*eventsv1.Event) error { return nil }))
		began = time.Now()
		if err := consumer.Run(ctx, 300*time.Millisecond); err != nil {
			fail(err)
		}
		con := float64(consumer.Counts.Applied) / (time.Since(began).Seconds() - 0.3)
		payload := make([]byte, size)
		began = time.Now()
		for i := 0; i < *count; i++ {
			must(js.Publish(ctx, raw+".k", payload, jetstream.WithMsgID(fmt.Sprintf("raw-%d", i))))
		}
		rawPub := float64(*count) / time.Since(began).Seconds()
		cons := must(js.CreateOrUpdateConsumer(ctx, "CQC_BENCH_RAW_"+*lang, jetstream.ConsumerConfig{Durable: "raw-" + *lang, AckPolicy: jetstream.AckExplicitPolicy}))
		got := 0
		began = time.Now()
		for got < *count {
			batch := must(cons.Fetch(min(256, *count-got), jetstream.FetchMaxWait(5*time.Second)))
			for msg := range batch.Messages() {
				_ = msg.Ack()
				got++
			}
		}
		rawCon := float64(got) / time.Since(began).Seconds()
		printJSON(map[string]any{"size": size, "events_published_s": pub, "events_consumed_s": con,
			"raw_published_s": rawPub, "raw_consumed_s": rawCon, "applied": consumer.Counts.Applied})
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

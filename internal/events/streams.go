package events

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Registers the event messages in protoregistry.GlobalFiles, which
	// EnsureStreams reads.
	_ "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	optionsv1 "github.com/streamgate/streamgate/gen/go/streamgate/options/v1"
)

// eventsPackage is the protobuf package whose messages are events.
const eventsPackage protoreflect.FullName = "streamgate.events.v1"

// duplicateWindow is how long JetStream remembers a Nats-Msg-Id. A producer
// that republishes after a crash within it stores nothing new; later
// republishes reach consumers, which deduplicate on event_id.
const duplicateWindow = 2 * time.Minute

// streamMaxAge is how long each stream keeps events. MEDIA and ACCESS only
// need to outlive consumer outages; VIDEOS feeds rebuilds of read models;
// LOGS are for live tailing.
func streamMaxAge(stream string) time.Duration {
	const day = 24 * time.Hour
	switch stream {
	case "MEDIA", "ACCESS":
		return 7 * day
	case "VIDEOS":
		return 30 * day
	case "LOGS":
		return day
	default:
		return 7 * day
	}
}

// eventOptions returns the event option of a message descriptor, or nil.
func eventOptions(md protoreflect.MessageDescriptor) *optionsv1.EventOptions {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, optionsv1.E_Event) {
		return nil
	}
	eo, _ := proto.GetExtension(opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	if eo.GetSubject() == "" || eo.GetStream() == "" {
		return nil
	}
	return eo
}

// route returns the subject and stream of an event message.
func route(md protoreflect.MessageDescriptor) (subject, stream string, err error) {
	eo := eventOptions(md)
	if eo == nil {
		return "", "", fmt.Errorf("%w: %s has no (streamgate.options.v1.event) option with subject and stream", ErrInvalidEvent, md.FullName())
	}
	return eo.GetSubject(), eo.GetStream(), nil
}

// Subject returns the NATS subject msg is published on, from its event
// option.
func Subject(msg proto.Message) (string, error) {
	subject, _, err := route(msg.ProtoReflect().Descriptor())
	return subject, err
}

// StreamConfigs returns the JetStream streams the event contracts call for,
// sorted by name: one per stream option value, capturing exactly the subjects
// of the messages that name it. It fails if two messages share a subject,
// since a consumer could then not tell which type to decode.
func StreamConfigs() ([]jetstream.StreamConfig, error) {
	subjects := map[string][]string{} // stream -> subjects
	owner := map[string]protoreflect.FullName{}
	var rangeErr error
	visit := func(md protoreflect.MessageDescriptor) {
		eo := eventOptions(md)
		if eo == nil {
			return
		}
		subject := eo.GetSubject()
		if strings.ContainsAny(subject, "*> \t") {
			rangeErr = fmt.Errorf("events: %s: subject %q must be literal", md.FullName(), subject)
			return
		}
		if prev, ok := owner[subject]; ok {
			rangeErr = fmt.Errorf("events: subject %q is claimed by both %s and %s", subject, prev, md.FullName())
			return
		}
		owner[subject] = md.FullName()
		subjects[eo.GetStream()] = append(subjects[eo.GetStream()], subject)
	}
	protoregistry.GlobalFiles.RangeFilesByPackage(eventsPackage, func(fd protoreflect.FileDescriptor) bool {
		walkMessages(fd.Messages(), visit)
		return rangeErr == nil
	})
	if rangeErr != nil {
		return nil, rangeErr
	}
	if len(subjects) == 0 {
		return nil, fmt.Errorf("events: no event messages registered in package %s", eventsPackage)
	}

	names := make([]string, 0, len(subjects))
	for name := range subjects {
		names = append(names, name)
	}
	slices.Sort(names)
	cfgs := make([]jetstream.StreamConfig, 0, len(names))
	for _, name := range names {
		subs := subjects[name]
		slices.Sort(subs)
		cfgs = append(cfgs, jetstream.StreamConfig{
			Name:        name,
			Description: "StreamGate events, from the " + string(eventsPackage) + " contracts",
			Subjects:    subs,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      streamMaxAge(name),
			Duplicates:  duplicateWindow,
		})
	}
	return cfgs, nil
}

func walkMessages(mds protoreflect.MessageDescriptors, visit func(protoreflect.MessageDescriptor)) {
	for i := range mds.Len() {
		md := mds.Get(i)
		visit(md)
		walkMessages(md.Messages(), visit)
	}
}

// EnsureStreams creates the event streams that are missing (see
// StreamConfigs) with the Bus's replica count, and adds to existing ones the
// subjects of events that are new since; everything else an existing stream
// has, such as an operator's replica count or limits, is left as it is (see
// EnsureStream). It is idempotent, so every process may call it at start.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	cfgs, err := StreamConfigs()
	if err != nil {
		return err
	}
	for _, cfg := range cfgs {
		if _, err := b.EnsureStream(ctx, cfg); err != nil {
			return err
		}
	}
	return nil
}

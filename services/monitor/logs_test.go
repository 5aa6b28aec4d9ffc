package monitor

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func logRec(i int, service string, level eventsv1.LogLevel, msg string) *eventsv1.LogRecord {
	return &eventsv1.LogRecord{
		EventId:   fmt.Sprint(i),
		OccurTime: timestamppb.New(t0.Add(time.Duration(i) * time.Second)),
		Service:   service,
		Level:     level,
		Message:   msg,
		TraceId:   fmt.Sprintf("%032x", i),
		Attributes: map[string]string{
			"video_id": fmt.Sprintf("vid-%d", i),
		},
	}
}

func ids(recs []*eventsv1.LogRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.GetEventId())
	}
	return out
}

func TestLogRingQuery(t *testing.T) {
	r := NewLogRing(5)
	if p, err := r.Query(LogQuery{}); err != nil || len(p.Records) != 0 || !p.RingStart.IsZero() {
		t.Fatalf("empty ring: %v %v", p, err)
	}
	levels := []eventsv1.LogLevel{eventsv1.LogLevel_LOG_LEVEL_INFO, eventsv1.LogLevel_LOG_LEVEL_WARN, eventsv1.LogLevel_LOG_LEVEL_ERROR}
	for i := 1; i <= 7; i++ { // 1 and 2 are evicted
		svc := "upload"
		if i%2 == 0 {
			svc = "gateway"
		}
		r.Add(logRec(i, svc, levels[i%3], fmt.Sprintf("Message number %d", i)))
	}
	tests := []struct {
		name string
		q    LogQuery
		want string
	}{
		{"all newest first", LogQuery{}, "[7 6 5 4 3]"},
		{"service", LogQuery{Service: "gateway"}, "[6 4]"},
		{"min level warn", LogQuery{MinLevel: eventsv1.LogLevel_LOG_LEVEL_WARN}, "[7 5 4]"},
		{"since", LogQuery{Since: t0.Add(5 * time.Second)}, "[7 6 5]"},
		{"text in message, any case", LogQuery{Text: "NUMBER 4"}, "[4]"},
		{"text in attribute", LogQuery{Text: "vid-3"}, "[3]"},
		{"trace id", LogQuery{TraceID: fmt.Sprintf("%032X", 6)}, "[6]"},
		{"evicted trace id", LogQuery{TraceID: fmt.Sprintf("%032x", 1)}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.Query(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(ids(p.Records)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if !p.RingStart.Equal(t0.Add(3 * time.Second)) {
				t.Errorf("ring start %v, want record 3's time", p.RingStart)
			}
		})
	}
}

func TestLogRingPaging(t *testing.T) {
	r := NewLogRing(100)
	for i := 1; i <= 10; i++ {
		r.Add(logRec(i, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m"))
	}
	var got []string
	q := LogQuery{PageSize: 3}
	for range 10 {
		p, err := r.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p.Records)...)
		if p.NextPageToken == "" {
			break
		}
		q.PageToken = p.NextPageToken
		r.Add(logRec(100, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "newer")) // must not shift pages
	}
	if fmt.Sprint(got) != "[10 9 8 7 6 5 4 3 2 1]" {
		t.Errorf("paged %v", got)
	}
}

func TestLogRingDropsRedeliveries(t *testing.T) {
	r := NewLogRing(2)
	r.Add(logRec(1, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m"))
	r.Add(logRec(1, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m"))
	r.Add(logRec(2, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m"))
	r.Add(logRec(3, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m")) // evicts 1
	r.Add(logRec(1, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m")) // no longer held: stored again
	p, err := r.Query(LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(p.Records)); got != "[1 3]" {
		t.Errorf("got %s, want [1 3]", got)
	}
}

func TestLogRingBadInput(t *testing.T) {
	r := NewLogRing(10)
	r.Add(logRec(1, "upload", eventsv1.LogLevel_LOG_LEVEL_WARN, "m"))
	for _, q := range []LogQuery{
		{PageSize: -1},
		{PageToken: "garbage"},
		{PageToken: "l999"},
		{PageToken: "l0"},
		{MinLevel: 99},
	} {
		if _, err := r.Query(q); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Query(%+v) = %v, want ErrInvalidArgument", q, err)
		}
	}
}

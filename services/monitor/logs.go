package monitor

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
)

// DefaultLogRingSize is the log ring's capacity when Config.LogRingSize is 0.
const DefaultLogRingSize = 10000

// defaultLogsLookback is Config.LogsLookback's default.
const defaultLogsLookback = time.Hour

// Page sizes of GetLogs.
const (
	defaultLogPageSize = 100
	maxLogPageSize     = 1000
)

// ErrInvalidArgument marks bad request input.
var ErrInvalidArgument = errors.New("invalid argument")

// LogRing keeps the most recent log records, oldest overwritten first. Each
// record gets an arrival sequence number, which the page tokens carry.
type LogRing struct {
	mu   sync.RWMutex
	recs []*eventsv1.LogRecord
	next uint64              // sequence number of the next record added; the first is 1
	ids  map[string]struct{} // event ids held, to drop redeliveries
}

// NewLogRing returns a ring holding up to size records.
func NewLogRing(size int) *LogRing {
	if size <= 0 {
		size = DefaultLogRingSize
	}
	return &LogRing{recs: make([]*eventsv1.LogRecord, size), next: 1, ids: make(map[string]struct{}, size)}
}

// Add stores rec, evicting the oldest record when the ring is full. A record
// whose event_id is already held (a redelivery) is ignored. The ring keeps
// rec: callers must not modify it afterwards.
func (r *LogRing) Add(rec *eventsv1.LogRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := rec.GetEventId()
	if id != "" {
		if _, dup := r.ids[id]; dup {
			return
		}
		r.ids[id] = struct{}{}
	}
	slot := r.next % uint64(len(r.recs))
	if old := r.recs[slot]; old != nil && old.GetEventId() != "" {
		delete(r.ids, old.GetEventId())
	}
	r.recs[slot] = rec
	r.next++
}

// LogQuery filters GetLogs. Zero fields match everything.
type LogQuery struct {
	Service  string
	MinLevel eventsv1.LogLevel
	Since    time.Time
	// Text is matched case-insensitively against the message and the
	// attribute values.
	Text    string
	TraceID string
	// PageSize: 0 means 100; at most 1000.
	PageSize  int
	PageToken string
}

// LogPage is one page of GetLogs, newest record first.
type LogPage struct {
	Records       []*eventsv1.LogRecord
	NextPageToken string
	// RingStart is when the oldest record still held was logged; zero when
	// the ring is empty.
	RingStart time.Time
}

// Query returns the records matching q, newest first.
func (r *LogRing) Query(q LogQuery) (LogPage, error) {
	switch {
	case q.PageSize < 0:
		return LogPage{}, errors.Join(ErrInvalidArgument, errors.New("page_size must not be negative"))
	case q.PageSize == 0:
		q.PageSize = defaultLogPageSize
	case q.PageSize > maxLogPageSize:
		q.PageSize = maxLogPageSize
	}
	if q.MinLevel < 0 || q.MinLevel > eventsv1.LogLevel_LOG_LEVEL_ERROR {
		return LogPage{}, errors.Join(ErrInvalidArgument, errors.New("unknown min_level"))
	}
	text := strings.ToLower(q.Text)

	r.mu.RLock()
	defer r.mu.RUnlock()
	size := uint64(len(r.recs))
	oldest := uint64(1)
	if r.next > size {
		oldest = r.next - size
	}
	start := r.next // exclusive upper bound of the sequence numbers to scan
	if q.PageToken != "" {
		seq, err := strconv.ParseUint(strings.TrimPrefix(q.PageToken, "l"), 10, 64)
		if err != nil || !strings.HasPrefix(q.PageToken, "l") || seq == 0 || seq > r.next {
			return LogPage{}, errors.Join(ErrInvalidArgument, errors.New("malformed page_token"))
		}
		start = seq
	}
	var page LogPage
	if r.next > oldest {
		if first := r.recs[oldest%size]; first != nil {
			page.RingStart = first.GetOccurTime().AsTime()
		}
	}
	for seq := start; seq > oldest; seq-- {
		rec := r.recs[(seq-1)%size]
		if !matchLog(rec, q, text) {
			continue
		}
		if len(page.Records) == q.PageSize {
			page.NextPageToken = "l" + strconv.FormatUint(seq, 10)
			break
		}
		page.Records = append(page.Records, proto.CloneOf(rec))
	}
	return page, nil
}

func matchLog(rec *eventsv1.LogRecord, q LogQuery, lowerText string) bool {
	if rec == nil {
		return false
	}
	if q.Service != "" && rec.GetService() != q.Service {
		return false
	}
	if q.MinLevel != eventsv1.LogLevel_LOG_LEVEL_UNSPECIFIED && rec.GetLevel() < q.MinLevel {
		return false
	}
	if !q.Since.IsZero() && rec.GetOccurTime().AsTime().Before(q.Since) {
		return false
	}
	if q.TraceID != "" && !strings.EqualFold(rec.GetTraceId(), q.TraceID) {
		return false
	}
	if lowerText == "" {
		return true
	}
	if strings.Contains(strings.ToLower(rec.GetMessage()), lowerText) {
		return true
	}
	for _, v := range rec.GetAttributes() {
		if strings.Contains(strings.ToLower(v), lowerText) {
			return true
		}
	}
	return false
}

package transcoder

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/blob"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/transcode"
)

// visible reports whether caller may see j: only the video's creator.
func visible(caller identity.Caller, j *Job) bool {
	return caller.Address != "" && strings.EqualFold(caller.Address, j.CreatorAddress)
}

func checkJobID(id string) error {
	if id == "" || len(id) > 64 || !strings.HasPrefix(id, "job_") {
		return invalid("job_id %q is not a job id", id)
	}
	return nil
}

// GetJob returns a job of one of caller's videos.
func (s *Service) GetJob(ctx context.Context, caller identity.Caller, id string) (*Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, err
	}
	j, _, err := st.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(caller, j) {
		return nil, ErrNotFound
	}
	return st.withQueuePosition(ctx, j), nil
}

// CancelJob cancels a QUEUED or RUNNING job of one of caller's videos.
func (s *Service) CancelJob(ctx context.Context, caller identity.Caller, id string) (*Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, err
	}
	var changed bool
	j, err := st.update(ctx, id, func(j *Job) error {
		changed = false
		switch {
		case !visible(caller, j):
			return ErrNotFound
		case j.State == StateCanceled:
			return errNoChange
		case j.State.Terminal():
			return precondition("the job already ended (%s)", stateName(j.State))
		}
		j.State, j.FinishTime, j.ETA, changed = StateCanceled, time.Now().UTC(), 0, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if changed {
		// A running worker sees the change, kills FFmpeg and deletes what
		// it wrote; this covers a job no worker holds.
		if err := s.tc.Clean(ctx, j.VideoID); err != nil {
			s.logger.Warn("transcoder: clean canceled output", "job_id", id, "err", err)
		}
		j.FailureReason = "transcoding canceled"
		s.finished(ctx, st, j, nil)
		j.FailureReason = ""
	}
	return j, nil
}

// ListParams filter and page ListJobs.
type ListParams struct {
	PageSize  int
	PageToken string
	VideoID   string
	State     State
}

type pageToken struct {
	Filter string `json:"f"`
	After  string `json:"a"`
}

// ListJobs pages through jobs of caller's videos, newest first.
func (s *Service) ListJobs(ctx context.Context, caller identity.Caller, p ListParams) ([]*Job, string, error) {
	if p.PageSize < 0 || p.PageSize > 100 {
		return nil, "", invalid("page_size %d is outside 0 to 100", p.PageSize)
	}
	if p.PageSize == 0 {
		p.PageSize = 20
	}
	filter := fmt.Sprintf("%s|%d", p.VideoID, p.State)
	var after string
	if p.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.PageToken)
		var tok pageToken
		if err != nil || json.Unmarshal(b, &tok) != nil || tok.After == "" {
			return nil, "", invalid("page_token is malformed")
		}
		if tok.Filter != filter {
			return nil, "", invalid("page_token was issued for different filters")
		}
		after = tok.After
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, "", err
	}
	all, err := st.all(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var jobs []*Job
	for _, j := range all {
		if visible(caller, j) && (p.VideoID == "" || j.VideoID == p.VideoID) && (p.State == 0 || j.State == p.State) {
			jobs = append(jobs, j)
		}
	}
	// Ids are ULIDs: by id descending is newest first, ties broken by id.
	slices.SortFunc(jobs, func(a, b *Job) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if after != "" {
		i := slices.IndexFunc(jobs, func(j *Job) bool { return j.ID < after })
		if i < 0 {
			jobs = nil
		} else {
			jobs = jobs[i:]
		}
	}
	var next string
	if len(jobs) > p.PageSize {
		jobs = jobs[:p.PageSize]
		b, _ := json.Marshal(pageToken{Filter: filter, After: jobs[len(jobs)-1].ID})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	for _, j := range jobs {
		st.withQueuePosition(ctx, j)
	}
	return jobs, next, nil
}

func stateName(s State) string {
	return strings.TrimPrefix(transcoderv1.TranscodeJobState(s).String(), "TRANSCODE_JOB_STATE_")
}

// Watch limits from the contract.
const (
	maxPendingSegments = 256
	maxSegmentData     = 4 << 20
)

// ErrTooSlow ends a watch whose client lets more than 256 segment events
// pile up.
var ErrTooSlow = errors.New("too many segment events pending: reconnect")

// WatchJob sends the job's snapshot, then its changes and segment events,
// until a terminal snapshot or ctx is done.
func (s *Service) WatchJob(ctx context.Context, caller identity.Caller, id string, includeData bool, resume map[string]uint32, send func(*transcoderv1.WatchJobResponse) error) error {
	if err := checkJobID(id); err != nil {
		return err
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return err
	}
	j, _, err := st.get(ctx, id)
	if err != nil {
		return err
	}
	if !visible(caller, j) {
		return ErrNotFound
	}
	if len(resume) > maxResumeRenditions {
		return fmt.Errorf("%w: resume_after_sequences names %d renditions, at most %d", ErrInvalid, len(resume), maxResumeRenditions)
	}
	// sent remembers what replay delivered, so the live events that race
	// with it are not sent twice.
	sent := newSentSegments()
	if j.State.Terminal() {
		snapshot := &transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: jobToProto(j)}}
		if err := send(snapshot); err != nil || len(resume) == 0 {
			return err
		}
		if err := s.replay(ctx, j.VideoID, resume, includeData, sent, send); err != nil {
			return err
		}
		return send(snapshot)
	}

	// Segments first, so none falls between the snapshot and the watch.
	var mu sync.Mutex
	var pending []*transcoderv1.SegmentEvent
	overflow := false
	signal := make(chan struct{}, 1)
	sub, err := s.bus.JetStream().Conn().Subscribe(watchPrefix+id, func(m *nats.Msg) {
		var ev transcoderv1.SegmentEvent
		if proto.Unmarshal(m.Data, &ev) != nil {
			return
		}
		mu.Lock()
		if len(pending) >= maxPendingSegments {
			overflow = true
		} else {
			pending = append(pending, &ev)
		}
		mu.Unlock()
		select {
		case signal <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	w, err := st.kv.Watch(ctx, jobKey(id))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = w.Stop() }()

	sendSegments := func() error {
		mu.Lock()
		evs, over := pending, overflow
		pending = nil
		mu.Unlock()
		if over {
			return ErrTooSlow
		}
		for _, ev := range evs {
			if !sent.first(ev) {
				continue // already replayed
			}
			if includeData && ev.GetSizeBytes() <= maxSegmentData {
				ev.Data = s.readSegment(ctx, j.VideoID, ev.GetPath())
			}
			if err := send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Segment{Segment: ev}}); err != nil {
				return err
			}
		}
		return nil
	}
	// The current snapshot always comes first.
	var last []byte
	lastPos := -1
	select {
	case <-ctx.Done():
		return ctx.Err()
	case e, ok := <-w.Updates():
		if !ok || e == nil {
			return ErrNotFound
		}
		last = e.Value()
		var cur Job
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return fmt.Errorf("transcoder: decode job %s: %w", id, err)
		}
		if err := send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: jobToProto(st.withQueuePosition(ctx, &cur))}}); err != nil {
			return err
		}
		if cur.State.Terminal() {
			return nil
		}
		lastPos = cur.QueuePosition
	}
	if err := s.replay(ctx, j.VideoID, resume, includeData, sent, send); err != nil {
		return err
	}
	// While QUEUED, the position moves as jobs ahead leave the queue,
	// which writes nothing to this job: look again now and then.
	requeue := time.NewTicker(time.Second)
	defer requeue.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-requeue.C:
			var cur Job
			if json.Unmarshal(last, &cur) != nil || cur.State != StateQueued {
				continue
			}
			st.withQueuePosition(ctx, &cur)
			if cur.QueuePosition == lastPos {
				continue
			}
			lastPos = cur.QueuePosition
			if err := send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: jobToProto(&cur)}}); err != nil {
				return err
			}
		case <-signal:
			if err := sendSegments(); err != nil {
				return err
			}
		case e, ok := <-w.Updates():
			if !ok {
				return ErrUnavailable
			}
			if e == nil { // end of the initial values
				continue
			}
			// Coalesce: only the latest of the pending snapshots is sent.
			for more := true; more; {
				select {
				case n, ok := <-w.Updates():
					if ok && n != nil {
						e = n
					}
					more = ok
				default:
					more = false
				}
			}
			if e.Operation() != jetstream.KeyValuePut || string(e.Value()) == string(last) {
				continue
			}
			last = e.Value()
			var cur Job
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				continue
			}
			if cur.State.Terminal() {
				if err := sendSegments(); err != nil {
					return err
				}
			}
			if err := send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: jobToProto(st.withQueuePosition(ctx, &cur))}}); err != nil {
				return err
			}
			if cur.State.Terminal() {
				return nil
			}
		}
	}
}

// maxResumeRenditions bounds WatchJobRequest.resume_after_sequences.
const maxResumeRenditions = 32

// sentSegments tracks, per rendition, whether the init segment and up to
// which media sequence a watcher has been sent.
type sentSegments struct {
	init  map[string]bool
	media map[string]uint32
}

func newSentSegments() *sentSegments {
	return &sentSegments{init: map[string]bool{}, media: map[string]uint32{}}
}

// first records ev and reports whether it had not been sent before.
func (t *sentSegments) first(ev *transcoderv1.SegmentEvent) bool {
	r := ev.GetRenditionName()
	if ev.GetKind() == transcoderv1.SegmentKind_SEGMENT_KIND_INIT {
		if t.init[r] {
			return false
		}
		t.init[r] = true
		return true
	}
	if ev.GetSequenceNumber() <= t.media[r] {
		return false
	}
	t.media[r] = ev.GetSequenceNumber()
	return true
}

// replay sends the segments published after the client's last sequence per
// rendition, read from the published media playlists: a playlist lists a
// segment only once it is in the blob store, so everything replayed exists.
func (s *Service) replay(ctx context.Context, videoID string, resume map[string]uint32, includeData bool, sent *sentSegments, send func(*transcoderv1.WatchJobResponse) error) error {
	names := make([]string, 0, len(resume))
	for name := range resume {
		names = append(names, name)
	}
	slices.Sort(names)
	prefix := s.tc.VideoPrefix(videoID)
	for _, name := range names {
		after := resume[name]
		sent.media[name] = max(sent.media[name], after)
		if after > 0 {
			sent.init[name] = true
		}
		r, err := s.blobs.Get(ctx, prefix+name+"/playlist.m3u8")
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
			continue // nothing published yet, or not a rendition of this job
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		_ = r.Close()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		initName, entries, _ := transcode.ParsePublishedPlaylist(b)
		var evs []*transcoderv1.SegmentEvent
		if after == 0 && initName != "" {
			evs = append(evs, &transcoderv1.SegmentEvent{RenditionName: name, Kind: transcoderv1.SegmentKind_SEGMENT_KIND_INIT, Path: name + "/" + initName})
		}
		for _, e := range entries {
			if e.Sequence > after {
				evs = append(evs, &transcoderv1.SegmentEvent{RenditionName: name, Kind: transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA,
					SequenceNumber: e.Sequence, Path: name + "/" + e.Name, Duration: durationpb.New(e.Duration)})
			}
		}
		for _, ev := range evs {
			info, err := s.blobs.Stat(ctx, prefix+ev.GetPath())
			if err != nil {
				return fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			ev.SizeBytes = uint64(info.Size)
			if !sent.first(ev) {
				continue
			}
			if includeData && ev.GetSizeBytes() <= maxSegmentData {
				ev.Data = s.readSegment(ctx, videoID, ev.GetPath())
			}
			if err := send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Segment{Segment: ev}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) readSegment(ctx context.Context, videoID, path string) []byte {
	r, err := s.blobs.Get(ctx, s.tc.VideoPrefix(videoID)+path)
	if err != nil {
		return nil
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxSegmentData+1))
	if err != nil || len(b) > maxSegmentData {
		return nil
	}
	return b
}

// PoolStats are the workers of every instance that answered and the queue.
type PoolStats struct {
	Instances    []InstanceStats
	QueueDepth   int
	OldestQueued time.Duration
}

// serveStats answers pool-stats requests from any instance.
func (s *Service) serveStats() (stop func(), err error) {
	sub, err := s.bus.JetStream().Conn().Subscribe(statsSubj, func(m *nats.Msg) {
		b, err := json.Marshal(s.localStats())
		if err == nil {
			_ = m.Respond(b)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("transcoder: serve stats: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// GetPoolStats gathers the stats of every instance that answers within a
// second, and the queue from the job bucket.
func (s *Service) GetPoolStats(ctx context.Context, caller identity.Caller) (*PoolStats, error) {
	if !caller.Operator {
		return nil, ErrPermission
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, err
	}
	nc := s.bus.JetStream().Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(statsSubj, inbox, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	out := &PoolStats{}
	deadline := time.Now().Add(time.Second)
	wait := time.Second
	for {
		m, err := sub.NextMsg(min(wait, time.Until(deadline)))
		if err != nil {
			break
		}
		var is InstanceStats
		if json.Unmarshal(m.Data, &is) == nil {
			out.Instances = append(out.Instances, is)
		}
		wait = 200 * time.Millisecond // the others answer about as fast
	}
	slices.SortFunc(out.Instances, func(a, b InstanceStats) int { return strings.Compare(a.InstanceID, b.InstanceID) })
	jobs, err := st.all(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for _, j := range jobs {
		if j.State == StateQueued {
			out.QueueDepth++
			out.OldestQueued = max(out.OldestQueued, time.Since(j.CreateTime))
		}
	}
	return out, nil
}

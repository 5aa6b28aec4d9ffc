package transcoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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

// Watch limits from the contract.
const (
	maxPendingSegments = 256
	maxSegmentData     = 4 << 20
)

// maxResumeRenditions bounds WatchJobRequest.resume_after_sequences.
const maxResumeRenditions = 32

// ErrTooSlow ends a watch whose client lets more than 256 segment events
// pile up.
var ErrTooSlow = errors.New("too many segment events pending: reconnect")

// WatchJob sends the job's snapshot, then its changes and segment events,
// until a terminal snapshot or ctx is done.
func (s *Service) WatchJob(ctx context.Context, caller identity.Caller, id string, includeData bool, resume map[string]uint32, send func(*transcoderv1.WatchJobResponse) error) error {
	w, err := s.openWatch(ctx, caller, id, includeData, resume, send)
	if err != nil {
		return err
	}
	if w.job.State.Terminal() {
		return w.replayEnded(ctx)
	}
	return w.follow(ctx)
}

// jobWatch is the state of one WatchJob stream.
type jobWatch struct {
	s           *Service
	st          *store
	id          string
	job         *Job // as read when the watch began
	includeData bool
	resume      map[string]uint32
	send        func(*transcoderv1.WatchJobResponse) error
	// sent remembers what replay delivered, so the live events that race
	// with it are not sent twice.
	sent *sentSegments

	// last is the latest job record seen on the watch and lastPos the
	// queue position last sent: a snapshot goes out only when one of them
	// changes.
	last    []byte
	lastPos int
}

// openWatch checks the request and loads the job. It runs before anything
// is sent, so that a malformed id, another wallet's job or too many resume
// renditions end the call with an error and no message.
func (s *Service) openWatch(ctx context.Context, caller identity.Caller, id string, includeData bool, resume map[string]uint32, send func(*transcoderv1.WatchJobResponse) error) (*jobWatch, error) {
	st, j, err := s.visibleJob(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if len(resume) > maxResumeRenditions {
		return nil, fmt.Errorf("%w: resume_after_sequences names %d renditions, at most %d", ErrInvalid, len(resume), maxResumeRenditions)
	}
	return &jobWatch{s: s, st: st, id: id, job: j, includeData: includeData, resume: resume, send: send,
		sent: newSentSegments(), lastPos: -1}, nil
}

// replayEnded answers a watch of a job that has already ended: nothing
// will change, so the snapshot alone, or, for a client resuming, the
// snapshot, the segments it missed and the snapshot again to mark the end.
func (w *jobWatch) replayEnded(ctx context.Context) error {
	snapshot := jobResponse(w.job)
	if err := w.send(snapshot); err != nil || len(w.resume) == 0 {
		return err
	}
	if err := w.replay(ctx); err != nil {
		return err
	}
	return w.send(snapshot)
}

// follow streams a job that has not ended: its current snapshot, the
// segments published before the watch, then its changes and new segments
// as they happen, until a terminal snapshot.
func (w *jobWatch) follow(ctx context.Context) error {
	// Segments first, so none falls between the snapshot and the watch.
	segs := newSegmentBuffer()
	sub, err := w.s.bus.JetStream().Conn().Subscribe(watchPrefix+w.id, segs.add)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	kw, err := w.st.kv.Watch(ctx, jobKey(w.id))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer func() { _ = kw.Stop() }()

	if ended, err := w.firstSnapshot(ctx, kw); ended || err != nil {
		return err
	}
	if err := w.replay(ctx); err != nil {
		return err
	}
	return w.live(ctx, kw, segs)
}

// firstSnapshot sends the job as the watch first sees it: the current
// snapshot always comes first. ended reports that the stream is over,
// because the job has ended (err nil) or because of err.
func (w *jobWatch) firstSnapshot(ctx context.Context, kw jetstream.KeyWatcher) (ended bool, err error) {
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case e, ok := <-kw.Updates():
		if !ok || e == nil {
			return true, ErrNotFound
		}
		w.last = e.Value()
		var cur Job
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return true, fmt.Errorf("transcoder: decode job %s: %w", w.id, err)
		}
		if err := w.send(jobResponse(w.st.withQueuePosition(ctx, &cur))); err != nil {
			return true, err
		}
		if cur.State.Terminal() {
			return true, nil
		}
		w.lastPos = cur.QueuePosition
		return false, nil
	}
}

// replay sends the segments published after the client's last sequence per
// rendition, read from the published media playlists: a playlist lists a
// segment only once it is in the blob store, so everything replayed exists.
func (w *jobWatch) replay(ctx context.Context) error {
	names := make([]string, 0, len(w.resume))
	for name := range w.resume {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := w.replayRendition(ctx, name, w.resume[name]); err != nil {
			return err
		}
	}
	return nil
}

// replayRendition sends rendition name's segments after sequence after
// (its init segment too when after is 0), and records the client's resume
// point so that live events up to it are not sent either.
func (w *jobWatch) replayRendition(ctx context.Context, name string, after uint32) error {
	w.sent.media[name] = max(w.sent.media[name], after)
	prefix := w.s.tc.VideoPrefix(w.job.VideoID)
	r, err := w.s.blobs.Get(ctx, prefix+name+"/playlist.m3u8")
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return nil // nothing published yet, or not a rendition of this job
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	_ = r.Close()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	inits, entries, _ := transcode.ParsePublishedPlaylist(b)
	var evs []*transcoderv1.SegmentEvent
	// A client resuming after a segment has the init segment it needed;
	// another one (the full key's, past a preview) comes before the first
	// segment it applies to.
	addInits := func(seq uint32) {
		for _, in := range inits {
			path := name + "/" + in.Name
			if in.From <= after {
				w.sent.init[path] = true
			} else if in.From == seq && !w.sent.init[path] {
				evs = append(evs, &transcoderv1.SegmentEvent{RenditionName: name, Kind: transcoderv1.SegmentKind_SEGMENT_KIND_INIT, Path: path})
			}
		}
	}
	if after == 0 {
		addInits(1)
	} else {
		addInits(0) // marks those the client has
	}
	for _, e := range entries {
		if e.Sequence > 1 && e.Sequence > after {
			addInits(e.Sequence)
		}
		if e.Sequence > after {
			evs = append(evs, &transcoderv1.SegmentEvent{RenditionName: name, Kind: transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA,
				SequenceNumber: e.Sequence, Path: name + "/" + e.Name, Duration: durationpb.New(e.Duration)})
		}
	}
	for _, ev := range evs {
		info, err := w.s.blobs.Stat(ctx, prefix+ev.GetPath())
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		ev.SizeBytes = uint64(info.Size)
		if err := w.sendSegment(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// live relays the job's changes and its new segments until a terminal
// snapshot, ctx is done, or the client falls too far behind.
func (w *jobWatch) live(ctx context.Context, kw jetstream.KeyWatcher, segs *segmentBuffer) error {
	// While QUEUED, the position moves as jobs ahead leave the queue,
	// which writes nothing to this job: look again now and then.
	requeue := time.NewTicker(time.Second)
	defer requeue.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-requeue.C:
			if err := w.queuePosition(ctx); err != nil {
				return err
			}
		case <-segs.signal:
			if err := w.sendSegments(ctx, segs); err != nil {
				return err
			}
		case e, ok := <-kw.Updates():
			if !ok {
				return ErrUnavailable
			}
			if e == nil { // end of the initial values
				continue
			}
			if ended, err := w.changed(ctx, kw, segs, e); ended || err != nil {
				return err
			}
		}
	}
}

// queuePosition sends a snapshot of a QUEUED job whose position moved
// since the last one sent: leaving the queue does not touch the jobs
// behind, so no update would tell.
func (w *jobWatch) queuePosition(ctx context.Context) error {
	var cur Job
	if json.Unmarshal(w.last, &cur) != nil || cur.State != StateQueued {
		return nil
	}
	w.st.withQueuePosition(ctx, &cur)
	if cur.QueuePosition == w.lastPos {
		return nil
	}
	w.lastPos = cur.QueuePosition
	return w.send(jobResponse(&cur))
}

// changed sends the snapshot of a job update e, or of the latest of the
// updates already waiting behind it (a slow client needs only the newest).
// Before a terminal snapshot it sends the segments still pending, so that
// the terminal snapshot is the last message. ended reports that the stream
// is over, because the job has ended (err nil) or because of err.
func (w *jobWatch) changed(ctx context.Context, kw jetstream.KeyWatcher, segs *segmentBuffer, e jetstream.KeyValueEntry) (ended bool, err error) {
	// Coalesce: only the latest of the pending snapshots is sent.
	for more := true; more; {
		select {
		case n, ok := <-kw.Updates():
			if ok && n != nil {
				e = n
			}
			more = ok
		default:
			more = false
		}
	}
	if e.Operation() != jetstream.KeyValuePut || string(e.Value()) == string(w.last) {
		return false, nil
	}
	w.last = e.Value()
	var cur Job
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return false, nil
	}
	if cur.State.Terminal() {
		if err := w.sendSegments(ctx, segs); err != nil {
			return true, err
		}
	}
	if err := w.send(jobResponse(w.st.withQueuePosition(ctx, &cur))); err != nil {
		return true, err
	}
	return cur.State.Terminal(), nil
}

// sendSegments sends the live segment events received since the last
// call, or fails with ErrTooSlow if the client let too many pile up.
func (w *jobWatch) sendSegments(ctx context.Context, segs *segmentBuffer) error {
	evs, overflow := segs.take()
	if overflow {
		return ErrTooSlow
	}
	for _, ev := range evs {
		if err := w.sendSegment(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// sendSegment sends ev, with its bytes when the client asked for them and
// they fit, unless the client already has it (from replay or live).
func (w *jobWatch) sendSegment(ctx context.Context, ev *transcoderv1.SegmentEvent) error {
	if !w.sent.first(ev) {
		return nil // already sent
	}
	if w.includeData && ev.GetSizeBytes() <= maxSegmentData {
		ev.Data = w.s.readSegment(ctx, w.job.VideoID, ev.GetPath())
	}
	return w.send(&transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Segment{Segment: ev}})
}

func jobResponse(j *Job) *transcoderv1.WatchJobResponse {
	return &transcoderv1.WatchJobResponse{Event: &transcoderv1.WatchJobResponse_Job{Job: jobToProto(j)}}
}

// readSegment returns the bytes of a published segment, or nil when it
// cannot be read or is larger than maxSegmentData.
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

// segmentBuffer holds the live segment events of a watched job between
// their arrival on the NATS subscription and their sending to the client.
type segmentBuffer struct {
	mu       sync.Mutex
	pending  []*transcoderv1.SegmentEvent
	overflow bool
	// signal has a value when events may be pending.
	signal chan struct{}
}

func newSegmentBuffer() *segmentBuffer {
	return &segmentBuffer{signal: make(chan struct{}, 1)}
}

// add is the subscription's handler: it queues the event m carries, or
// marks the buffer overflowed when maxPendingSegments are already waiting.
func (b *segmentBuffer) add(m *nats.Msg) {
	var ev transcoderv1.SegmentEvent
	if proto.Unmarshal(m.Data, &ev) != nil {
		return
	}
	b.mu.Lock()
	if len(b.pending) >= maxPendingSegments {
		b.overflow = true
	} else {
		b.pending = append(b.pending, &ev)
	}
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// take empties the buffer; overflow reports that events were dropped.
func (b *segmentBuffer) take() (evs []*transcoderv1.SegmentEvent, overflow bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs, overflow = b.pending, b.overflow
	b.pending = nil
	return evs, overflow
}

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
		// By path: an encrypted rendition with a preview has two.
		if t.init[ev.GetPath()] {
			return false
		}
		t.init[ev.GetPath()] = true
		return true
	}
	if ev.GetSequenceNumber() <= t.media[r] {
		return false
	}
	t.media[r] = ev.GetSequenceNumber()
	return true
}

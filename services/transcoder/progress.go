package transcoder

import (
	"context"
	"encoding/json"
	"path"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/transcode"
)

func stateOf(b []byte) State {
	var j struct {
		State State `json:"state"`
	}
	_ = json.Unmarshal(b, &j)
	return j.State
}

// publish sends an event; a failure is logged, as the job record (which
// WatchJob and GetJob read) is the source of truth.
func (s *Service) publish(ctx context.Context, msg proto.Message) {
	if err := s.bus.Publish(ctx, msg); err != nil {
		s.logger.Warn("transcoder: publish event", "err", err)
	}
}

// progressReporter turns pipeline callbacks into job updates, events and
// watch messages, with job writes at most every ProgressInterval.
type progressReporter struct {
	s       *Service
	st      *store
	id      string
	videoID string

	mu        sync.Mutex
	rends     []RenditionProgress
	last      transcode.Progress
	lastWrite time.Time
	seq       int
}

func (r *progressReporter) plan(ctx context.Context, src *transcode.Source, plan []transcode.PlannedRendition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range plan {
		r.rends = append(r.rends, RenditionProgress{Name: p.Name, Width: p.Width, Height: p.Height, Bandwidth: p.Bitrate,
			SegmentsTotal: p.SegmentsTotal, State: RenditionRunning})
	}
	rends := append([]RenditionProgress(nil), r.rends...)
	if _, err := r.st.update(ctx, r.id, func(j *Job) error {
		if j.State != StateRunning {
			return errNoChange
		}
		j.Source, j.Renditions = src, rends
		return nil
	}); err != nil {
		r.s.logger.Warn("transcoder: record plan", "job_id", r.id, "err", err)
	}
	r.lastWrite = time.Now()
}

func (r *progressReporter) segment(ctx context.Context, seg transcode.Segment) {
	kind, evKind, kindName := transcoderv1.SegmentKind_SEGMENT_KIND_MEDIA, eventsv1.SegmentKind_SEGMENT_KIND_MEDIA, "media"
	if seg.Kind == transcode.SegmentInit {
		kind, evKind, kindName = transcoderv1.SegmentKind_SEGMENT_KIND_INIT, eventsv1.SegmentKind_SEGMENT_KIND_INIT, "init"
	}
	var dur *durationpb.Duration
	if seg.Kind == transcode.SegmentMedia {
		dur = durationpb.New(seg.Duration)
		r.mu.Lock()
		for i := range r.rends {
			if r.rends[i].Name == seg.Rendition {
				r.rends[i].SegmentsDone = seg.Sequence
			}
		}
		r.mu.Unlock()
	}
	// Live fan-in for WatchJob on every instance.
	b, err := proto.Marshal(&transcoderv1.SegmentEvent{RenditionName: seg.Rendition, Kind: kind,
		SequenceNumber: uint32(seg.Sequence), Path: seg.Path, SizeBytes: uint64(seg.Size), Duration: dur})
	if err == nil {
		if err := r.s.bus.JetStream().Conn().Publish(watchPrefix+r.id, b); err != nil {
			r.s.logger.Warn("transcoder: watch fan-out", "err", err)
		}
	}
	ev := &eventsv1.SegmentReady{
		EventId:   "segment.ready:" + r.videoID + ":" + seg.Rendition + ":" + kindName + ":" + itoa(seg.Sequence),
		OccurTime: timestamppb.Now(), JobId: r.id, VideoId: r.videoID, Rendition: seg.Rendition, Kind: evKind,
		Sequence: uint32(seg.Sequence), Path: seg.Path, SizeBytes: uint64(seg.Size), Duration: dur,
	}
	if seg.Encryption != "" {
		ev.EncryptionScheme, ev.KeyId = string(seg.Encryption), seg.KeyID[:]
		if seg.Kind == transcode.SegmentInit && path.Base(seg.Path) != "init.m4s" {
			// The preview key's init segment is a second init of the
			// rendition: its own id, or the bus would drop it as a
			// duplicate.
			ev.EventId = "segment.ready:" + r.videoID + ":" + seg.Rendition + ":init-preview:0"
		}
	}
	r.s.publish(ctx, ev)
}

func (r *progressReporter) progress(ctx context.Context, p transcode.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = p
	if time.Since(r.lastWrite) < r.s.cfg.ProgressInterval {
		return
	}
	r.write(ctx)
}

// flush writes the last progress and segment counts.
func (r *progressReporter) flush(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(ctx)
}

func (r *progressReporter) write(ctx context.Context) {
	r.lastWrite = time.Now()
	p := r.last
	pct := min(p.Percent, 99.9)
	for i := range r.rends {
		r.rends[i].Percent = pct
	}
	rends := append([]RenditionProgress(nil), r.rends...)
	if _, err := r.st.update(ctx, r.id, func(j *Job) error {
		if j.State != StateRunning {
			return errNoChange
		}
		j.ProgressPercent, j.ETA, j.Speed, j.Renditions = pct, p.ETA, p.Speed, rends
		return nil
	}); err != nil {
		r.s.logger.Warn("transcoder: record progress", "job_id", r.id, "err", err)
		return
	}
	r.seq++
	ev := &eventsv1.TranscodeProgress{
		EventId: "transcode.progress:" + r.id + ":" + itoa(r.seq), OccurTime: timestamppb.Now(),
		JobId: r.id, VideoId: r.videoID, ProgressPercent: pct, Speed: p.Speed,
	}
	if p.ETA > 0 {
		ev.Eta = durationpb.New(p.ETA)
	}
	for _, rp := range rends {
		ev.Renditions = append(ev.Renditions, &eventsv1.RenditionProgress{Name: rp.Name, ProgressPercent: rp.Percent, SegmentsDone: uint32(rp.SegmentsDone)})
	}
	r.s.publish(ctx, ev)
}

package transcoder

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/transcode"
)

// pool tracks this instance's workers.
type pool struct {
	mu        sync.Mutex
	total     int
	running   map[string]bool
	succeeded uint64
	failed    uint64
	speedSum  float64
	speedN    int
}

func newPool(n int) *pool { return &pool{total: n, running: map[string]bool{}} }

func (p *pool) begin(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[id] = true
}

func (p *pool) end(id string, ok bool, speed float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, id)
	if ok {
		p.succeeded++
		if speed > 0 {
			p.speedSum += speed
			p.speedN++
		}
	} else {
		p.failed++
	}
}

// InstanceStats describes this instance's workers.
type InstanceStats struct {
	InstanceID    string    `json:"instance_id"`
	StartTime     time.Time `json:"start_time"`
	WorkersTotal  int       `json:"workers_total"`
	WorkersBusy   int       `json:"workers_busy"`
	RunningJobIDs []string  `json:"running_job_ids"`
	JobsSucceeded uint64    `json:"jobs_succeeded"`
	JobsFailed    uint64    `json:"jobs_failed"`
	// MeanSpeed is the mean encode speed of succeeded attempts (multiple
	// of real time); 0 before the first.
	MeanSpeed float64 `json:"mean_speed"`
}

func (s *Service) localStats() InstanceStats {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	st := InstanceStats{InstanceID: s.cfg.InstanceID, StartTime: s.start, WorkersTotal: p.total,
		WorkersBusy: len(p.running), JobsSucceeded: p.succeeded, JobsFailed: p.failed}
	for id := range p.running {
		st.RunningJobIDs = append(st.RunningJobIDs, id)
	}
	slices.Sort(st.RunningJobIDs)
	if p.speedN > 0 {
		st.MeanSpeed = p.speedSum / float64(p.speedN)
	}
	return st
}

// workerLoop takes one job at a time from the queue until ctx is done.
func (s *Service) workerLoop(ctx context.Context, st *store, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			// An idle queue ends a fetch with a timeout: nothing to report.
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
				s.logger.Warn("transcoder: fetch job", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		s.handle(ctx, st, msg)
	}
}

// handle runs the job a queue message names and settles the message.
func (s *Service) handle(ctx context.Context, st *store, msg jetstream.Msg) {
	id := string(msg.Data())
	md, err := msg.Metadata()
	if err != nil {
		s.logger.Error("transcoder: queue message without metadata", "err", err)
		_ = msg.Term()
		return
	}
	log := s.logger.With("job_id", id, "delivery", md.NumDelivered)

	// Claim the job: this message owns it unless it is a duplicate.
	var restart, exhausted bool
	j, err := st.update(ctx, id, func(j *Job) error {
		restart, exhausted = false, false
		switch {
		case j.State.Terminal():
			return errNoChange
		case j.QueueSeq != 0 && j.QueueSeq != md.Sequence.Stream:
			return errNoChange // a duplicate message
		case j.State == StateRunning && md.NumDelivered == 1:
			return errNoChange
		}
		restart = j.State == StateRunning // its worker was lost
		if int(md.NumDelivered) > s.cfg.MaxAttempts {
			j.State, j.FinishTime = StateFailed, time.Now().UTC()
			j.FailureReason = fmt.Sprintf("transcoding gave up after %d attempts: the worker was lost or storage failed", s.cfg.MaxAttempts)
			j.ETA = 0
			exhausted = true
			return nil
		}
		j.QueueSeq = md.Sequence.Stream
		j.State, j.Attempt = StateRunning, int(md.NumDelivered)
		j.WorkerInstanceID = s.cfg.InstanceID
		if j.StartTime.IsZero() {
			j.StartTime = time.Now().UTC()
		}
		j.FailureReason, j.ProgressPercent, j.ETA, j.Speed, j.Renditions = "", 0, 0, 0, nil
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		log.Warn("transcoder: queue message for an unknown job")
		_ = msg.Term()
		return
	}
	if err != nil {
		log.Warn("transcoder: claim job", "err", err)
		_ = msg.NakWithDelay(s.cfg.RetryDelay)
		return
	}
	if exhausted {
		log.Warn("transcoder: job failed after its last attempt")
		if err := s.tc.Clean(ctx, j.VideoID); err != nil {
			log.Warn("transcoder: clean output", "err", err)
		}
		s.finished(ctx, st, j, nil)
		_ = msg.Term()
		return
	}
	if j.QueueSeq != md.Sequence.Stream || j.State != StateRunning {
		_ = msg.Ack() // terminal, or a duplicate message
		return
	}
	if restart || j.Attempt > 1 {
		log.Info("transcoder: restarting job from scratch")
	}
	// Whatever an earlier attempt published goes first.
	if err := s.tc.Clean(ctx, j.VideoID); err != nil {
		log.Warn("transcoder: clean earlier output", "err", err)
		s.retryLater(ctx, st, msg, j, err)
		return
	}
	s.pool.begin(j.ID)
	res, runErr := s.run(ctx, st, msg, j)
	if ctx.Err() != nil {
		// Shutting down: leave the message unacknowledged so that another
		// instance takes the job over after AckWait.
		s.pool.end(j.ID, false, 0)
		return
	}
	var speed float64
	if res != nil && res.Elapsed > 0 {
		speed = res.Duration.Seconds() / res.Elapsed.Seconds()
	}
	s.pool.end(j.ID, runErr == nil, speed)
	var failed *transcode.FailedError
	switch {
	case runErr == nil:
		j, err = st.update(ctx, id, func(j *Job) error {
			if j.State != StateRunning {
				return errNoChange
			}
			j.State, j.FinishTime, j.ProgressPercent, j.ETA, j.Result = StateSucceeded, time.Now().UTC(), 100, 0, res
			for i := range j.Renditions {
				j.Renditions[i].State, j.Renditions[i].Percent = RenditionSucceeded, 100
			}
			return nil
		})
		if err != nil {
			log.Warn("transcoder: record success", "err", err)
			_ = msg.NakWithDelay(s.cfg.RetryDelay)
			return
		}
		switch j.State {
		case StateSucceeded:
			s.finished(ctx, st, j, res)
		case StateCanceled: // canceled while finishing: nothing stays
			if err := s.tc.Clean(ctx, j.VideoID); err != nil {
				log.Warn("transcoder: clean canceled output", "err", err)
			}
		}
		_ = msg.Ack()
	case errors.As(runErr, &failed):
		j, err = st.update(ctx, id, func(j *Job) error {
			if j.State != StateRunning {
				return errNoChange
			}
			j.State, j.FinishTime, j.FailureReason, j.ETA = StateFailed, time.Now().UTC(), failed.Reason, 0
			for i := range j.Renditions {
				j.Renditions[i].State = RenditionFailed
			}
			return nil
		})
		if err == nil && j.State == StateFailed {
			s.finished(ctx, st, j, nil)
		}
		_ = msg.Ack()
	default:
		cur, _, gerr := st.get(ctx, id)
		if gerr == nil && cur.State == StateCanceled {
			_ = msg.Ack() // CancelJob did the rest
			return
		}
		log.Warn("transcoder: attempt failed", "err", runErr)
		s.retryLater(ctx, st, msg, j, runErr)
	}
}

// retryLater puts a job that failed for a passing reason back in the
// queue, or fails it for good after the last attempt.
func (s *Service) retryLater(ctx context.Context, st *store, msg jetstream.Msg, j *Job, cause error) {
	last := j.Attempt >= s.cfg.MaxAttempts
	j, err := st.update(ctx, j.ID, func(j *Job) error {
		if j.State.Terminal() {
			return errNoChange
		}
		if last {
			j.State, j.FinishTime, j.ETA = StateFailed, time.Now().UTC(), 0
			j.FailureReason = fmt.Sprintf("transcoding gave up after %d attempts: storage or internal errors", j.Attempt)
			return nil
		}
		j.State = StateQueued
		return nil
	})
	if err != nil {
		_ = msg.NakWithDelay(s.cfg.RetryDelay)
		return
	}
	if last {
		if j.State == StateFailed {
			s.finished(ctx, st, j, nil)
		}
		_ = msg.Ack()
		return
	}
	_ = msg.NakWithDelay(s.cfg.RetryDelay)
}

// run runs one attempt of a RUNNING job: heartbeats to the queue, a watch
// on the job for CancelJob from any instance, throttled progress reports.
func (s *Service) run(ctx context.Context, st *store, msg jetstream.Msg, j *Job) (*transcode.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { // heartbeat
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	w, err := st.kv.Watch(ctx, jobKey(j.ID), jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("transcoder: watch job: %w", err)
	}
	wg.Go(func() { // cancel from any instance
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil && e.Operation() == jetstream.KeyValuePut && stateOf(e.Value()) == StateCanceled {
					cancel()
					return
				}
			}
		}
	})

	pr := &progressReporter{s: s, st: st, id: j.ID, videoID: j.VideoID}
	res, err := s.tc.Run(ctx, transcode.Job{
		ID: j.ID, VideoID: j.VideoID, SourceKey: j.SourceKey, Ladder: j.Ladder,
		OnPlan:     func(src *transcode.Source, plan []transcode.PlannedRendition) { pr.plan(ctx, src, plan) },
		OnSegment:  func(seg transcode.Segment) { pr.segment(ctx, seg) },
		OnProgress: func(p transcode.Progress) { pr.progress(ctx, p) },
	})
	if err == nil {
		pr.flush(ctx)
	}
	return res, err
}

// finished publishes the terminal event of a job.
func (s *Service) finished(ctx context.Context, st *store, j *Job, res *transcode.Result) {
	s.clearActive(ctx, st, j)
	s.metrics.finished(ctx, j, res)
	now := timestamppb.New(j.FinishTime)
	switch j.State {
	case StateSucceeded:
		e := &eventsv1.TranscodeCompleted{
			EventId: "transcode.completed:" + j.ID, OccurTime: now, JobId: j.ID, VideoId: j.VideoID,
			Duration: durationpb.New(res.Duration), PosterPath: res.PosterPath, StoryboardPath: res.StoryboardPath,
			HlsManifestPath: res.HLSPath, DashManifestPath: res.DASHPath, Elapsed: durationpb.New(res.Elapsed),
			Renditions: renditionsToProto(res.Renditions),
		}
		s.publish(ctx, e)
	case StateFailed, StateCanceled:
		s.publish(ctx, &eventsv1.TranscodeFailed{
			EventId: "transcode.failed:" + j.ID, OccurTime: now, JobId: j.ID, VideoId: j.VideoID,
			Reason: j.FailureReason, Canceled: j.State == StateCanceled,
		})
	}
}

// clearActive lets a new job for the video be queued.
func (s *Service) clearActive(ctx context.Context, st *store, j *Job) {
	e, err := st.kv.Get(ctx, activeKey(j.VideoID))
	if err != nil || string(e.Value()) != j.ID {
		return
	}
	_ = st.kv.Delete(ctx, activeKey(j.VideoID), jetstream.LastRevision(e.Revision()))
}

package transcoder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/transcode"
)

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
	j, ok := s.take(ctx, st, msg, id, md, log)
	if !ok {
		return
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
	s.pool.end(j.ID, runErr == nil, encodeSpeed(res))
	s.settle(ctx, st, msg, log, j, res, runErr)
}

// take claims job id, which msg names, and reports whether this delivery
// is to run it. When it is not, take settles msg: an unknown job or the
// delivery past the last attempt ends the message (Term), a store error
// retries it later (Nak), and a job that has ended or belongs to another
// message consumes it (Ack).
func (s *Service) take(ctx context.Context, st *store, msg jetstream.Msg, id string, md *jetstream.MsgMetadata, log *slog.Logger) (*Job, bool) {
	j, restart, exhausted, err := s.claim(ctx, st, id, md)
	if errors.Is(err, ErrNotFound) {
		log.Warn("transcoder: queue message for an unknown job")
		_ = msg.Term()
		return nil, false
	}
	if err != nil {
		log.Warn("transcoder: claim job", "err", err)
		_ = msg.NakWithDelay(s.cfg.RetryDelay)
		return nil, false
	}
	if exhausted {
		log.Warn("transcoder: job failed after its last attempt")
		if err := s.tc.Clean(ctx, j.VideoID); err != nil {
			log.Warn("transcoder: clean output", "err", err)
		}
		s.finished(ctx, st, j, nil)
		_ = msg.Term()
		return nil, false
	}
	if j.QueueSeq != md.Sequence.Stream || j.State != StateRunning {
		_ = msg.Ack() // terminal, or a duplicate message
		return nil, false
	}
	if restart || j.Attempt > 1 {
		log.Info("transcoder: restarting job from scratch")
	}
	return j, true
}

// claim records in the job store that the delivery md owns job id: the
// job becomes RUNNING under this message, or FAILED when md is the
// delivery past the last attempt (exhausted). A job that has ended, a
// duplicate message, or a first delivery of a job already running leave
// the job as it is. restart reports that the job was RUNNING, so its
// worker was lost.
func (s *Service) claim(ctx context.Context, st *store, id string, md *jetstream.MsgMetadata) (j *Job, restart, exhausted bool, err error) {
	j, err = st.update(ctx, id, func(j *Job) error {
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
		attempt := int(md.NumDelivered) - j.StoreWaits
		if attempt > s.cfg.MaxAttempts {
			j.State, j.FinishTime = StateFailed, time.Now().UTC()
			j.FailureReason = fmt.Sprintf("transcoding gave up after %d attempts: the worker was lost", s.cfg.MaxAttempts)
			j.ETA = 0
			exhausted = true
			return nil
		}
		j.QueueSeq = md.Sequence.Stream
		j.State, j.Attempt = StateRunning, attempt
		j.WorkerInstanceID = s.cfg.InstanceID
		if j.StartTime.IsZero() {
			j.StartTime = time.Now().UTC()
		}
		j.FailureReason, j.ProgressPercent, j.ETA, j.Speed, j.Renditions = "", 0, 0, 0, nil
		return nil
	})
	return j, restart, exhausted, err
}

// encodeSpeed is the speed of an attempt, as a multiple of real time; 0
// when unknown.
func encodeSpeed(res *transcode.Result) float64 {
	if res != nil && res.Elapsed > 0 {
		return res.Duration.Seconds() / res.Elapsed.Seconds()
	}
	return 0
}

// settle records how an attempt of j ended and settles its message. A
// success and a bad source are final; any other error is passing, and the
// job is retried unless CancelJob ended it meanwhile.
func (s *Service) settle(ctx context.Context, st *store, msg jetstream.Msg, log *slog.Logger, j *Job, res *transcode.Result, runErr error) {
	var failed *transcode.FailedError
	switch {
	case runErr == nil:
		s.recordSuccess(ctx, st, msg, log, j.ID, res)
	case errors.As(runErr, &failed):
		s.recordFailure(ctx, st, msg, j.ID, failed.Reason)
	default:
		cur, _, gerr := st.get(ctx, j.ID)
		if gerr == nil && cur.State == StateCanceled {
			_ = msg.Ack() // CancelJob did the rest
			return
		}
		log.Warn("transcoder: attempt failed", "err", runErr)
		s.retryLater(ctx, st, msg, j, runErr)
	}
}

// recordSuccess marks the job SUCCEEDED with res and acknowledges msg. A job
// canceled while it finished stays CANCELED, and its output is deleted; if
// the store cannot be written, msg is redelivered later.
func (s *Service) recordSuccess(ctx context.Context, st *store, msg jetstream.Msg, log *slog.Logger, id string, res *transcode.Result) {
	j, err := st.update(ctx, id, func(j *Job) error {
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
}

// recordFailure marks the job FAILED for reason, a fault of the source that
// another attempt would meet again, and acknowledges msg.
func (s *Service) recordFailure(ctx context.Context, st *store, msg jetstream.Msg, id, reason string) {
	j, err := st.update(ctx, id, func(j *Job) error {
		if j.State != StateRunning {
			return errNoChange
		}
		j.State, j.FinishTime, j.FailureReason, j.ETA = StateFailed, time.Now().UTC(), reason, 0
		for i := range j.Renditions {
			j.Renditions[i].State = RenditionFailed
		}
		return nil
	})
	if err == nil && j.State == StateFailed {
		s.finished(ctx, st, j, nil)
	}
	_ = msg.Ack()
}

// retryLater puts a job that failed for a passing reason back in the
// queue, or fails it for good after the last attempt. A media-store
// failure is not an attempt: the job waits for the store, backing off.
func (s *Service) retryLater(ctx context.Context, st *store, msg jetstream.Msg, j *Job, cause error) {
	storeDown := errors.Is(cause, transcode.ErrStore)
	last := j.Attempt >= s.cfg.MaxAttempts && !storeDown
	delay := s.cfg.RetryDelay
	if storeDown {
		// Back off while the store is down, up to a minute between tries.
		delay = min(s.cfg.RetryDelay<<min(j.StoreWaits, 8), max(time.Minute, s.cfg.RetryDelay))
	}
	j, err := st.update(ctx, j.ID, func(j *Job) error {
		if j.State.Terminal() {
			return errNoChange
		}
		if storeDown {
			j.StoreWaits++
		}
		if last {
			j.State, j.FinishTime, j.ETA = StateFailed, time.Now().UTC(), 0
			j.FailureReason = fmt.Sprintf("transcoding gave up after %d attempts: internal errors", j.Attempt)
			return nil
		}
		j.State = StateQueued
		return nil
	})
	if err != nil {
		_ = msg.NakWithDelay(delay)
		return
	}
	if last {
		if j.State == StateFailed {
			s.finished(ctx, st, j, nil)
		}
		_ = msg.Ack()
		return
	}
	_ = msg.NakWithDelay(delay)
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

	var enc *transcode.Encryption
	if s.cfg.Protector != nil {
		// Before anything is published: no key, no segment.
		if enc, err = s.cfg.Protector.Encryption(ctx, j.VideoID); err != nil {
			return nil, err
		}
	}
	pr := &progressReporter{s: s, st: st, id: j.ID, videoID: j.VideoID}
	res, err := s.tc.Run(ctx, transcode.Job{
		ID: j.ID, VideoID: j.VideoID, SourceKey: j.SourceKey, Ladder: j.Ladder, Encryption: enc,
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
			Renditions: renditionsToProto(res.Renditions), EncryptionScheme: string(res.Encryption),
		}
		if res.PreviewKeyUntil > 0 {
			e.PreviewKeyUntil = durationpb.New(res.PreviewKeyUntil)
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

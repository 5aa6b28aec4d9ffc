package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"

	"github.com/streamgate/streamgate/internal/events"
)

// State is where a job is in its lifecycle.
type State int

// Job states, numbered as workerv1.JobState.
const (
	StateUnspecified State = iota
	StateScheduled
	StateQueued
	StateRunning
	StateRetrying
	StateSucceeded
	StateDead
	StateCanceled
)

func (s State) final() bool { return s == StateSucceeded || s == StateDead || s == StateCanceled }

// Job is one durable unit of background work, as stored in the KV bucket.
type Job struct {
	ID             string        `json:"id"`
	Kind           string        `json:"kind"`
	Payload        []byte        `json:"payload,omitempty"`
	State          State         `json:"state"`
	Attempts       uint32        `json:"attempts"`
	MaxAttempts    uint32        `json:"max_attempts"`
	LastError      string        `json:"last_error,omitempty"`
	NextAttempt    time.Time     `json:"next_attempt,omitzero"`
	Timeout        time.Duration `json:"timeout"`
	IdempotencyKey string        `json:"idempotency_key,omitempty"`
	CreateTime     time.Time     `json:"create_time"`
	UpdateTime     time.Time     `json:"update_time"`
	StartTime      time.Time     `json:"start_time,omitzero"`
	FinishTime     time.Time     `json:"finish_time,omitzero"`
	ScheduleID     string        `json:"schedule_id,omitempty"`
	// Gen counts enqueues; it makes each enqueue's Nats-Msg-Id unique while
	// letting JetStream drop a duplicate publish of the same enqueue.
	Gen uint32 `json:"gen"`
}

// Handler runs one attempt of a job. It must be idempotent: delivery is at
// least once. Return Permanent(err) when retrying cannot help.
type Handler func(ctx context.Context, job Job) error

// KindOptions configures how a kind runs.
type KindOptions struct {
	// Concurrency is the most attempts of this kind running at once in this
	// process (default 4).
	Concurrency int
	// Timeout is the default attempt timeout (default 1 minute).
	Timeout time.Duration
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job goes DEAD at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Domain errors; errorTable maps them to codes.
var (
	ErrInvalid      = errors.New("invalid argument")
	ErrNotFound     = errors.New("not found")
	ErrPrecondition = errors.New("failed precondition")
	ErrUnavailable  = errors.New("job store unavailable")
	ErrPermission   = errors.New("permission denied")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

const (
	streamName    = "WORKER_JOBS"
	subjectPrefix = "worker.jobs."
	bucketName    = "worker_jobs"
	maxPayload    = 256 << 10
	maxRunAhead   = 30 * 24 * time.Hour
	maxLastError  = 4 << 10
	// republishAfter is how long a QUEUED job may keep its due marker (its
	// publish unconfirmed) before the scanner publishes it again.
	republishAfter = 5 * time.Second
)

var kindRE = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// SubmitParams describes a job to submit.
type SubmitParams struct {
	Kind           string
	Payload        []byte
	IdempotencyKey string
	RunTime        time.Time
	MaxAttempts    uint32
	Timeout        time.Duration
	ScheduleID     string
}

type kindEntry struct {
	h    Handler
	opts KindOptions
}

// jobStore is the JetStream-backed job queue.
type jobStore struct {
	cfg    Config
	bus    *events.Bus // creates the stream and bucket (EnsureStream, EnsureKeyValue)
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	mu     sync.RWMutex
	kinds  map[string]kindEntry
	now    func() time.Time
	logger interface {
		Warn(msg string, args ...any)
		Error(msg string, args ...any)
	}
}

func jobKey(id string) string { return "job." + id }
func dueKey(id string) string { return "due." + id }
func idemKey(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "idem." + kind + "." + hex.EncodeToString(sum[:])
}

func (s *jobStore) setup(ctx context.Context) error {
	if _, err := s.bus.EnsureStream(ctx, jetstream.StreamConfig{
		Name:       streamName,
		Subjects:   []string{subjectPrefix + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("worker: stream %s: %w", streamName, err)
	}
	kv, err := s.bus.EnsureKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucketName, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("worker: kv %s: %w", bucketName, err)
	}
	s.kv = kv
	return nil
}

func (s *jobStore) register(kind string, h Handler, opts KindOptions) error {
	if !kindRE.MatchString(kind) || h == nil {
		return fmt.Errorf("worker: bad kind %q or nil handler", kind)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kinds[kind]; ok {
		return fmt.Errorf("worker: kind %q registered twice", kind)
	}
	s.kinds[kind] = kindEntry{h, opts}
	return nil
}

func (s *jobStore) kind(kind string) (kindEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.kinds[kind]
	return k, ok
}

func newJobID() string { return "wjob_" + ulid.Make().String() }

func (s *jobStore) get(ctx context.Context, id string) (Job, uint64, error) {
	if !strings.HasPrefix(id, "wjob_") || len(id) != 31 {
		return Job{}, 0, fmt.Errorf("%w: no job %q", ErrNotFound, id)
	}
	e, err := s.kv.Get(ctx, jobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Job{}, 0, fmt.Errorf("%w: no job %q", ErrNotFound, id)
	}
	if err != nil {
		return Job{}, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var j Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return Job{}, 0, fmt.Errorf("%w: decode job %s: %w", ErrUnavailable, id, err)
	}
	return j, e.Revision(), nil
}

func (s *jobStore) put(ctx context.Context, j Job, rev uint64) (uint64, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return s.kv.Create(ctx, jobKey(j.ID), b)
	}
	return s.kv.Update(ctx, jobKey(j.ID), b, rev)
}

// modify applies fn to the job under optimistic concurrency, retrying on
// conflicts. fn returns false to leave the job unchanged.
func (s *jobStore) modify(ctx context.Context, id string, fn func(j *Job) (bool, error)) (Job, error) {
	for range 20 {
		j, rev, err := s.get(ctx, id)
		if err != nil {
			return Job{}, err
		}
		ok, err := fn(&j)
		if err != nil || !ok {
			return j, err
		}
		j.UpdateTime = s.now()
		if _, err := s.put(ctx, j, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return Job{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return j, nil
	}
	return Job{}, fmt.Errorf("%w: job %s: too much contention", ErrUnavailable, id)
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

func (s *jobStore) submit(ctx context.Context, p SubmitParams) (Job, bool, error) {
	now := s.now()
	if !kindRE.MatchString(p.Kind) {
		return Job{}, false, invalidf("kind must be 1 to 64 characters of [a-z0-9._-]")
	}
	k, ok := s.kind(p.Kind)
	if !ok {
		return Job{}, false, invalidf("no handler for kind %q", p.Kind)
	}
	if len(p.Payload) > maxPayload {
		return Job{}, false, invalidf("payload is %d bytes, over the 262144-byte limit", len(p.Payload))
	}
	if len(p.IdempotencyKey) > 128 {
		return Job{}, false, invalidf("idempotency_key is over 128 characters")
	}
	if !p.RunTime.IsZero() && p.RunTime.After(now.Add(maxRunAhead)) {
		return Job{}, false, invalidf("run_time is more than 30 days ahead")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = uint32(s.cfg.DefaultMaxAttempts)
	}
	if p.MaxAttempts > 25 {
		return Job{}, false, invalidf("max_attempts must be 1 to 25")
	}
	if p.Timeout == 0 {
		p.Timeout = k.opts.Timeout
	}
	if p.Timeout < time.Second || p.Timeout > time.Hour {
		return Job{}, false, invalidf("timeout must be 1s to 1h")
	}
	j := Job{
		ID: newJobID(), Kind: p.Kind, Payload: p.Payload, MaxAttempts: p.MaxAttempts,
		Timeout: p.Timeout, IdempotencyKey: p.IdempotencyKey, CreateTime: now, UpdateTime: now,
		ScheduleID: p.ScheduleID, State: StateScheduled, NextAttempt: now,
	}
	if p.RunTime.After(now) {
		j.NextAttempt = p.RunTime
	}
	if p.IdempotencyKey != "" {
		ik := idemKey(p.Kind, p.IdempotencyKey)
		if _, err := s.kv.Create(ctx, ik, []byte(j.ID)); err != nil {
			if !isConflict(err) {
				return Job{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			existing, err := s.awaitIdem(ctx, ik)
			return existing, true, err
		}
	}
	// Stored SCHEDULED with a due marker first, so that a crash or a failed
	// publish below leaves the job for the due-time scanner, never lost.
	_, err := s.kv.Put(ctx, dueKey(j.ID), []byte(j.ID))
	if err == nil {
		_, err = s.put(ctx, j, 0)
	}
	if err != nil {
		if p.IdempotencyKey != "" {
			// Release the key so a retry with it can store the job.
			_ = s.kv.Purge(context.WithoutCancel(ctx), idemKey(p.Kind, p.IdempotencyKey))
		}
		return Job{}, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p.RunTime.After(now) {
		return j, false, nil
	}
	qj, err := s.enqueue(ctx, j.ID, StateScheduled)
	if err != nil {
		s.logger.Warn("enqueue failed; the scanner will retry", "job", j.ID, "err", err)
	}
	if qj.ID != "" {
		j = qj
	}
	return j, false, nil
}

// awaitIdem returns the job an idempotency key points to, waiting briefly for
// a concurrent submit that claimed the key to store it.
func (s *jobStore) awaitIdem(ctx context.Context, ik string) (Job, error) {
	e, err := s.kv.Get(ctx, ik)
	if err != nil {
		return Job{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	id := string(e.Value())
	deadline := time.Now().Add(5 * time.Second)
	for {
		j, _, err := s.get(ctx, id)
		if !errors.Is(err, ErrNotFound) || time.Now().After(deadline) {
			if errors.Is(err, ErrNotFound) {
				// The submit that claimed the key died before storing its
				// job: release the claim (unless it changed meanwhile) so
				// the caller's retry creates the job.
				_ = s.kv.Purge(ctx, ik, jetstream.LastRevision(e.Revision()))
				err = fmt.Errorf("%w: job %s for this idempotency key was never stored; retry", ErrUnavailable, id)
			}
			return j, err
		}
		select {
		case <-ctx.Done():
			return Job{}, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// enqueue moves a job from state `from` to QUEUED, then publishes its
// message. The job's due marker stays until the publish is confirmed, so the
// scanner republishes (with the same Nats-Msg-Id, which JetStream
// deduplicates) after a crash or a failed publish.
func (s *jobStore) enqueue(ctx context.Context, id string, from State) (Job, error) {
	j, err := s.modify(ctx, id, func(j *Job) (bool, error) {
		if j.State != from {
			return false, nil
		}
		j.State, j.NextAttempt, j.Gen = StateQueued, time.Time{}, j.Gen+1
		return true, nil
	})
	if err != nil || j.State != StateQueued {
		return j, err
	}
	if err := s.publish(ctx, j); err != nil {
		return j, err
	}
	_ = s.kv.Delete(ctx, dueKey(id))
	return j, nil
}

func (s *jobStore) publish(ctx context.Context, j Job) error {
	msg := &nats.Msg{Subject: subjectPrefix + j.Kind, Data: []byte(j.ID), Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s.%d", j.ID, j.Gen))
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// scan enqueues SCHEDULED jobs whose time has come.
func (s *jobStore) scan(ctx context.Context) {
	lister, err := s.kv.ListKeysFiltered(ctx, "due.>")
	if err != nil {
		if !errors.Is(err, jetstream.ErrNoKeysFound) {
			s.logger.Warn("list due jobs", "err", err)
		}
		return
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, "due."))
	}
	now := s.now()
	for _, id := range ids {
		j, _, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			// Submit may be between writing the marker and the job.
			continue
		}
		if err != nil {
			continue
		}
		if j.State == StateQueued && now.Sub(j.UpdateTime) > republishAfter {
			// Queued, but the publish was never confirmed.
			if err := s.publish(ctx, j); err == nil {
				_ = s.kv.Delete(ctx, dueKey(id))
			}
			continue
		}
		if j.State != StateScheduled {
			if j.State != StateQueued {
				_ = s.kv.Delete(ctx, dueKey(id))
			}
			continue
		}
		if j.NextAttempt.After(now) {
			continue
		}
		if _, err := s.enqueue(ctx, id, StateScheduled); err != nil {
			s.logger.Warn("enqueue scheduled job", "job", id, "err", err)
		}
	}
}

// backoff is base x 2^(attempt-1) capped at max, with +/-20% jitter. The
// jitter is drawn from the job id and attempt, so a handler (webhook
// delivery logging its next_attempt_time) computes the same delay.
func backoff(base, maxDelay time.Duration, jobID string, attempt uint32) time.Duration {
	d := base
	for i := uint32(1); i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s/%d", jobID, attempt)
	r := rand.New(rand.NewPCG(h.Sum64(), 0))
	return time.Duration(float64(d) * (0.8 + 0.4*r.Float64()))
}

func consumerName(kind string) string {
	return "worker-" + strings.NewReplacer(".", "_").Replace(kind)
}

// consume runs the per-kind consumer until ctx is done.
func (s *jobStore) consume(ctx context.Context, kind string, k kindEntry) error {
	var cons jetstream.Consumer
	// A consumer that cannot be created yet (NATS restarting) is retried:
	// one kind failing must not stop the others, and a stop requested
	// meanwhile is not an error.
	for {
		var err error
		cons, err = s.js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
			Durable:       consumerName(kind),
			FilterSubject: subjectPrefix + kind,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: max(k.opts.Concurrency*4, 64),
		})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Warn("worker: consumer; retrying", "kind", kind, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	sem := make(chan struct{}, k.opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		msgs, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			fcancel()
			if ctx.Err() == nil {
				s.logger.Warn("fetch jobs", "kind", kind, "err", err)
			}
			<-sem
			if ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
			continue
		}
		got := false
		for msg := range msgs.Messages() {
			got = true
			wg.Go(func() {
				defer func() { <-sem }()
				s.attempt(ctx, k, msg)
			})
		}
		fcancel()
		if !got {
			<-sem
		}
	}
	return nil
}

// attempt runs one delivery of a job message.
func (s *jobStore) attempt(runCtx context.Context, k kindEntry, msg jetstream.Msg) {
	id := string(msg.Data())
	ctx := context.WithoutCancel(runCtx)
	var started Job
	j, err := s.modify(ctx, id, func(j *Job) (bool, error) {
		switch j.State {
		case StateQueued, StateRetrying, StateRunning:
		default:
			return false, nil
		}
		j.State, j.Attempts, j.StartTime, j.NextAttempt = StateRunning, j.Attempts+1, s.now(), time.Time{}
		return true, nil
	})
	if errors.Is(err, ErrNotFound) {
		_ = msg.Term()
		return
	}
	if err != nil {
		s.logger.Warn("start job", "job", id, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if j.State != StateRunning {
		_ = msg.Term()
		return
	}
	started = j

	attemptCtx, cancel := context.WithTimeoutCause(runCtx, j.Timeout, errTimeout)
	defer cancel()
	stop := s.watch(attemptCtx, cancel, msg, id)
	herr := callHandler(attemptCtx, k.h, j)
	stop()
	if runCtx.Err() != nil {
		// Shutting down: leave the message unacked so another worker gets
		// it after AckWait, as if this one had died.
		return
	}
	if herr != nil && errors.Is(context.Cause(attemptCtx), errTimeout) {
		herr = errTimeout
	}
	var delay time.Duration
	j, err = s.modify(ctx, id, func(j *Job) (bool, error) {
		if j.State != StateRunning || j.Attempts != started.Attempts {
			return false, nil // canceled meanwhile: discard the outcome
		}
		now := s.now()
		switch {
		case herr == nil:
			j.State, j.FinishTime, j.LastError = StateSucceeded, now, ""
		case errors.Is(herr, errSkip):
			j.State, j.FinishTime = StateCanceled, now
		case errors.As(herr, new(permanentError)) || j.Attempts >= j.MaxAttempts:
			j.State, j.FinishTime, j.LastError = StateDead, now, truncate(herr.Error())
		default:
			delay = backoff(s.cfg.RetryBaseDelay, s.cfg.RetryMaxDelay, j.ID, j.Attempts)
			j.State, j.NextAttempt, j.LastError = StateRetrying, now.Add(delay), truncate(herr.Error())
		}
		return true, nil
	})
	if err != nil {
		s.logger.Warn("record job outcome", "job", id, "err", err)
		return // redelivered after AckWait
	}
	if j.State == StateRetrying && delay > 0 {
		_ = msg.NakWithDelay(delay)
		return
	}
	_ = msg.Ack()
}

var errTimeout = errors.New("timeout")

// errSkip from a handler cancels the job: its cause is gone (e.g. the
// webhook was deleted), so the attempt neither succeeds nor fails.
var errSkip = errors.New("skipped: the job's subject no longer exists")

func callHandler(ctx context.Context, h Handler, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, j)
}

// watch keeps the message's ack deadline alive while the attempt runs and
// cancels the attempt when the job is canceled (by any replica). The watcher
// starts before the handler and first delivers the current value, so a
// cancel cannot slip in between.
func (s *jobStore) watch(ctx context.Context, cancel context.CancelFunc, msg jetstream.Msg, id string) (stop func()) {
	ctx, stopCtx := context.WithCancel(ctx)
	var updates <-chan jetstream.KeyValueEntry
	w, err := s.kv.Watch(ctx, jobKey(id))
	if err == nil {
		updates = w.Updates()
	} else {
		s.logger.Warn("watch job for cancel", "job", id, "err", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if w != nil {
			defer func() { _ = w.Stop() }()
		}
		t := time.NewTicker(max(s.cfg.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			case e, ok := <-updates:
				if !ok {
					updates = nil
					continue
				}
				if e == nil || e.Operation() != jetstream.KeyValuePut {
					continue
				}
				var j Job
				if json.Unmarshal(e.Value(), &j) == nil && j.State == StateCanceled {
					cancel()
				}
			}
		}
	}()
	return func() { stopCtx(); <-done }
}

func truncate(s string) string {
	if len(s) > maxLastError {
		return s[:maxLastError]
	}
	return s
}

func (s *jobStore) cancel(ctx context.Context, id string) (Job, error) {
	j, err := s.modify(ctx, id, func(j *Job) (bool, error) {
		switch j.State {
		case StateCanceled:
			return false, nil
		case StateSucceeded, StateDead:
			return false, fmt.Errorf("%w: job is %s", ErrPrecondition, stateName(j.State))
		}
		now := s.now()
		j.State, j.FinishTime, j.NextAttempt = StateCanceled, now, time.Time{}
		return true, nil
	})
	if err == nil {
		_ = s.kv.Delete(ctx, dueKey(id))
	}
	return j, err
}

func (s *jobStore) retry(ctx context.Context, id string) (Job, error) {
	if _, _, err := s.get(ctx, id); err != nil {
		return Job{}, err
	}
	if _, err := s.kv.Put(ctx, dueKey(id), []byte(id)); err != nil {
		return Job{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_, err := s.modify(ctx, id, func(j *Job) (bool, error) {
		if j.State != StateDead {
			return false, fmt.Errorf("%w: job is %s, not DEAD", ErrPrecondition, stateName(j.State))
		}
		j.State, j.Attempts, j.FinishTime, j.NextAttempt = StateScheduled, 0, time.Time{}, s.now()
		return true, nil
	})
	if err != nil {
		return Job{}, err
	}
	j, err := s.enqueue(ctx, id, StateScheduled)
	if errors.Is(err, ErrUnavailable) && j.State == StateQueued {
		s.logger.Warn("publish revived job; the scanner will retry", "job", id, "err", err)
		return j, nil
	}
	return j, err
}

type listToken struct {
	Filter string `json:"f"`
	After  string `json:"a"`
}

// list pages through jobs newest first (ULID ids sort by time, ties by id).
// It reads every key of the bucket: fine for the retained volume we expect;
// an index would replace it if job counts grow.
func (s *jobStore) list(ctx context.Context, kind string, state State, pageSize int, token string) ([]Job, string, error) {
	if pageSize < 0 || pageSize > 200 {
		return nil, "", invalidf("page_size must be 0 to 200")
	}
	if pageSize == 0 {
		pageSize = 50
	}
	filter := fmt.Sprintf("%s|%d", kind, state)
	var after string
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		var t listToken
		if err != nil || json.Unmarshal(b, &t) != nil || t.After == "" {
			return nil, "", invalidf("malformed page_token")
		}
		if t.Filter != filter {
			return nil, "", invalidf("page_token was issued for other filters")
		}
		after = t.After
	}
	lister, err := s.kv.ListKeysFiltered(ctx, "job.>")
	var ids []string
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err == nil {
		for k := range lister.Keys() {
			id := strings.TrimPrefix(k, "job.")
			if after == "" || id < after {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	var out []Job
	for _, id := range ids {
		j, _, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if (kind != "" && j.Kind != kind) || (state != StateUnspecified && j.State != state) {
			continue
		}
		if len(out) == pageSize {
			b, _ := json.Marshal(listToken{Filter: filter, After: out[len(out)-1].ID})
			return out, base64.RawURLEncoding.EncodeToString(b), nil
		}
		out = append(out, j)
	}
	return out, "", nil
}

func stateName(s State) string {
	return [...]string{"UNSPECIFIED", "SCHEDULED", "QUEUED", "RUNNING", "RETRYING", "SUCCEEDED", "DEAD", "CANCELED"}[s]
}

// sweep removes finished jobs (and their idempotency keys) older than the
// retention. A DEAD job counts from its finish time too.
func (s *jobStore) sweep(ctx context.Context) {
	lister, err := s.kv.ListKeysFiltered(ctx, "job.>")
	if err != nil {
		return
	}
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(k, "job."))
	}
	cutoff := s.now().Add(-s.cfg.JobRetention)
	for _, id := range ids {
		j, rev, err := s.get(ctx, id)
		if err != nil || !j.State.final() || j.FinishTime.After(cutoff) {
			continue
		}
		if j.IdempotencyKey != "" {
			_ = s.kv.Purge(ctx, idemKey(j.Kind, j.IdempotencyKey))
		}
		if err := s.kv.Purge(ctx, jobKey(id), jetstream.LastRevision(rev)); err != nil && !isConflict(err) {
			s.logger.Warn("purge expired job", "job", id, "err", err)
		}
	}
}

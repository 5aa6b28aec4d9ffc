package transcoder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamgate/streamgate/internal/transcode"
)

// State is where a job is in its lifecycle (the contract's
// TranscodeJobState).
type State int

// Job states, numbered as in the contract.
const (
	StateQueued    State = 1
	StateRunning   State = 2
	StateSucceeded State = 3
	StateFailed    State = 4
	StateCanceled  State = 5
)

// Terminal reports whether no further change can happen.
func (s State) Terminal() bool { return s >= StateSucceeded }

// RenditionState is where one rendition of a job is (the contract's
// RenditionState).
type RenditionState int

// Rendition states, numbered as in the contract.
const (
	RenditionPending   RenditionState = 1
	RenditionRunning   RenditionState = 2
	RenditionSucceeded RenditionState = 3
	RenditionFailed    RenditionState = 4
	RenditionCanceled  RenditionState = 5
)

// RenditionProgress is the progress of one rendition of a job.
type RenditionProgress struct {
	Name          string         `json:"name"`
	Width         int            `json:"width,omitempty"`
	Height        int            `json:"height,omitempty"`
	Bandwidth     int            `json:"bandwidth"`
	Percent       float64        `json:"percent"`
	SegmentsDone  int            `json:"segments_done"`
	SegmentsTotal int            `json:"segments_total"`
	State         RenditionState `json:"state"`
}

// Job is a transcode job as stored in the job bucket.
type Job struct {
	ID             string           `json:"id"`
	VideoID        string           `json:"video_id"`
	UploadID       string           `json:"upload_id"`
	CreatorAddress string           `json:"creator_address"`
	SourceKey      string           `json:"source_key"`
	RequestID      string           `json:"request_id"`
	Ladder         []transcode.Rung `json:"ladder,omitempty"`

	State           State               `json:"state"`
	FailureReason   string              `json:"failure_reason,omitempty"`
	ProgressPercent float64             `json:"progress_percent"`
	Speed           float64             `json:"speed,omitempty"`
	ETA             time.Duration       `json:"eta,omitempty"`
	Renditions      []RenditionProgress `json:"renditions,omitempty"`
	Attempt         int                 `json:"attempt"`
	// StoreWaits counts the deliveries that ended on a media-store
	// failure: they are not attempts, so an outage of the store delays
	// the job but never fails it.
	StoreWaits       int    `json:"store_waits,omitempty"`
	WorkerInstanceID string `json:"worker_instance_id,omitempty"`
	// QueueSeq is the stream sequence of the queue message that owns the
	// job; other messages for it are duplicates.
	QueueSeq   uint64            `json:"queue_seq,omitempty"`
	CreateTime time.Time         `json:"create_time"`
	StartTime  time.Time         `json:"start_time,omitzero"`
	FinishTime time.Time         `json:"finish_time,omitzero"`
	Source     *transcode.Source `json:"source,omitempty"`
	Result     *transcode.Result `json:"result,omitempty"`

	// QueuePosition is computed when the job is read, never stored.
	QueuePosition int `json:"-"`
}

// Bucket, stream and subject names.
const (
	jobsBucket  = "transcode_jobs"
	queueStream = "TRANSCODE_JOBS"
	queueSubj   = "jobs.transcode"
	workersName = "transcoder-workers"
	watchPrefix = "transcode.watch."
	statsSubj   = "transcode.stats"
)

// markerTTL is how long the bucket keeps the marker of an expired key, so
// watchers see the job go; also the extra life of a finished job's index
// entries, so none expires before its job.
const markerTTL = time.Minute

// indexedKey marks a bucket whose jobs all have creator index entries and
// whose finished jobs all expire (see store.backfill).
const indexedKey = "meta.indexed"

// queueIndexedKey marks a bucket whose QUEUED jobs all have queue entries
// and whose uploads all have upload entries (see store.backfill).
const queueIndexedKey = "meta.indexed.queue"

func jobKey(id string) string       { return "job." + id }
func activeKey(video string) string { return "active." + video }
func requestKey(req string) string {
	h := sha256.Sum256([]byte(req))
	return "req." + hex.EncodeToString(h[:16])
}

// queuedKey is the entry of job id in the queue index while the job is
// QUEUED: its value is the job's create time, so the queue's order, depth
// and age are read from "queued.*" alone, never from every job. A job that
// leaves the queue gets an empty value that expires (dropQueued).
func queuedKey(id string) string { return "queued." + id }

// uploadKey is the entry naming the latest job of an upload, which
// Resubmit starts from.
func uploadKey(upload string) string {
	if !idPattern.MatchString(upload) { // not an upload id: a token safe in a key
		h := sha256.Sum256([]byte(upload))
		upload = "h" + hex.EncodeToString(h[:16])
	}
	return "upload." + upload
}

// creatorKey is the index entry of job id under its creator: ListJobs
// lists "creator.<creator>.*", the creator's jobs only.
func creatorKey(addr, id string) string { return creatorPrefix(addr) + id }

func creatorPrefix(addr string) string {
	a := strings.ToLower(addr)
	if !isHexAddress(a) { // not an EVM address: a token safe in a key
		h := sha256.Sum256([]byte(a))
		a = "h" + hex.EncodeToString(h[:16])
	}
	return "creator." + a + "."
}

func isHexAddress(a string) bool {
	if len(a) != 42 || !strings.HasPrefix(a, "0x") {
		return false
	}
	_, err := hex.DecodeString(a[2:])
	return err == nil
}

// store keeps jobs in a JetStream KV bucket, visible from every instance.
// Besides "job.<id>" it holds "creator.<address>.<id>" per job, so one
// creator's jobs are found without reading everyone's, "queued.<id>" per
// QUEUED job, so the queue is read without reading every job,
// "upload.<upload>" per upload (its latest job), "req.<hash>" per request
// id and "active.<video>" per running job. A finished job, its index entry,
// its upload entry and its request id expire retention after the job ended
// (per-message TTLs); queued and running jobs never expire.
//
// No request and no metric collection lists "job.*": only the one-time
// backfill of a bucket from an older layout does.
type store struct {
	kv        jetstream.KeyValue
	js        jetstream.JetStream
	subject   string // of the bucket's keys: "$KV.<bucket>."
	retention time.Duration
	grace     time.Duration // extra life of index entries and request ids; markerTTL
	now       func() time.Time
}

func newStore(kv jetstream.KeyValue, js jetstream.JetStream, retention time.Duration) *store {
	return &store{kv: kv, js: js, subject: "$KV." + kv.Bucket() + ".", retention: retention, grace: markerTTL, now: time.Now}
}

// ttl is what is left of a finished job's retention; at least a second,
// JetStream's shortest TTL.
func (s *store) ttl(j *Job) time.Duration {
	end := j.FinishTime
	if end.IsZero() {
		end = s.now()
	}
	return max(time.Second, s.retention-s.now().Sub(end))
}

// put writes key with a time to live; rev > 0 makes it conditional on the
// key's last revision being rev, like KeyValue.Update (which takes no TTL).
func (s *store) put(ctx context.Context, key string, value []byte, ttl time.Duration, rev uint64) error {
	opts := []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl)}
	if rev > 0 {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(rev))
	}
	_, err := s.js.Publish(ctx, s.subject+key, value, opts...)
	return err
}

// expire gives the keys that outlive a finished job j (its index entry and
// its request id) j's time to live plus a grace, so they never point to a
// job already gone for long.
func (s *store) expire(ctx context.Context, j *Job) error {
	ttl := s.ttl(j) + s.grace
	if err := s.put(ctx, creatorKey(j.CreatorAddress, j.ID), []byte(j.ID), ttl, 0); err != nil {
		return fmt.Errorf("transcoder: index job %s: %w", j.ID, err)
	}
	if j.RequestID != "" {
		if err := s.put(ctx, requestKey(j.RequestID), []byte(j.ID), ttl, 0); err != nil {
			return fmt.Errorf("transcoder: request id of job %s: %w", j.ID, err)
		}
	}
	return s.expireUpload(ctx, j, ttl)
}

// expireUpload gives the upload entry of a finished job j time to live ttl,
// if it still names j (a later job of the upload owns it otherwise).
func (s *store) expireUpload(ctx context.Context, j *Job, ttl time.Duration) error {
	if j.UploadID == "" {
		return nil
	}
	for range 10 {
		e, err := s.kv.Get(ctx, uploadKey(j.UploadID))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("transcoder: upload entry of job %s: %w", j.ID, err)
		}
		if string(e.Value()) != j.ID {
			return nil
		}
		err = s.put(ctx, uploadKey(j.UploadID), []byte(j.ID), ttl, e.Revision())
		if err == nil || !isConflict(err) {
			if err != nil {
				return fmt.Errorf("transcoder: upload entry of job %s: %w", j.ID, err)
			}
			return nil
		}
	}
	return nil // others keep writing it: the latest writer's TTL stands
}

// indexUpload makes j the latest job of its upload.
func (s *store) indexUpload(ctx context.Context, j *Job) error {
	if j.UploadID == "" {
		return nil
	}
	if _, err := s.kv.Put(ctx, uploadKey(j.UploadID), []byte(j.ID)); err != nil {
		return fmt.Errorf("transcoder: upload entry of job %s: %w", j.ID, err)
	}
	return nil
}

// byUpload returns the latest job of an upload, ErrNotFound if none is
// held.
func (s *store) byUpload(ctx context.Context, upload string) (*Job, error) {
	e, err := s.kv.Get(ctx, uploadKey(upload))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("transcoder: read upload entry: %w", err)
	}
	j, _, err := s.get(ctx, string(e.Value()))
	return j, err
}

// enqueued writes the queue entry of a QUEUED job. It is written after the
// job, and dropped after the job left the queue, so that repairQueue, which
// reads them in the other order, never drops the entry of a QUEUED job.
func (s *store) enqueued(ctx context.Context, j *Job) error {
	_, err := s.kv.Put(ctx, queuedKey(j.ID), []byte(j.CreateTime.UTC().Format(time.RFC3339Nano)))
	return err
}

// dropQueued empties the queue entry of job id, which then expires (a KV
// delete would leave a marker per job forever, which every read of
// "queued.*" would walk). rev > 0 makes it conditional on the entry's
// revision.
func (s *store) dropQueued(ctx context.Context, id string, rev uint64) error {
	return s.put(ctx, queuedKey(id), nil, time.Second, rev)
}

func (s *store) get(ctx context.Context, id string) (*Job, uint64, error) {
	e, err := retryElection(ctx, func() (jetstream.KeyValueEntry, error) { return s.kv.Get(ctx, jobKey(id)) })
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("transcoder: read job: %w", err)
	}
	var j Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return nil, 0, fmt.Errorf("transcoder: decode job %s: %w", id, err)
	}
	return &j, e.Revision(), nil
}

func (s *store) create(ctx context.Context, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if _, err := s.kv.Create(ctx, jobKey(j.ID), b); err != nil {
		return fmt.Errorf("transcoder: store job: %w", err)
	}
	if _, err := s.kv.Put(ctx, creatorKey(j.CreatorAddress, j.ID), []byte(j.ID)); err != nil {
		return fmt.Errorf("transcoder: index job: %w", err)
	}
	if j.State == StateQueued {
		if err := s.enqueued(ctx, j); err != nil {
			return fmt.Errorf("transcoder: queue entry: %w", err)
		}
	}
	return nil
}

// remove deletes a job that lost a race before anyone saw it.
func (s *store) remove(ctx context.Context, j *Job) {
	_ = s.dropQueued(ctx, j.ID, 0)
	_ = s.kv.Delete(ctx, jobKey(j.ID))
	_ = s.kv.Delete(ctx, creatorKey(j.CreatorAddress, j.ID))
}

// errNoChange, returned by an update function, leaves the job as it is.
var errNoChange = errors.New("no change")

// update applies fn to the job and writes it back if nobody wrote it in
// between, retrying on conflicts. fn returning errNoChange stops without
// writing (update then returns the job and nil). A finished job is written
// with what is left of its retention as time to live, and so are its index
// entry and request id. The queue entry follows the job in and out of
// QUEUED; a missed write of it is mended by repairQueue.
func (s *store) update(ctx context.Context, id string, fn func(*Job) error) (*Job, error) {
	for range 50 {
		j, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		was := j.State
		if err := fn(j); err != nil {
			if errors.Is(err, errNoChange) {
				return j, nil
			}
			return j, err
		}
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			err = s.put(ctx, jobKey(id), b, s.ttl(j), rev)
		} else {
			_, err = s.kv.Update(ctx, jobKey(id), b, rev)
		}
		if err != nil {
			if isConflict(err) {
				continue
			}
			return nil, fmt.Errorf("transcoder: update job: %w", err)
		}
		switch {
		case j.State == StateQueued && was != StateQueued:
			_ = s.enqueued(ctx, j)
		case j.State != StateQueued && was == StateQueued:
			_ = s.dropQueued(ctx, j.ID, 0)
		}
		if j.State.Terminal() {
			if err := s.expire(ctx, j); err != nil {
				return nil, err
			}
		}
		return j, nil
	}
	return nil, fmt.Errorf("transcoder: update job %s: too many concurrent writers", id)
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists)
}

// all returns every job the bucket holds: the queued and running ones and
// those that finished within the retention. It reads every job, so only
// the one-time backfill uses it.
func (s *store) all(ctx context.Context) ([]*Job, error) {
	return s.list(ctx, "job.*")
}

// byCreator returns the jobs of the creator at addr, read through the
// creator's index entries only.
func (s *store) byCreator(ctx context.Context, addr string) ([]*Job, error) {
	return s.list(ctx, creatorPrefix(addr)+"*")
}

// list reads the jobs named by the keys matching filter: "job.<id>" or
// an index entry whose last token is the id. Keys whose job is gone are
// skipped.
func (s *store) list(ctx context.Context, filter string) ([]*Job, error) {
	ids, err := retryRead(ctx, func(ctx context.Context) ([]string, error) {
		lister, err := s.kv.ListKeysFiltered(ctx, filter)
		if err != nil {
			return nil, err
		}
		defer func() { _ = lister.Stop() }()
		var ids []string
		for k := range lister.Keys() {
			ids = append(ids, k[strings.LastIndexByte(k, '.')+1:])
		}
		// The channel also closes when ctx ends: that is no full list.
		return ids, ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("transcoder: list jobs: %w", err)
	}
	out := make([]*Job, 0, len(ids))
	for _, id := range ids {
		j, _, err := s.get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// readAttempt bounds one read of the bucket through an ordered consumer
// (a key listing, a watch to the current end). A consumer created while its
// stream changes leader, as when a NATS server of the cluster dies, may
// never deliver; a new one, placed on the new leader, does.
const readAttempt = 5 * time.Second

// retryRead runs read with up to four attempts of readAttempt each, while
// ctx lasts, each through retryElection; any other error returns at once.
func retryRead[T any](ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := retryElection(ctx, func() (T, error) {
			actx, cancel := context.WithTimeout(ctx, readAttempt)
			defer cancel()
			return read(actx)
		})
		if err == nil || ctx.Err() != nil || attempt == 4 || !errors.Is(err, context.DeadlineExceeded) {
			return v, err
		}
	}
}

// retryElection runs read again, with a growing pause, while JetStream
// says it is electing a leader (for up to electionWait in all).
func retryElection[T any](ctx context.Context, read func() (T, error)) (T, error) {
	waited, pause := time.Duration(0), 100*time.Millisecond
	for {
		v, err := read()
		if err == nil || ctx.Err() != nil || !electing(err) || waited >= electionWait {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(pause):
		}
		waited += pause
		pause = min(2*pause, time.Second)
	}
}

// electionWait bounds the pauses of retryRead through a leader election:
// a NATS server of three dying costs a few seconds of them.
const electionWait = 8 * time.Second

// electing reports the errors JetStream answers while a stream or the
// meta group has no leader: they pass once one is elected.
func electing(err error) bool {
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jsClusterNotAvailable {
		return true
	}
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		strings.Contains(err.Error(), "JetStream system temporarily unavailable")
}

// jsClusterNotAvailable is the API error JetStream answers while its meta
// group elects a leader (the server's "JetStream system temporarily
// unavailable").
const jsClusterNotAvailable jetstream.ErrorCode = 10008

// backfill brings a bucket written before the creator index and job expiry
// up to date, once: every job gets its index entry and every finished job
// its time to live (one that ended more than the retention ago expires at
// once). Instances may run it together; each step is idempotent.
func (s *store) backfill(ctx context.Context) error {
	if err := s.backfillCreators(ctx); err != nil {
		return err
	}
	return s.backfillQueue(ctx)
}

// done reports whether the marker key is written.
func (s *store) done(ctx context.Context, key string) (bool, error) {
	_, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("transcoder: read %s: %w", key, err)
	}
	return true, nil
}

// backfillQueue gives a bucket written before the queue and upload
// entries those of its jobs, once: the full scan is the price of the
// migration, paid by the first instance of the new layout and never again.
// Instances may run it together; each step is idempotent.
func (s *store) backfillQueue(ctx context.Context) error {
	if ok, err := s.done(ctx, queueIndexedKey); ok || err != nil {
		return err
	}
	jobs, err := s.all(ctx)
	if err != nil {
		return err
	}
	latest := map[string]*Job{}
	for _, j := range jobs {
		if j.State == StateQueued {
			if _, err := s.kv.Create(ctx, queuedKey(j.ID), []byte(j.CreateTime.UTC().Format(time.RFC3339Nano))); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("transcoder: queue entry of job %s: %w", j.ID, err)
			}
		}
		if p := latest[j.UploadID]; j.UploadID != "" && (p == nil || j.CreateTime.After(p.CreateTime)) {
			latest[j.UploadID] = j
		}
	}
	for _, j := range latest {
		// An entry already there is a later job's.
		if _, err := s.kv.Create(ctx, uploadKey(j.UploadID), []byte(j.ID)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("transcoder: upload entry of job %s: %w", j.ID, err)
		}
		if j.State.Terminal() {
			if err := s.expireUpload(ctx, j, s.ttl(j)+s.grace); err != nil {
				return err
			}
		}
	}
	if _, err := s.kv.Put(ctx, queueIndexedKey, []byte("1")); err != nil {
		return fmt.Errorf("transcoder: write %s: %w", queueIndexedKey, err)
	}
	return nil
}

func (s *store) backfillCreators(ctx context.Context) error {
	if ok, err := s.done(ctx, indexedKey); ok || err != nil {
		return err
	}
	jobs, err := s.all(ctx)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if !j.State.Terminal() {
			if _, err := s.kv.Create(ctx, creatorKey(j.CreatorAddress, j.ID), []byte(j.ID)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("transcoder: index job %s: %w", j.ID, err)
			}
			continue
		}
		// Rewritten as it is: update gives it, its index entry and its
		// request id their time to live.
		if _, err := s.update(ctx, j.ID, func(*Job) error { return nil }); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if _, err := s.kv.Put(ctx, indexedKey, []byte("1")); err != nil {
		return fmt.Errorf("transcoder: write %s: %w", indexedKey, err)
	}
	return nil
}

// queueEntry is a job of the queue index.
type queueEntry struct {
	id      string
	created time.Time
	rev     uint64
}

// before reports whether e is ahead of a job created at t with id.
func (e queueEntry) before(t time.Time, id string) bool {
	return e.created.Before(t) || (e.created.Equal(t) && e.id < id)
}

// queue reads the queue index: the QUEUED jobs, oldest first, as their
// entries tell (see repairQueue). It reads the "queued.*" entries only,
// as many as jobs wait, never the jobs themselves.
func (s *store) queue(ctx context.Context) ([]queueEntry, error) {
	return retryRead(ctx, s.readQueue)
}

func (s *store) readQueue(ctx context.Context) ([]queueEntry, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{queuedKey("*")}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("transcoder: read the queue: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []queueEntry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("transcoder: read the queue: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("transcoder: read the queue: watcher stopped")
			}
			if e == nil { // all current entries read
				slices.SortFunc(out, func(a, b queueEntry) int {
					if c := a.created.Compare(b.created); c != 0 {
						return c
					}
					return strings.Compare(a.id, b.id)
				})
				return out, nil
			}
			if e.Operation() != jetstream.KeyValuePut || len(e.Value()) == 0 {
				continue // left the queue
			}
			t, err := time.Parse(time.RFC3339Nano, string(e.Value()))
			if err != nil {
				continue
			}
			out = append(out, queueEntry{id: strings.TrimPrefix(e.Key(), "queued."), created: t, rev: e.Revision()})
		}
	}
}

// repairQueue reads the queue index and checks every entry against its job
// (as many reads as jobs wait): an entry whose job is no longer QUEUED (an
// instance died between the two writes) is dropped, conditionally on its
// revision, so an entry rewritten meanwhile stays. It returns the entries
// of QUEUED jobs.
func (s *store) repairQueue(ctx context.Context) ([]queueEntry, error) {
	entries, err := s.queue(ctx)
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		j, _, err := s.get(ctx, e.id)
		switch {
		case err == nil && j.State == StateQueued:
			out = append(out, e)
			continue
		case err != nil && !errors.Is(err, ErrNotFound):
			return nil, err
		}
		if err := s.dropQueued(ctx, e.id, e.rev); err != nil && !isConflict(err) {
			return nil, fmt.Errorf("transcoder: drop queue entry of %s: %w", e.id, err)
		}
	}
	return out, nil
}

// withQueuePosition fills in QueuePosition of a QUEUED job: 1 plus the
// number of QUEUED jobs created before it.
func (s *store) withQueuePosition(ctx context.Context, j *Job) *Job {
	s.withQueuePositions(ctx, []*Job{j})
	return j
}

// withQueuePositions fills in QueuePosition of the QUEUED jobs among js,
// reading the queue index once, and only if one of js is QUEUED.
func (s *store) withQueuePositions(ctx context.Context, js []*Job) {
	if !slices.ContainsFunc(js, func(j *Job) bool { return j.State == StateQueued }) {
		return
	}
	queue, err := s.queue(ctx)
	if err != nil {
		return
	}
	for _, j := range js {
		if j.State != StateQueued {
			continue
		}
		pos := 1
		for _, e := range queue {
			if e.id != j.ID && e.before(j.CreateTime, j.ID) {
				pos++
			}
		}
		j.QueuePosition = pos
	}
}

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

func jobKey(id string) string       { return "job." + id }
func activeKey(video string) string { return "active." + video }
func requestKey(req string) string {
	h := sha256.Sum256([]byte(req))
	return "req." + hex.EncodeToString(h[:16])
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
// creator's jobs are found without reading everyone's, "req.<hash>" per
// request id and "active.<video>" per running job. A finished job, its
// index entry and its request id expire retention after the job ended
// (per-message TTLs); queued and running jobs never expire.
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
	return nil
}

func (s *store) get(ctx context.Context, id string) (*Job, uint64, error) {
	e, err := s.kv.Get(ctx, jobKey(id))
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
	return nil
}

// remove deletes a job that lost a race before anyone saw it.
func (s *store) remove(ctx context.Context, j *Job) {
	_ = s.kv.Delete(ctx, jobKey(j.ID))
	_ = s.kv.Delete(ctx, creatorKey(j.CreatorAddress, j.ID))
}

// errNoChange, returned by an update function, leaves the job as it is.
var errNoChange = errors.New("no change")

// update applies fn to the job and writes it back if nobody wrote it in
// between, retrying on conflicts. fn returning errNoChange stops without
// writing (update then returns the job and nil). A finished job is written
// with what is left of its retention as time to live, and so are its index
// entry and request id.
func (s *store) update(ctx context.Context, id string, fn func(*Job) error) (*Job, error) {
	for range 50 {
		j, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
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
// those that finished within the retention.
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
	lister, err := s.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("transcoder: list jobs: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var ids []string
	for k := range lister.Keys() {
		ids = append(ids, k[strings.LastIndexByte(k, '.')+1:])
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

// backfill brings a bucket written before the creator index and job expiry
// up to date, once: every job gets its index entry and every finished job
// its time to live (one that ended more than the retention ago expires at
// once). Instances may run it together; each step is idempotent.
func (s *store) backfill(ctx context.Context) error {
	if _, err := s.kv.Get(ctx, indexedKey); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("transcoder: read %s: %w", indexedKey, err)
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

// withQueuePosition fills in QueuePosition of a QUEUED job: 1 plus the
// number of QUEUED jobs created before it.
func (s *store) withQueuePosition(ctx context.Context, j *Job) *Job {
	s.withQueuePositions(ctx, []*Job{j})
	return j
}

// withQueuePositions fills in QueuePosition of the QUEUED jobs among js,
// reading the other jobs once, and only if one of js is QUEUED.
func (s *store) withQueuePositions(ctx context.Context, js []*Job) {
	if !slices.ContainsFunc(js, func(j *Job) bool { return j.State == StateQueued }) {
		return
	}
	jobs, err := s.all(ctx)
	if err != nil {
		return
	}
	for _, j := range js {
		if j.State != StateQueued {
			continue
		}
		pos := 1
		for _, o := range jobs {
			if o.State == StateQueued && o.ID != j.ID && (o.CreateTime.Before(j.CreateTime) || (o.CreateTime.Equal(j.CreateTime) && o.ID < j.ID)) {
				pos++
			}
		}
		j.QueuePosition = pos
	}
}

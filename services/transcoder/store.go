package transcoder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	State            State               `json:"state"`
	FailureReason    string              `json:"failure_reason,omitempty"`
	ProgressPercent  float64             `json:"progress_percent"`
	Speed            float64             `json:"speed,omitempty"`
	ETA              time.Duration       `json:"eta,omitempty"`
	Renditions       []RenditionProgress `json:"renditions,omitempty"`
	Attempt          int                 `json:"attempt"`
	// StoreWaits counts the deliveries that ended on a media-store
	// failure: they are not attempts, so an outage of the store delays
	// the job but never fails it.
	StoreWaits int `json:"store_waits,omitempty"`
	WorkerInstanceID string              `json:"worker_instance_id,omitempty"`
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

func jobKey(id string) string       { return "job." + id }
func activeKey(video string) string { return "active." + video }
func requestKey(req string) string {
	h := sha256.Sum256([]byte(req))
	return "req." + hex.EncodeToString(h[:16])
}

// store keeps jobs in a JetStream KV bucket, visible from every instance.
type store struct {
	kv jetstream.KeyValue
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
	return nil
}

// errNoChange, returned by an update function, leaves the job as it is.
var errNoChange = errors.New("no change")

// update applies fn to the job and writes it back if nobody wrote it in
// between, retrying on conflicts. fn returning errNoChange stops without
// writing (update then returns the job and nil).
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
		if _, err := s.kv.Update(ctx, jobKey(id), b, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, fmt.Errorf("transcoder: update job: %w", err)
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

// all returns every job. The bucket is scanned: fine for the job counts of
// one deployment; an index would be the next step.
func (s *store) all(ctx context.Context) ([]*Job, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "job.>")
	if err != nil {
		return nil, fmt.Errorf("transcoder: list jobs: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var out []*Job
	for k := range lister.Keys() {
		j, _, err := s.get(ctx, strings.TrimPrefix(k, "job."))
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

// withQueuePosition fills in QueuePosition of a QUEUED job: 1 plus the
// number of QUEUED jobs created before it.
func (s *store) withQueuePosition(ctx context.Context, j *Job) *Job {
	if j.State != StateQueued {
		return j
	}
	jobs, err := s.all(ctx)
	if err != nil {
		return j
	}
	pos := 1
	for _, o := range jobs {
		if o.State == StateQueued && o.ID != j.ID && (o.CreateTime.Before(j.CreateTime) || (o.CreateTime.Equal(j.CreateTime) && o.ID < j.ID)) {
			pos++
		}
	}
	j.QueuePosition = pos
	return j
}

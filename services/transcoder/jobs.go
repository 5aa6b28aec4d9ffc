package transcoder

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	transcoderv1 "github.com/streamgate/streamgate/gen/go/streamgate/transcoder/v1"
	"github.com/streamgate/streamgate/internal/identity"
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

// visibleJob loads job id for caller: another creator's job is NotFound,
// like a missing one.
func (s *Service) visibleJob(ctx context.Context, caller identity.Caller, id string) (*store, *Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, nil, err
	}
	st, _, err := s.setup(ctx)
	if err != nil {
		return nil, nil, err
	}
	j, _, err := st.get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !visible(caller, j) {
		return nil, nil, ErrNotFound
	}
	return st, j, nil
}

// GetJob returns a job of one of caller's videos.
func (s *Service) GetJob(ctx context.Context, caller identity.Caller, id string) (*Job, error) {
	st, j, err := s.visibleJob(ctx, caller, id)
	if err != nil {
		return nil, err
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

// ListJobs pages through jobs of caller's videos, newest first, read
// through the caller's index entries (not everyone's jobs).
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
	mine, err := st.byCreator(ctx, caller.Address)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var jobs []*Job
	for _, j := range mine {
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
	st.withQueuePositions(ctx, jobs)
	return jobs, next, nil
}

func stateName(s State) string {
	return strings.TrimPrefix(transcoderv1.TranscodeJobState(s).String(), "TRANSCODE_JOB_STATE_")
}

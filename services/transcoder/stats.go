package transcoder

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamgate/streamgate/internal/identity"
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
	queue, err := st.repairQueue(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	out.QueueDepth = len(queue)
	if len(queue) > 0 {
		out.OldestQueued = max(0, time.Since(queue[0].created))
	}
	return out, nil
}

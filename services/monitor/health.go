package monitor

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/streamgate/streamgate/internal/registry"
)

// Status is the health of an instance, a service or the whole system.
type Status int

const (
	// StatusUnknown: not probed yet, or the probe failed.
	StatusUnknown Status = iota
	// StatusServing: the health check answered SERVING.
	StatusServing
	// StatusNotServing: the health check answered NOT_SERVING, or (for a
	// service) no instance is registered.
	StatusNotServing
)

// InstanceSource is what the health view needs from the registry: the
// registered instances and a signal when they change.
type InstanceSource interface {
	All() []registry.Instance
	Changes() (<-chan struct{}, func())
}

// ProbeFunc checks one instance's overall gRPC health. It returns whether
// the instance answered SERVING, or an error when it could not be asked.
type ProbeFunc func(ctx context.Context, inst registry.Instance) (serving bool, err error)

// InstanceState is the latest probe result of one registered instance.
type InstanceState struct {
	Instance            registry.Instance
	Status              Status
	LastCheck           time.Time
	Latency             time.Duration
	ConsecutiveFailures uint32
	LastError           string
}

// ChangeKind says what a Change carries.
type ChangeKind int

const (
	// ChangeSnapshot: the subscriber fell behind or just subscribed; it must
	// replace its state with a fresh snapshot.
	ChangeSnapshot ChangeKind = iota
	// ChangeAdded: a new instance registered.
	ChangeAdded
	// ChangeRemoved: an instance's registration ended.
	ChangeRemoved
	// ChangeUpdated: an instance's status, address or version changed.
	ChangeUpdated
)

// Change is one event of the health stream.
type Change struct {
	Kind     ChangeKind
	Instance InstanceState // unset for ChangeSnapshot
	Time     time.Time
}

// HealthConfig tunes the prober.
type HealthConfig struct {
	// Services are listed even with no instance registered.
	Services []string
	// Interval between probe rounds; default 2s.
	Interval time.Duration
	// Timeout of one probe; default 1s.
	Timeout time.Duration
}

// HealthView keeps the latest probe result of every registered instance,
// fed by registry changes (watch, no polling of etcd) and periodic gRPC
// health probes, and fans changes out to subscribers.
type HealthView struct {
	cfg    HealthConfig
	src    InstanceSource
	probe  ProbeFunc
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	instances map[string]*InstanceState // by key service/id
	subs      map[*Subscription]struct{}
	probing   map[string]bool
}

// NewHealthView returns a view; Run drives it.
func NewHealthView(cfg HealthConfig, src InstanceSource, probe ProbeFunc, logger *slog.Logger) *HealthView {
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	return &HealthView{
		cfg: cfg, src: src, probe: probe, logger: logger, now: time.Now,
		instances: map[string]*InstanceState{},
		subs:      map[*Subscription]struct{}{},
		probing:   map[string]bool{},
	}
}

func key(inst registry.Instance) string { return inst.Service + "/" + inst.ID }

// Run syncs with the registry and probes until ctx is done.
func (h *HealthView) Run(ctx context.Context) error {
	changes, unsubscribe := h.src.Changes()
	defer unsubscribe()
	var wg sync.WaitGroup
	defer wg.Wait()
	h.sync(ctx, &wg)
	h.probeAll(ctx, &wg)
	ticker := time.NewTicker(h.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changes:
			h.sync(ctx, &wg)
		case <-ticker.C:
			h.probeAll(ctx, &wg)
		}
	}
}

// sync adds and removes instances to match the registry, probing new ones
// at once so they do not wait a whole interval.
func (h *HealthView) sync(ctx context.Context, wg *sync.WaitGroup) {
	current := h.src.All()
	seen := make(map[string]bool, len(current))
	var added []registry.Instance
	h.mu.Lock()
	now := h.now()
	for _, inst := range current {
		k := key(inst)
		seen[k] = true
		st, ok := h.instances[k]
		switch {
		case !ok:
			st = &InstanceState{Instance: inst, Status: StatusUnknown}
			h.instances[k] = st
			h.publishLocked(Change{Kind: ChangeAdded, Instance: *st, Time: now})
			added = append(added, inst)
		case st.Instance.Address != inst.Address || st.Instance.Version != inst.Version || !st.Instance.StartTime.Equal(inst.StartTime):
			st.Instance = inst
			h.publishLocked(Change{Kind: ChangeUpdated, Instance: *st, Time: now})
		}
	}
	for k, st := range h.instances {
		if !seen[k] {
			delete(h.instances, k)
			h.publishLocked(Change{Kind: ChangeRemoved, Instance: *st, Time: now})
		}
	}
	h.mu.Unlock()
	for _, inst := range added {
		h.startProbe(ctx, wg, inst)
	}
}

func (h *HealthView) probeAll(ctx context.Context, wg *sync.WaitGroup) {
	h.mu.Lock()
	insts := make([]registry.Instance, 0, len(h.instances))
	for _, st := range h.instances {
		insts = append(insts, st.Instance)
	}
	h.mu.Unlock()
	for _, inst := range insts {
		h.startProbe(ctx, wg, inst)
	}
}

// startProbe probes one instance in its own goroutine, at most one probe per
// instance at a time, so a hung instance never delays the others.
func (h *HealthView) startProbe(ctx context.Context, wg *sync.WaitGroup, inst registry.Instance) {
	k := key(inst)
	h.mu.Lock()
	if h.probing[k] {
		h.mu.Unlock()
		return
	}
	h.probing[k] = true
	h.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		pctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
		start := h.now()
		serving, err := h.probe(pctx, inst)
		cancel()
		latency := h.now().Sub(start)
		if errors.Is(pctx.Err(), context.DeadlineExceeded) && err != nil {
			latency = h.cfg.Timeout
		}
		h.record(ctx, k, inst, serving, err, latency)
	}()
}

func (h *HealthView) record(ctx context.Context, k string, inst registry.Instance, serving bool, err error, latency time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.probing, k)
	if ctx.Err() != nil {
		return // shutting down: a canceled probe says nothing about the instance
	}
	st, ok := h.instances[k]
	if !ok || st.Instance.ID != inst.ID {
		return // removed while probing
	}
	prev := st.Status
	st.LastCheck = h.now()
	st.Latency = latency
	switch {
	case err != nil:
		st.Status = StatusUnknown
		st.LastError = truncate(err.Error(), 1024)
	case serving:
		st.Status = StatusServing
		st.LastError = ""
	default:
		st.Status = StatusNotServing
		st.LastError = "reported NOT_SERVING"
	}
	if st.Status == StatusServing {
		st.ConsecutiveFailures = 0
	} else {
		st.ConsecutiveFailures++
	}
	if st.Status != prev {
		h.logger.Info("instance health changed", "instance_service", inst.Service, "instance", inst.ID,
			"address", inst.Address, "from", prev.String(), "to", st.Status.String(), "error", st.LastError)
		h.publishLocked(Change{Kind: ChangeUpdated, Instance: *st, Time: st.LastCheck})
	}
}

// ServiceState groups the instances of one service.
type ServiceState struct {
	Service   string
	Status    Status
	Instances []InstanceState
	Serving   int
}

// Snapshot is the whole health view at one moment.
type Snapshot struct {
	Status   Status
	Services []ServiceState
	Time     time.Time
}

// Snapshot returns the current view. A non-empty service narrows the listed
// services; Status always describes the whole system.
func (h *HealthView) Snapshot(service string) Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked(service)
}

func (h *HealthView) snapshotLocked(service string) Snapshot {
	by := map[string]*ServiceState{}
	for _, name := range h.cfg.Services {
		by[name] = &ServiceState{Service: name}
	}
	for _, st := range h.instances {
		s, ok := by[st.Instance.Service]
		if !ok {
			s = &ServiceState{Service: st.Instance.Service}
			by[st.Instance.Service] = s
		}
		s.Instances = append(s.Instances, *st)
	}
	snap := Snapshot{Time: h.now()}
	var statuses []Status
	for _, s := range by {
		sort.Slice(s.Instances, func(i, j int) bool { return s.Instances[i].Instance.ID < s.Instances[j].Instance.ID })
		var states []Status
		for _, in := range s.Instances {
			states = append(states, in.Status)
			if in.Status == StatusServing {
				s.Serving++
			}
		}
		s.Status = serviceStatus(states)
		statuses = append(statuses, s.Status)
		if service == "" || s.Service == service {
			snap.Services = append(snap.Services, *s)
		}
	}
	sort.Slice(snap.Services, func(i, j int) bool { return snap.Services[i].Service < snap.Services[j].Service })
	snap.Status = systemStatus(statuses)
	return snap
}

// ServiceStatus returns one service's overall status.
func (h *HealthView) ServiceStatus(service string) Status {
	snap := h.Snapshot(service)
	for _, s := range snap.Services {
		if s.Service == service {
			return s.Status
		}
	}
	return StatusNotServing
}

// serviceStatus: SERVING if any instance serves; else UNKNOWN if any
// instance could not be probed; else NOT_SERVING (none registered included).
func serviceStatus(instances []Status) Status {
	st := StatusNotServing
	for _, s := range instances {
		if s == StatusServing {
			return StatusServing
		}
		if s == StatusUnknown {
			st = StatusUnknown
		}
	}
	return st
}

// systemStatus: NOT_SERVING if any service is; else UNKNOWN if any is;
// else SERVING.
func systemStatus(services []Status) Status {
	st := StatusServing
	for _, s := range services {
		if s == StatusNotServing {
			return StatusNotServing
		}
		if s == StatusUnknown {
			st = StatusUnknown
		}
	}
	return st
}

func (s Status) String() string {
	switch s {
	case StatusServing:
		return "SERVING"
	case StatusNotServing:
		return "NOT_SERVING"
	default:
		return "UNKNOWN"
	}
}

// Subscription receives the changes of the health view.
type Subscription struct {
	view    *HealthView
	service string
	ch      chan Change
	// behind is set when a change was dropped because the subscriber was
	// slow: the next receive yields a snapshot instead.
	behind bool
}

// subscriptionBuffer bounds how far a slow watcher may fall behind before it
// is resynchronized with a snapshot.
const subscriptionBuffer = 64

// Subscribe starts receiving changes for one service, or all ("").
func (h *HealthView) Subscribe(service string) *Subscription {
	s := &Subscription{view: h, service: service, ch: make(chan Change, subscriptionBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// C delivers the changes.
func (s *Subscription) C() <-chan Change { return s.ch }

// TakeBehind reports, and clears, whether changes were dropped since the
// last call; the caller must then send a fresh snapshot.
func (s *Subscription) TakeBehind() bool {
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	b := s.behind
	s.behind = false
	return b
}

// Close stops the subscription.
func (s *Subscription) Close() {
	s.view.mu.Lock()
	delete(s.view.subs, s)
	s.view.mu.Unlock()
}

func (h *HealthView) publishLocked(c Change) {
	for s := range h.subs {
		if s.service != "" && s.service != c.Instance.Instance.Service {
			continue
		}
		select {
		case s.ch <- c:
		default:
			// The buffer is full, so the reader has at least one change
			// to wake it; on waking it sees behind and resynchronizes.
			s.behind = true
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

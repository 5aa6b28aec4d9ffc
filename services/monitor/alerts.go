package monitor

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AlertRules configures the built-in alert rules; a zero threshold turns
// its rule off.
type AlertRules struct {
	// InstanceDownFor fires "instance_down" when a registered instance has
	// failed its health probe for this long, and "service_down" when a
	// listed service has had no serving instance for this long.
	InstanceDownFor time.Duration
	// ErrorRatioAbove fires "error_rate" when a service's server-fault
	// ratio over the last 5 min is above it (0.05 = 5%). Needs
	// WithMetricsClient.
	ErrorRatioAbove float64
	// P95Above fires "latency_p95" when a service's p95 over the last
	// 5 min is above it. Needs WithMetricsClient.
	P95Above time.Duration
	// TranscodeQueueAgeAbove fires "transcode_queue_stale" when the oldest
	// QUEUED transcode job has waited longer than this (the transcoders'
	// queue-age gauge). Needs WithMetricsClient.
	TranscodeQueueAgeAbove time.Duration
	// DeadJobs fires "worker_dead_jobs" while the worker reports any DEAD
	// job (they stay DEAD until retried or swept after the retention).
	// Needs WithMetricsClient.
	DeadJobs bool
	// ChainFailing fires "chain_rpc_failing" while a chain's last poll
	// failed.
	ChainFailing bool
	// ChainHeadAgeAbove fires "chain_head_lagging" when a chain's newest
	// block is older than this.
	ChainHeadAgeAbove time.Duration
	// BaseFeeAboveWei fires "gas_price_high" when a chain's next base fee is
	// above it.
	BaseFeeAboveWei *big.Int
	// Interval between evaluations; default 15s.
	Interval time.Duration
	// ResolvedRetention is how long resolved alerts stay listed; default 24h.
	ResolvedRetention time.Duration
}

// Severity of an alert.
type Severity int

// Severities.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityCritical
)

// Alert is one firing or resolved alert.
type Alert struct {
	ID        string
	Rule      string
	Severity  Severity
	Summary   string
	Labels    map[string]string
	Value     float64
	Threshold float64
	Start     time.Time
	End       time.Time // zero while firing
	LastEval  time.Time
}

// Firing reports whether the alert has not resolved.
func (a Alert) Firing() bool { return a.End.IsZero() }

// maxResolvedAlerts bounds the resolved alerts kept.
const maxResolvedAlerts = 1000

// alertEngine evaluates the rules and keeps the alerts.
type alertEngine struct {
	rules AlertRules
	svc   *Service

	mu        sync.Mutex
	firing    map[string]*Alert // by rule+labels key
	resolved  []Alert           // oldest first
	downSince map[string]time.Time
	seq       uint64

	watchMu  sync.Mutex
	watchers map[chan Alert]struct{}
}

type observation struct {
	rule      string
	severity  Severity
	labels    map[string]string
	summary   string
	value     float64
	threshold float64
}

func alertKey(rule string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(rule)
	for _, k := range keys {
		b.WriteString("|" + k + "=" + labels[k])
	}
	return b.String()
}

func (e *alertEngine) run(ctx context.Context) {
	t := time.NewTicker(e.rules.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.notify(ctx, e.evaluate(time.Now()))
		}
	}
}

// observe collects the conditions true now.
func (e *alertEngine) observe(now time.Time) []observation {
	var obs []observation
	r := e.rules
	if r.InstanceDownFor > 0 {
		snap := e.svc.health.Snapshot("")
		live := make(map[string]bool)
		for _, s := range snap.Services {
			for _, in := range s.Instances {
				k := "i/" + in.Instance.Service + "/" + in.Instance.ID
				live[k] = true
				if in.LastCheck.IsZero() || in.Status == StatusServing {
					delete(e.downSince, k)
					continue
				}
				since, ok := e.downSince[k]
				if !ok {
					since = now
					e.downSince[k] = now
				}
				if d := now.Sub(since); d >= r.InstanceDownFor {
					obs = append(obs, observation{
						rule: "instance_down", severity: SeverityWarning,
						labels:  map[string]string{"service": in.Instance.Service, "instance_id": in.Instance.ID},
						summary: fmt.Sprintf("instance %s of %s has failed its health check for %s: %s", in.Instance.ID, in.Instance.Service, d.Round(time.Second), in.LastError),
						value:   d.Seconds(), threshold: r.InstanceDownFor.Seconds(),
					})
				}
			}
			k := "s/" + s.Service
			live[k] = true
			if s.Serving > 0 {
				delete(e.downSince, k)
				continue
			}
			since, ok := e.downSince[k]
			if !ok {
				since = now
				e.downSince[k] = now
			}
			if d := now.Sub(since); d >= r.InstanceDownFor {
				obs = append(obs, observation{
					rule: "service_down", severity: SeverityCritical,
					labels:  map[string]string{"service": s.Service},
					summary: fmt.Sprintf("service %s has had no serving instance for %s", s.Service, d.Round(time.Second)),
					value:   d.Seconds(), threshold: r.InstanceDownFor.Seconds(),
				})
			}
		}
		for k := range e.downSince {
			if !live[k] {
				delete(e.downSince, k)
			}
		}
	}
	if e.svc.metrics != nil && (r.ErrorRatioAbove > 0 || r.P95Above > 0 || r.TranscodeQueueAgeAbove > 0 || r.DeadJobs) {
		sums, _ := e.svc.metrics.summary(5 * time.Minute)
		for _, s := range sums {
			labels := map[string]string{"service": s.Service}
			if age, ok := s.Figures[figureQueueAge]; ok && r.TranscodeQueueAgeAbove > 0 && age > r.TranscodeQueueAgeAbove.Seconds() {
				obs = append(obs, observation{
					rule: "transcode_queue_stale", severity: SeverityWarning, labels: labels,
					summary: fmt.Sprintf("the oldest queued transcode job has waited %s", seconds(age).Round(time.Second)),
					value:   age, threshold: r.TranscodeQueueAgeAbove.Seconds(),
				})
			}
			if dead, ok := s.Figures[figureDeadJobs]; ok && r.DeadJobs && dead > 0 {
				obs = append(obs, observation{
					rule: "worker_dead_jobs", severity: SeverityWarning, labels: labels,
					summary: fmt.Sprintf("%d background jobs are DEAD (out of attempts); see ListJobs with state DEAD", int64(dead)),
					value:   dead,
				})
			}
			if r.ErrorRatioAbove > 0 && s.ErrorRatio > r.ErrorRatioAbove {
				obs = append(obs, observation{
					rule: "error_rate", severity: SeverityCritical, labels: map[string]string{"service": s.Service},
					summary: fmt.Sprintf("%s: %.1f%% of RPCs failed over 5 min", s.Service, 100*s.ErrorRatio),
					value:   s.ErrorRatio, threshold: r.ErrorRatioAbove,
				})
			}
			if r.P95Above > 0 && s.HaveLatencies && s.P95 > r.P95Above {
				obs = append(obs, observation{
					rule: "latency_p95", severity: SeverityWarning, labels: map[string]string{"service": s.Service},
					summary: fmt.Sprintf("%s: p95 latency %s over 5 min", s.Service, s.P95),
					value:   s.P95.Seconds(), threshold: r.P95Above.Seconds(),
				})
			}
		}
	}
	chains, _ := e.svc.ChainStatus(0)
	for _, c := range chains {
		labels := map[string]string{"chain_id": strconv.FormatUint(c.ChainID, 10), "chain": c.Name}
		if r.ChainFailing && c.LastError != "" {
			obs = append(obs, observation{
				rule: "chain_rpc_failing", severity: SeverityCritical, labels: labels,
				summary: fmt.Sprintf("chain %s RPC failing: %s", c.Name, c.LastError),
				value:   c.ErrorRatio,
			})
		}
		if r.ChainHeadAgeAbove > 0 && c.HasHead && c.BlockAge > r.ChainHeadAgeAbove {
			obs = append(obs, observation{
				rule: "chain_head_lagging", severity: SeverityWarning, labels: labels,
				summary: fmt.Sprintf("chain %s head block %d is %s old", c.Name, c.HeadNumber, c.BlockAge.Round(time.Second)),
				value:   c.BlockAge.Seconds(), threshold: r.ChainHeadAgeAbove.Seconds(),
			})
		}
		if r.BaseFeeAboveWei != nil && c.BaseFee != nil && c.BaseFee.Cmp(r.BaseFeeAboveWei) > 0 {
			v, _ := new(big.Float).SetInt(c.BaseFee).Float64()
			th, _ := new(big.Float).SetInt(r.BaseFeeAboveWei).Float64()
			obs = append(obs, observation{
				rule: "gas_price_high", severity: SeverityInfo, labels: labels,
				summary: fmt.Sprintf("chain %s base fee %s wei", c.Name, c.BaseFee),
				value:   v, threshold: th,
			})
		}
	}
	return obs
}

// evaluate fires new alerts, refreshes firing ones and resolves the rest.
// It returns the alerts that started firing or resolved (copies), for
// notify.
func (e *alertEngine) evaluate(now time.Time) (transitions []Alert) {
	e.mu.Lock()
	defer e.mu.Unlock()
	obs := e.observe(now)
	seen := make(map[string]bool, len(obs))
	for _, o := range obs {
		k := alertKey(o.rule, o.labels)
		seen[k] = true
		a, ok := e.firing[k]
		if !ok {
			e.seq++
			a = &Alert{ID: fmt.Sprintf("a%d-%d", now.UnixMilli(), e.seq), Rule: o.rule, Severity: o.severity, Labels: o.labels, Start: now}
			e.firing[k] = a
			e.svc.logger.Warn("alert firing", "rule", o.rule, "labels", o.labels, "summary", o.summary)
		}
		a.Summary, a.Value, a.Threshold, a.LastEval = o.summary, o.value, o.threshold, now
		if !ok {
			c := *a
			c.Labels = maps.Clone(a.Labels)
			transitions = append(transitions, c)
		}
	}
	for k, a := range e.firing {
		if seen[k] {
			continue
		}
		delete(e.firing, k)
		a.End, a.LastEval = now, now
		e.resolved = append(e.resolved, *a)
		e.svc.logger.Info("alert resolved", "rule", a.Rule, "labels", a.Labels)
		c := *a
		c.Labels = maps.Clone(a.Labels)
		transitions = append(transitions, c)
	}
	cut := 0
	for cut < len(e.resolved) && (len(e.resolved)-cut > maxResolvedAlerts || now.Sub(e.resolved[cut].End) > e.rules.ResolvedRetention) {
		cut++
	}
	e.resolved = e.resolved[cut:]
	return transitions
}

// list returns firing alerts (newest first) then resolved ones (most
// recently resolved first).
func (e *alertEngine) list() (alerts []Alert, firing int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, a := range e.firing {
		c := *a
		c.Labels = maps.Clone(a.Labels)
		alerts = append(alerts, c)
	}
	sort.Slice(alerts, func(i, j int) bool {
		if !alerts[i].Start.Equal(alerts[j].Start) {
			return alerts[i].Start.After(alerts[j].Start)
		}
		return alerts[i].ID > alerts[j].ID
	})
	firing = len(alerts)
	for i := len(e.resolved) - 1; i >= 0; i-- {
		alerts = append(alerts, e.resolved[i])
	}
	return alerts, firing
}

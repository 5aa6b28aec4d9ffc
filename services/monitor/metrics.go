package monitor

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/streamgate/streamgate/internal/registry"
)

// Metrics scraping defaults.
const (
	defaultScrapeInterval = 15 * time.Second
	defaultMetricsWindow  = 5 * time.Minute
	maxMetricsWindow      = time.Hour
	maxScrapeBytes        = 16 << 20
	// rpcDurationMetric is otelconnect's server call duration histogram
	// (rpc.server.call.duration, seconds) as the Prometheus exporter names it.
	rpcDurationMetric = "rpc_server_call_duration_seconds"
	rpcStatusLabel    = "rpc_response_status_code"
)

// serverFaultCodes are the RPC outcomes counted as errors: the server's
// fault, not the caller's (NotFound, InvalidArgument... are not errors).
var serverFaultCodes = map[string]bool{
	"UNKNOWN": true, "INTERNAL": true, "UNAVAILABLE": true, "DEADLINE_EXCEEDED": true,
	"DATA_LOSS": true, "UNIMPLEMENTED": true,
}

// HTTPDoer fetches an instance's /metrics (an *http.Client).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// rpcSample is the cumulative RPC histogram of one instance at one scrape,
// summed over methods.
type rpcSample struct {
	at      time.Time
	count   float64
	errors  float64
	buckets map[float64]float64 // upper bound -> cumulative count
	// domain holds the inputs of the key figures (see figures.go).
	domain map[string]float64
}

// ServiceMetrics summarizes one service over a window.
type ServiceMetrics struct {
	Service       string
	Instances     int
	RequestsPerS  float64
	ErrorRatio    float64
	P50, P95      time.Duration
	HaveLatencies bool
	// Figures are the service's key domain figures (see figureSpecs); a
	// figure no instance reported is absent.
	Figures map[string]float64
}

// metricsScraper scrapes the metrics of every registered instance (metricsURL).
type metricsScraper struct {
	src       InstanceSource
	clientFor func(service string) HTTPDoer
	every     time.Duration
	timeout   time.Duration

	mu      sync.Mutex
	samples map[string][]rpcSample // instance id -> samples, oldest first
	service map[string]string      // instance id -> service
	last    time.Time
}

func (m *metricsScraper) run(ctx context.Context) {
	t := time.NewTicker(m.every)
	defer t.Stop()
	for {
		m.scrapeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *metricsScraper) scrapeAll(ctx context.Context) {
	insts := m.src.All()
	var g errgroup.Group
	g.SetLimit(8)
	results := make([]*rpcSample, len(insts))
	for i, inst := range insts {
		g.Go(func() error {
			s, err := m.scrape(ctx, inst)
			if err == nil {
				results[i] = s
			}
			return nil
		})
	}
	_ = g.Wait()
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	live := make(map[string]bool, len(insts))
	for i, inst := range insts {
		live[inst.ID] = true
		m.service[inst.ID] = inst.Service
		if results[i] == nil {
			continue
		}
		ss := append(m.samples[inst.ID], *results[i])
		cut := 0
		for cut < len(ss)-1 && now.Sub(ss[cut].at) > maxMetricsWindow+m.every {
			cut++
		}
		m.samples[inst.ID] = ss[cut:]
	}
	for id := range m.samples {
		if !live[id] {
			delete(m.samples, id)
			delete(m.service, id)
		}
	}
	m.last = now
}

func (m *metricsScraper) scrape(ctx context.Context, inst registry.Instance) (*rpcSample, error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL(inst), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	res, err := m.clientFor(inst.Service).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(res.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	s := &rpcSample{at: time.Now(), buckets: make(map[float64]float64), domain: extractDomain(fams)}
	if fam := fams[rpcDurationMetric]; fam != nil && fam.GetType() == dto.MetricType_HISTOGRAM {
		for _, mt := range fam.GetMetric() {
			h := mt.GetHistogram()
			n := float64(h.GetSampleCount())
			s.count += n
			if serverFaultCodes[labelValue(mt, rpcStatusLabel)] {
				s.errors += n
			}
			for _, b := range h.GetBucket() {
				s.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			}
		}
	}
	return s, nil
}

// metricsURL is where an instance's own metrics are: on its process's admin
// listener, under the service's name (internal/admin). An instance
// registered without one (a release before the admin listener) served them
// on its own listener.
func metricsURL(inst registry.Instance) string {
	if inst.Admin != "" {
		return "http://" + inst.Admin + "/metrics/" + url.PathEscape(inst.Service)
	}
	return "http://" + inst.Address + "/metrics"
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// summary computes per-service figures over window from the samples.
func (m *metricsScraper) summary(window time.Duration) ([]ServiceMetrics, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type acc struct {
		sm      ServiceMetrics
		count   float64
		errors  float64
		buckets map[float64]float64
		figures *figureAcc
	}
	by := make(map[string]*acc)
	for id, ss := range m.samples {
		svc := m.service[id]
		a := by[svc]
		if a == nil {
			a = &acc{sm: ServiceMetrics{Service: svc}, buckets: make(map[float64]float64), figures: newFigureAcc()}
			by[svc] = a
		}
		a.sm.Instances++
		if len(ss) < 2 {
			if len(ss) == 1 {
				a.figures.addInstance(ss[0].domain, nil, 0)
			}
			continue
		}
		newest := ss[len(ss)-1]
		base := ss[len(ss)-2]
		for i := len(ss) - 2; i >= 0 && newest.at.Sub(ss[i].at) <= window; i-- {
			base = ss[i]
		}
		dt := newest.at.Sub(base.at).Seconds()
		a.figures.addInstance(newest.domain, base.domain, dt)
		if dt <= 0 {
			continue
		}
		dc, de := newest.count-base.count, newest.errors-base.errors
		reset := dc < 0
		if reset { // the instance restarted: count from zero
			dc, de = newest.count, newest.errors
		}
		a.sm.RequestsPerS += dc / dt
		a.count += dc
		a.errors += de
		for ub, c := range newest.buckets {
			if !reset {
				c -= base.buckets[ub]
			}
			a.buckets[ub] += c
		}
	}
	out := make([]ServiceMetrics, 0, len(by))
	for _, a := range by {
		a.sm.Figures = a.figures.figures()
		if a.count > 0 {
			a.sm.ErrorRatio = a.errors / a.count
			a.sm.P50 = quantile(0.5, a.buckets, a.count)
			a.sm.P95 = quantile(0.95, a.buckets, a.count)
			a.sm.HaveLatencies = true
		}
		out = append(out, a.sm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, m.last
}

// quantile estimates the q-quantile from cumulative buckets by linear
// interpolation inside the bucket, as Prometheus' histogram_quantile does.
func quantile(q float64, buckets map[float64]float64, total float64) time.Duration {
	bounds := make([]float64, 0, len(buckets))
	for ub := range buckets {
		bounds = append(bounds, ub)
	}
	sort.Float64s(bounds)
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, ub := range bounds {
		c := buckets[ub]
		if c >= rank {
			if math.IsInf(ub, 1) {
				return seconds(prevBound) // beyond the last bound: report it
			}
			if c == prevCount {
				return seconds(ub)
			}
			return seconds(prevBound + (ub-prevBound)*(rank-prevCount)/(c-prevCount))
		}
		prevBound, prevCount = ub, c
	}
	return seconds(prevBound)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

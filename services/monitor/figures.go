package monitor

import (
	dto "github.com/prometheus/client_model/go"
)

// domainSeries is one input of the key figures: the samples of a Prometheus
// family (as the services' OpenTelemetry instruments are exported), summed
// over those whose label matches. A histogram gives its count, or its sum
// with histSum.
type domainSeries struct {
	family       string
	label, value string // empty label: every sample
	histSum      bool
}

// Inputs of the figures, by key. The names are those the Prometheus
// exporter gives the instruments in services/*/metrics.go.
var domainInputs = map[string]domainSeries{
	"upload.bytes":     {family: "streamgate_upload_bytes_total"},
	"upload.completed": {family: "streamgate_upload_finished_total", label: "outcome", value: "completed"},
	"upload.failed":    {family: "streamgate_upload_finished_total", label: "outcome", value: "failed"},

	"transcode.depth":      {family: "streamgate_transcode_queue_depth"},
	"transcode.age":        {family: "streamgate_transcode_queue_oldest_age_seconds"},
	"transcode.busy":       {family: "streamgate_transcode_workers_busy"},
	"transcode.succeeded":  {family: "streamgate_transcode_jobs_finished_total", label: "state", value: "succeeded"},
	"transcode.failed":     {family: "streamgate_transcode_jobs_finished_total", label: "state", value: "failed"},
	"transcode.speedCount": {family: "streamgate_transcode_speed"},
	"transcode.speedSum":   {family: "streamgate_transcode_speed", histSum: true},

	"streaming.segment":  {family: "streamgate_streaming_served_bytes_total", label: "kind", value: "segment"},
	"streaming.manifest": {family: "streamgate_streaming_served_bytes_total", label: "kind", value: "manifest"},
	"streaming.refused":  {family: "streamgate_streaming_refusals_total"},

	"auth.allowed": {family: "streamgate_auth_access_decisions_total", label: "decision", value: "allowed"},
	"auth.denied":  {family: "streamgate_auth_access_decisions_total", label: "decision", value: "denied"},
	"auth.signIns": {family: "streamgate_auth_sign_ins_total"},

	"cache.hits":   {family: "streamgate_cache_hits_total"},
	"cache.misses": {family: "streamgate_cache_misses_total"},

	"worker.dead":     {family: "streamgate_worker_jobs", label: "state", value: "dead"},
	"worker.queued":   {family: "streamgate_worker_jobs", label: "state", value: "queued"},
	"worker.running":  {family: "streamgate_worker_jobs", label: "state", value: "running"},
	"worker.retrying": {family: "streamgate_worker_jobs", label: "state", value: "retrying"},
}

// figureKind says how a figure combines the instances' inputs.
type figureKind int

const (
	// figRate: per-second increase of a counter over the window, summed.
	figRate figureKind = iota
	// figTotal: the counter's current value, summed over live instances.
	figTotal
	// figMax: the largest current value. For gauges of shared state (the
	// transcode queue, the worker's job bucket) every instance reports the
	// same figure: summing would multiply it.
	figMax
	// figSum: current values summed (per-instance gauges).
	figSum
	// figRatio: increase of a over the increase of a+b, over the window.
	figRatio
	// figMean: increase of a over the increase of b, over the window.
	figMean
)

type figureSpec struct {
	name string
	kind figureKind
	a, b string // inputs
}

// figureSpecs are the figures GetMetrics reports (see ServiceMetrics.figures
// in the contract for the naming).
var figureSpecs = []figureSpec{
	{"upload_bytes_per_second", figRate, "upload.bytes", ""},
	{"upload_bytes_total", figTotal, "upload.bytes", ""},
	{"uploads_completed_total", figTotal, "upload.completed", ""},
	{"uploads_failed_total", figTotal, "upload.failed", ""},

	{"transcode_queue_depth", figMax, "transcode.depth", ""},
	{"transcode_queue_oldest_age_seconds", figMax, "transcode.age", ""},
	{"transcode_workers_busy", figSum, "transcode.busy", ""},
	{"transcode_jobs_succeeded_total", figTotal, "transcode.succeeded", ""},
	{"transcode_jobs_failed_total", figTotal, "transcode.failed", ""},
	{"transcode_speed_x_realtime", figMean, "transcode.speedSum", "transcode.speedCount"},

	{"segment_bytes_per_second", figRate, "streaming.segment", ""},
	{"manifest_bytes_per_second", figRate, "streaming.manifest", ""},
	{"playback_refusals_per_second", figRate, "streaming.refused", ""},

	{"access_allowed_per_second", figRate, "auth.allowed", ""},
	{"access_denied_per_second", figRate, "auth.denied", ""},
	{"sign_ins_per_second", figRate, "auth.signIns", ""},

	{"cache_hit_ratio", figRatio, "cache.hits", "cache.misses"},

	{"worker_jobs_dead", figMax, "worker.dead", ""},
	{"worker_jobs_queued", figMax, "worker.queued", ""},
	{"worker_jobs_running", figMax, "worker.running", ""},
	{"worker_jobs_retrying", figMax, "worker.retrying", ""},
}

// Figure names the alert rules read.
const (
	figureQueueAge = "transcode_queue_oldest_age_seconds"
	figureDeadJobs = "worker_jobs_dead"
)

// extractDomain reads the figure inputs from one scrape; an input is present
// only if its family had a matching sample.
func extractDomain(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := make(map[string]float64)
	for key, in := range domainInputs {
		fam := fams[in.family]
		if fam == nil {
			continue
		}
		var v float64
		found := false
		for _, m := range fam.GetMetric() {
			if in.label != "" && labelValue(m, in.label) != in.value {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			case m.Histogram != nil && in.histSum:
				v += m.GetHistogram().GetSampleSum()
			case m.Histogram != nil:
				v += float64(m.GetHistogram().GetSampleCount())
			case m.Untyped != nil:
				v += m.GetUntyped().GetValue()
			}
		}
		if found {
			out[key] = v
		}
	}
	return out
}

// figureAcc gathers one service's figure inputs over its instances.
type figureAcc struct {
	rate    map[string]float64 // per-second increase, summed
	delta   map[string]float64 // increase over the window, summed
	current map[string]float64 // newest value, summed
	max     map[string]float64 // newest value, max
	seen    map[string]bool    // reported by some instance
	hasRate map[string]bool    // some instance had two samples
}

func newFigureAcc() *figureAcc {
	return &figureAcc{
		rate: map[string]float64{}, delta: map[string]float64{}, current: map[string]float64{},
		max: map[string]float64{}, seen: map[string]bool{}, hasRate: map[string]bool{},
	}
}

// addInstance adds one instance's newest sample and, when it has an older
// one in the window (base, dt > 0), its increases. A counter that went
// down was reset by a restart: its increase counts from zero.
func (f *figureAcc) addInstance(newest map[string]float64, base map[string]float64, dt float64) {
	for k, v := range newest {
		if !f.seen[k] || v > f.max[k] {
			f.max[k] = v
		}
		f.seen[k] = true
		f.current[k] += v
		if base == nil || dt <= 0 {
			continue
		}
		d := v - base[k]
		if d < 0 {
			d = v
		}
		f.delta[k] += d
		f.rate[k] += d / dt
		f.hasRate[k] = true
	}
}

// figures computes the figures whose inputs were reported.
func (f *figureAcc) figures() map[string]float64 {
	out := make(map[string]float64)
	for _, s := range figureSpecs {
		switch s.kind {
		case figRate:
			if f.hasRate[s.a] {
				out[s.name] = f.rate[s.a]
			}
		case figTotal, figSum:
			if f.seen[s.a] {
				out[s.name] = f.current[s.a]
			}
		case figMax:
			if f.seen[s.a] {
				out[s.name] = f.max[s.a]
			}
		case figRatio:
			// No traffic in the window leaves the ratio undefined: absent.
			if n := f.delta[s.a] + f.delta[s.b]; n > 0 {
				out[s.name] = f.delta[s.a] / n
			}
		case figMean:
			if n := f.delta[s.b]; n > 0 {
				out[s.name] = f.delta[s.a] / n
			}
		}
	}
	return out
}

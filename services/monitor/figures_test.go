package monitor

import (
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestExtractDomain(t *testing.T) {
	const text = `# TYPE streamgate_upload_bytes_total counter
streamgate_upload_bytes_total{otel_scope_name="x"} 100
# TYPE streamgate_transcode_jobs_finished_total counter
streamgate_transcode_jobs_finished_total{state="succeeded"} 3
streamgate_transcode_jobs_finished_total{state="canceled"} 2
# TYPE streamgate_transcode_speed histogram
streamgate_transcode_speed_bucket{le="1"} 1
streamgate_transcode_speed_bucket{le="+Inf"} 2
streamgate_transcode_speed_sum 5
streamgate_transcode_speed_count 2
# TYPE streamgate_worker_jobs gauge
streamgate_worker_jobs{state="dead"} 0
`
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got := extractDomain(fams)
	want := map[string]float64{
		"upload.bytes": 100, "transcode.succeeded": 3, "transcode.speedCount": 2, "transcode.speedSum": 5, "worker.dead": 0,
	}
	if len(got) != len(want) {
		t.Errorf("extracted %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestSummaryFigures(t *testing.T) {
	now := time.Now()
	sample := func(ago time.Duration, domain map[string]float64) rpcSample {
		return rpcSample{at: now.Add(-ago), buckets: map[float64]float64{}, domain: domain}
	}
	m := &metricsScraper{
		samples: map[string][]rpcSample{
			"t1": {
				sample(10*time.Second, map[string]float64{"transcode.depth": 4, "transcode.age": 30, "transcode.busy": 1, "transcode.speedSum": 2, "transcode.speedCount": 1}),
				sample(0, map[string]float64{"transcode.depth": 5, "transcode.age": 40, "transcode.busy": 2, "transcode.speedSum": 8, "transcode.speedCount": 3}),
			},
			"t2": {sample(0, map[string]float64{"transcode.depth": 5, "transcode.age": 41, "transcode.busy": 1})},
			"c1": {
				sample(10*time.Second, map[string]float64{"cache.hits": 10, "cache.misses": 10}),
				sample(0, map[string]float64{"cache.hits": 40, "cache.misses": 20}),
			},
			"c2": { // restarted: its counters start again from zero
				sample(10*time.Second, map[string]float64{"cache.hits": 500, "cache.misses": 500}),
				sample(0, map[string]float64{"cache.hits": 10, "cache.misses": 0}),
			},
			"u1": {
				sample(20*time.Second, map[string]float64{"upload.bytes": 0}),
				sample(0, map[string]float64{"upload.bytes": 2000}),
			},
			"q": {sample(0, nil)}, // a service without figures
		},
		service: map[string]string{"t1": "transcoder", "t2": "transcoder", "c1": "cache", "c2": "cache", "u1": "upload", "q": "metadata"},
	}
	sums, _ := m.summary(time.Minute)
	by := map[string]map[string]float64{}
	for _, s := range sums {
		by[s.Service] = s.Figures
	}
	for _, tt := range []struct {
		service, figure string
		want            float64
	}{
		{"transcoder", "transcode_queue_depth", 5},                 // shared queue: max, not sum
		{"transcoder", "transcode_queue_oldest_age_seconds", 41},   // max
		{"transcoder", "transcode_workers_busy", 3},                // per instance: sum
		{"transcoder", "transcode_speed_x_realtime", (8 - 2) / 2.}, // over the window
		{"cache", "cache_hit_ratio", (30 + 10) / (40 + 10 + 0.)},
		{"upload", "upload_bytes_per_second", 100},
		{"upload", "upload_bytes_total", 2000},
	} {
		got, ok := by[tt.service][tt.figure]
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s %s = %v (present %v), want %v", tt.service, tt.figure, got, ok, tt.want)
		}
	}
	if len(by["metadata"]) != 0 {
		t.Errorf("metadata figures %v, want none", by["metadata"])
	}
	if _, ok := by["upload"]["uploads_failed_total"]; ok {
		t.Error("a figure no instance reported is present")
	}
}

func TestQueueAgeAndDeadJobRules(t *testing.T) {
	svc, err := New(Config{Alerts: AlertRules{TranscodeQueueAgeAbove: time.Minute, DeadJobs: true}},
		newFakeSource(), (&fakeProbe{answers: map[string]string{}}).probe, slog.New(slog.DiscardHandler), WithMetricsClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	set := func(id, service string, domain map[string]float64) {
		svc.metrics.samples[id] = []rpcSample{{at: now, buckets: map[float64]float64{}, domain: domain}}
		svc.metrics.service[id] = service
	}
	firing := func(at time.Time) map[string]Alert {
		svc.alerts.evaluate(at)
		alerts, _ := svc.alerts.list()
		out := map[string]Alert{}
		for _, a := range alerts {
			if a.Firing() {
				out[a.Rule] = a
			}
		}
		return out
	}

	// Below the thresholds: nothing.
	set("t1", "transcoder", map[string]float64{"transcode.age": 59, "transcode.depth": 1})
	set("w1", "worker", map[string]float64{"worker.dead": 0})
	if got := firing(now); len(got) != 0 {
		t.Fatalf("firing %v, want none", got)
	}

	set("t1", "transcoder", map[string]float64{"transcode.age": 61, "transcode.depth": 1})
	set("w1", "worker", map[string]float64{"worker.dead": 2})
	got := firing(now.Add(time.Second))
	q, d := got["transcode_queue_stale"], got["worker_dead_jobs"]
	if len(got) != 2 || q.Value != 61 || q.Threshold != 60 || q.Labels["service"] != "transcoder" || d.Value != 2 || d.Threshold != 0 {
		t.Fatalf("firing %+v", got)
	}
	if !strings.Contains(d.Summary, "2 background jobs are DEAD") {
		t.Errorf("summary %q", d.Summary)
	}

	// The queue drains and the dead jobs are retried: both resolve.
	set("t1", "transcoder", map[string]float64{"transcode.age": 0, "transcode.depth": 0})
	set("w1", "worker", map[string]float64{"worker.dead": 0})
	if got := firing(now.Add(2 * time.Second)); len(got) != 0 {
		t.Fatalf("still firing %v", got)
	}
	alerts, n := svc.alerts.list()
	if n != 0 || len(alerts) != 2 {
		t.Fatalf("after recovery: firing %d, %+v", n, alerts)
	}
	for _, a := range alerts {
		if !a.End.Equal(now.Add(2 * time.Second)) {
			t.Errorf("not resolved at the evaluation: %+v", a)
		}
	}
}

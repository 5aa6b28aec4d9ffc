package monitor

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	b := map[float64]float64{0.1: 50, 0.2: 90, 1: 100, math.Inf(1): 100}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 100 * time.Millisecond},
		{0.25, 50 * time.Millisecond},
		{0.7, 150 * time.Millisecond},
		{0.95, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := quantile(tt.q, b, 100); (got - tt.want).Abs() > time.Microsecond {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(0.99, map[float64]float64{1: 0, math.Inf(1): 10}, 10); got != time.Second {
		t.Errorf("beyond last bound: %v, want the last finite bound", got)
	}
}

func TestSummaryRateAndCounterReset(t *testing.T) {
	now := time.Now()
	m := &metricsScraper{
		samples: map[string][]rpcSample{
			"a": {
				{at: now.Add(-20 * time.Second), count: 100, errors: 10, buckets: map[float64]float64{1: 100}},
				{at: now.Add(-10 * time.Second), count: 200, errors: 10, buckets: map[float64]float64{1: 200}},
			},
			"b": { // restarted between scrapes
				{at: now.Add(-10 * time.Second), count: 500, buckets: map[float64]float64{1: 500}},
				{at: now, count: 10, errors: 5, buckets: map[float64]float64{1: 10}},
			},
			"c": {{at: now, count: 1}}, // one scrape: counted, no rate
		},
		service: map[string]string{"a": "up", "b": "up", "c": "up"},
	}
	sums, _ := m.summary(time.Minute)
	if len(sums) != 1 {
		t.Fatalf("%v", sums)
	}
	s := sums[0]
	if s.Instances != 3 || math.Abs(s.RequestsPerS-(10+1)) > 1e-9 || math.Abs(s.ErrorRatio-5.0/110) > 1e-9 {
		t.Errorf("summary %+v", s)
	}
}

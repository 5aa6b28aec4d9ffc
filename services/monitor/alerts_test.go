package monitor

import (
	"log/slog"
	"math/big"
	"net/http"
	"testing"
	"time"
)

func TestMetricAndChainRules(t *testing.T) {
	svc, err := New(Config{
		Chains: map[uint64]string{1: "https://rpc.example/v3/KEY"},
		Alerts: AlertRules{
			ErrorRatioAbove:   0.05,
			P95Above:          time.Second,
			ChainFailing:      true,
			ChainHeadAgeAbove: time.Minute,
			BaseFeeAboveWei:   big.NewInt(100),
		},
	}, newFakeSource(), (&fakeProbe{answers: map[string]string{}}).probe, slog.New(slog.DiscardHandler), WithMetricsClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	svc.metrics.samples["a"] = []rpcSample{
		{at: now.Add(-time.Minute), buckets: map[float64]float64{}},
		{at: now, count: 100, errors: 10, buckets: map[float64]float64{0.5: 10, 2: 20, 5: 100}},
	}
	svc.metrics.service["a"] = "upload"
	p := svc.chains[1]
	p.state.HasHead, p.state.HeadNumber, p.state.HeadTime = true, 7, now.Add(-time.Hour)
	p.state.BaseFee = big.NewInt(101)
	p.state.LastError = "head block: timeout"

	svc.alerts.evaluate(now)
	alerts, firing := svc.alerts.list()
	got := map[string]Alert{}
	for _, a := range alerts {
		got[a.Rule] = a
	}
	for _, rule := range []string{"error_rate", "latency_p95", "chain_rpc_failing", "chain_head_lagging", "gas_price_high"} {
		if _, ok := got[rule]; !ok {
			t.Errorf("rule %s did not fire (alerts %+v)", rule, alerts)
		}
	}
	if firing != 5 || got["error_rate"].Labels["service"] != "upload" || got["gas_price_high"].Labels["chain_id"] != "1" {
		t.Errorf("firing %d: %+v", firing, alerts)
	}

	// Everything recovers.
	svc.metrics.samples["a"] = append(svc.metrics.samples["a"], rpcSample{at: now.Add(time.Second), count: 100, errors: 10, buckets: map[float64]float64{0.5: 10, 2: 20, 5: 100}})
	svc.metrics.samples["a"] = svc.metrics.samples["a"][1:]
	p.state.HeadTime, p.state.BaseFee, p.state.LastError = time.Now(), big.NewInt(5), ""
	svc.alerts.evaluate(now.Add(time.Second))
	alerts, firing = svc.alerts.list()
	if firing != 0 || len(alerts) != 5 {
		t.Fatalf("after recovery: firing %d, %+v", firing, alerts)
	}
	for _, a := range alerts {
		if a.Firing() || !a.End.Equal(now.Add(time.Second)) {
			t.Errorf("not resolved: %+v", a)
		}
	}
}

package monitor

import (
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseAlertRules(t *testing.T) {
	r, err := ParseAlertRules([]byte(`{"instance_down_for":"5s","p95_above":"0s","dead_jobs":false,"base_fee_above_gwei":1.5,"error_ratio_above":0.1}`), DefaultAlertRules())
	if err != nil {
		t.Fatal(err)
	}
	if r.InstanceDownFor != 5*time.Second || r.P95Above != 0 || r.DeadJobs || r.ErrorRatioAbove != 0.1 {
		t.Errorf("parsed rules = %+v", r)
	}
	if r.BaseFeeAboveWei.Cmp(big.NewInt(1_500_000_000)) != 0 {
		t.Errorf("base fee = %v wei, want 1.5 gwei", r.BaseFeeAboveWei)
	}
	// Absent fields keep the defaults.
	if d := DefaultAlertRules(); r.TranscodeQueueAgeAbove != d.TranscodeQueueAgeAbove || r.ChainFailing != d.ChainFailing {
		t.Errorf("defaults not kept: %+v", r)
	}
	for in, want := range map[string]string{
		`{"instance_down_fr":"5s"}`:  "unknown field",
		`{"p95_above":"soon"}`:       "not a duration",
		`{"p95_above":"-1s"}`:        "not a duration",
		`{"error_ratio_above":1.5}`:  "[0, 1)",
		`{"base_fee_above_gwei":-1}`: "negative",
		`[]`:                         "alert rules",
	} {
		if _, err := ParseAlertRules([]byte(in), DefaultAlertRules()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAlertRules(%s) = %v, want an error with %q", in, err, want)
		}
	}
}

package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// DefaultAlertRules are the rules `streamgate serve` and `dev` evaluate
// unless a rules file says otherwise: thresholds a small deployment would
// page on.
func DefaultAlertRules() AlertRules {
	return AlertRules{
		InstanceDownFor:        30 * time.Second,
		ErrorRatioAbove:        0.05,
		P95Above:               2 * time.Second,
		TranscodeQueueAgeAbove: 10 * time.Minute,
		DeadJobs:               true,
		ChainFailing:           true,
		ChainHeadAgeAbove:      2 * time.Minute,
		BaseFeeAboveWei:        new(big.Int).Mul(big.NewInt(200), big.NewInt(1e9)), // 200 gwei
	}
}

// alertRulesFile is the JSON form of AlertRules. Durations are Go duration
// strings ("30s", "10m"); "0s", 0 or false turns a rule off; an absent
// field keeps the default.
type alertRulesFile struct {
	InstanceDownFor        *string  `json:"instance_down_for"`
	ErrorRatioAbove        *float64 `json:"error_ratio_above"`
	P95Above               *string  `json:"p95_above"`
	TranscodeQueueAgeAbove *string  `json:"transcode_queue_age_above"`
	DeadJobs               *bool    `json:"dead_jobs"`
	ChainFailing           *bool    `json:"chain_failing"`
	ChainHeadAgeAbove      *string  `json:"chain_head_age_above"`
	BaseFeeAboveGwei       *float64 `json:"base_fee_above_gwei"`
	Interval               *string  `json:"interval"`
	ResolvedRetention      *string  `json:"resolved_retention"`
}

// ParseAlertRules reads a rules file (see alertRulesFile) over base.
// Unknown fields are an error, so a typo does not silently keep a default.
func ParseAlertRules(data []byte, base AlertRules) (AlertRules, error) {
	var f alertRulesFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return AlertRules{}, fmt.Errorf("alert rules: %w", err)
	}
	r := base
	for _, d := range []struct {
		name string
		in   *string
		out  *time.Duration
	}{
		{"instance_down_for", f.InstanceDownFor, &r.InstanceDownFor},
		{"p95_above", f.P95Above, &r.P95Above},
		{"transcode_queue_age_above", f.TranscodeQueueAgeAbove, &r.TranscodeQueueAgeAbove},
		{"chain_head_age_above", f.ChainHeadAgeAbove, &r.ChainHeadAgeAbove},
		{"interval", f.Interval, &r.Interval},
		{"resolved_retention", f.ResolvedRetention, &r.ResolvedRetention},
	} {
		if d.in == nil {
			continue
		}
		v, err := time.ParseDuration(*d.in)
		if err != nil || v < 0 {
			return AlertRules{}, fmt.Errorf("alert rules: %s: %q is not a duration such as \"30s\"", d.name, *d.in)
		}
		*d.out = v
	}
	if f.ErrorRatioAbove != nil {
		if *f.ErrorRatioAbove < 0 || *f.ErrorRatioAbove >= 1 {
			return AlertRules{}, fmt.Errorf("alert rules: error_ratio_above must be in [0, 1), e.g. 0.05 for 5%%")
		}
		r.ErrorRatioAbove = *f.ErrorRatioAbove
	}
	if f.DeadJobs != nil {
		r.DeadJobs = *f.DeadJobs
	}
	if f.ChainFailing != nil {
		r.ChainFailing = *f.ChainFailing
	}
	if f.BaseFeeAboveGwei != nil {
		switch g := *f.BaseFeeAboveGwei; {
		case g < 0:
			return AlertRules{}, fmt.Errorf("alert rules: base_fee_above_gwei must not be negative")
		case g == 0:
			r.BaseFeeAboveWei = nil
		default:
			wei, _ := new(big.Float).Mul(big.NewFloat(g), big.NewFloat(1e9)).Int(nil)
			r.BaseFeeAboveWei = wei
		}
	}
	return r, nil
}

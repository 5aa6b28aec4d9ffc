package upload

import (
	"bytes"
	"testing"

	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
	"github.com/streamgate/streamgate/internal/telemetry/telemetrytest"
)

// TestMetricsCountBytesAndOutcomes scrapes the instance's /metrics after a
// good and a bad upload: the bytes counter equals the bytes sent.
func TestMetricsCountBytesAndOutcomes(t *testing.T) {
	tel := telemetrytest.New(t, "upload")
	e := newEnv(t, envOptions{cfg: func(c *Config) { c.MeterProvider = tel.MeterProvider }})
	clip := testClip(t)
	good := e.create(alice, len(clip), "good")
	e.patchAll(good.GetTusUrl(), alice, clip, 0, 16<<10)
	e.waitState(alice, good.GetId(), uploadv1.UploadState_UPLOAD_STATE_COMPLETED)
	junk := bytes.Repeat([]byte("not a video\n"), 300)
	bad := e.create(alice, len(junk), "bad")
	e.patchAll(bad.GetTusUrl(), alice, junk, 0, 1<<20)
	e.waitState(alice, bad.GetId(), uploadv1.UploadState_UPLOAD_STATE_FAILED)

	fams := telemetrytest.Families(t, tel.MetricsHandler())
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"streamgate_upload_bytes_total", nil, float64(len(clip) + len(junk))},
		{"streamgate_upload_finished_total", []string{"outcome", "completed"}, 1},
		{"streamgate_upload_finished_total", []string{"outcome", "failed"}, 1},
	} {
		if got, ok := telemetrytest.Value(fams, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

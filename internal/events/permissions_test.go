package events_test

import (
	"slices"
	"testing"

	"github.com/streamgate/streamgate/internal/events"
)

func TestPublishDenied(t *testing.T) {
	cfgs, err := events.StreamConfigs()
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, c := range cfgs {
		all = append(all, c.Subjects...)
	}
	for _, tc := range []struct {
		service         string
		allowed, denied []string
	}{
		{"upload", []string{"upload.completed", "upload.failed", "log.record"}, []string{"transcode.completed", "transcode.progress", "video.ready", "session.revoked"}},
		{"transcoder", []string{"transcode.completed", "segment.ready", "log.record"}, []string{"upload.completed", "video.ready"}},
		{"auth", []string{"session.revoked", "ownership.changed", "log.record"}, []string{"upload.completed", "alert.transitioned"}},
		{"metadata", []string{"video.changed", "video.ready", "log.record"}, []string{"ownership.changed", "upload.completed"}},
		{"gateway", []string{"log.record"}, nil},
	} {
		denied, err := events.PublishDenied(tc.service)
		if err != nil {
			t.Fatalf("PublishDenied(%q): %v", tc.service, err)
		}
		for _, s := range tc.allowed {
			if slices.Contains(denied, s) {
				t.Errorf("PublishDenied(%q) denies %s, which its contract lets it publish", tc.service, s)
			}
		}
		for _, s := range tc.denied {
			if !slices.Contains(denied, s) {
				t.Errorf("PublishDenied(%q) = %v, want it to deny %s", tc.service, denied, s)
			}
		}
	}

	// A service that publishes nothing is denied every event but the one
	// everyone publishes.
	denied, err := events.PublishDenied("gateway")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(all, func(s string) bool { return s == "log.record" })
	slices.Sort(want)
	if !slices.Equal(denied, want) {
		t.Errorf("PublishDenied(gateway) = %v, want %v", denied, want)
	}
}

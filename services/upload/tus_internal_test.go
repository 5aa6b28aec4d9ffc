package upload

import (
	"net/http"
	"testing"
	"time"
)

// TestHeadWriterTakesDeadlines: tusd sets network deadlines on every
// request through http.ResponseController; HEAD's in-memory writer must
// accept them, or tusd logs two NetworkControlError warnings per resume
// check.
func TestHeadWriterTakesDeadlines(t *testing.T) {
	rc := http.NewResponseController(&headWriter{header: http.Header{}})
	if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Errorf("SetReadDeadline: %v, want nil", err)
	}
	if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Errorf("SetWriteDeadline: %v, want nil", err)
	}
}

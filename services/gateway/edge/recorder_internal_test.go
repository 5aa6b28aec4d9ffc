package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/streamgate/streamgate/internal/weborigin"
)

// Streaming's refusal of a page's origin (a public video's list) reaches
// the browser without the CORS headers the edge set for /play/, and
// without streaming's marker.
func TestRecorderDropsCORSOnOriginRefusal(t *testing.T) {
	for _, refused := range []bool{true, false} {
		w := httptest.NewRecorder()
		rec := &recorder{ResponseWriter: w}
		rec.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
		rec.Header().Set("Access-Control-Expose-Headers", "Content-Range")
		status := http.StatusOK
		if refused {
			rec.Header().Set(weborigin.RefusedHeader, "1")
			status = http.StatusForbidden
		}
		rec.WriteHeader(status)
		h := w.Result().Header
		if got := h.Get("Access-Control-Allow-Origin") != ""; got == refused {
			t.Errorf("refused=%v: Access-Control-Allow-Origin %q", refused, h.Get("Access-Control-Allow-Origin"))
		}
		if h.Get(weborigin.RefusedHeader) != "" {
			t.Errorf("refused=%v: the marker reached the client", refused)
		}
	}
}

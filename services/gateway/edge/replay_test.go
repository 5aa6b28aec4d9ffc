package edge

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/catalog"
)

// flaky fails its first round trip as an instance that dies mid-call does,
// then answers, and keeps every body it was sent.
type flaky struct {
	calls  int
	bodies []string
}

func (f *flaky) RoundTrip(r *http.Request) (*http.Response, error) {
	f.calls++
	b, _ := io.ReadAll(r.Body)
	f.bodies = append(f.bodies, string(b))
	if f.calls == 1 {
		return nil, errors.New("read: connection reset by peer")
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

// TestReplayIdempotentOnly: a read that failed without a response is sent
// again with the same body; a call with side effects is not.
func TestReplayIdempotentOnly(t *testing.T) {
	e := &Edge{cat: catalog.Default()}
	send := func(path, body string) *flaky {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://metadata"+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		e.replayable(req)
		f := &flaky{}
		_, _ = replayOnFailure{f}.RoundTrip(req)
		return f
	}
	f := send("/streamgate.metadata.v1.MetadataService/ListVideos", `{"pageSize":5}`)
	if f.calls != 2 || f.bodies[1] != `{"pageSize":5}` {
		t.Errorf("ListVideos: %d calls, bodies %q; want the same body twice", f.calls, f.bodies)
	}
	f = send("/streamgate.auth.v1.AuthService/SignIn", `{"message":"m"}`)
	if f.calls != 1 {
		t.Errorf("SignIn (not idempotent) was sent %d times", f.calls)
	}
	f = send("/streamgate.transcoder.v1.TranscoderService/WatchJob", `{}`)
	if f.calls != 1 {
		t.Errorf("a server stream was sent %d times", f.calls)
	}
}

package edge_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A licence request is a POST under /play/ with a JSON body: the edge
// admits it as any media request (the viewer's token, its origins) and
// passes method, body and Content-Type through to streaming; the preflight
// a cross-origin player sends first allows POST and Content-Type without
// credentials.
func TestPlayLicencePassesThrough(t *testing.T) {
	f := newFixture(t)
	const video = "vid_01HQZX3N5V8J2K4M6P8R0T2W4L"
	type seen struct{ method, path, contentType, body string }
	got := make(chan seen, 4)
	backend := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":[],"type":"temporary"}`)
	}))
	register(t, f.etcd, "streaming", backend)
	tok := f.originToken(t, video)
	const body = `{"kids":["8fHx8fHx8fHx8fHx8fHx8Q"],"type":"temporary"}`
	post := func() *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.edge+"/play/"+video+"/licence?token="+tok, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://creator.example")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res
	}
	// The mesh learns of the instance through its watch: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	res := post()
	for res.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		res = post()
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != "https://creator.example" {
		t.Fatalf("POST licence through the edge: %d, Allow-Origin %q; want 200 and the page's origin", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	select {
	case s := <-got:
		want := seen{http.MethodPost, "/play/" + video + "/licence", "application/json", body}
		if s != want {
			t.Errorf("streaming got %+v, want %+v", s, want)
		}
	default:
		t.Fatal("the licence request did not reach streaming")
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, f.edge+"/play/"+video+"/licence?token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://creator.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = pre.Body.Close()
	h := pre.Header
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("licence preflight: %d %v; want 204 allowing POST and Content-Type, no credentials", pre.StatusCode, h)
	}
}

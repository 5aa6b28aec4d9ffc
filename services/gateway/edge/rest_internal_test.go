package edge

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/streamgate/streamgate/internal/catalog"
)

func TestConnectErrorJSON(t *testing.T) {
	detail, _ := proto.Marshal(wrapperspb.String("why"))
	tests := []struct {
		name       string
		body       string
		status     int
		wantStatus int
		want       connectErrorBody
	}{
		{"status with a detail",
			`{"code":9,"message":"not yet","details":[{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"why"}]}`, 400,
			http.StatusPreconditionFailed,
			connectErrorBody{Code: "failed_precondition", Message: "not yet", Details: []connectErrorDetail{{Type: "google.protobuf.StringValue", Value: base64.RawStdEncoding.EncodeToString(detail)}}}},
		{"unknown detail type is dropped",
			`{"code":5,"message":"gone","details":[{"@type":"type.googleapis.com/no.Such","x":1}]}`, 404,
			http.StatusNotFound, connectErrorBody{Code: "not_found", Message: "gone"}},
		{"not a status", `oops`, 405, 405, connectErrorBody{Code: "not_found", Message: "oops"}},
		{"code out of range", `{"code":99,"message":"m"}`, 502, 502, connectErrorBody{Code: "unavailable", Message: "m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, status := connectErrorJSON([]byte(tt.body), tt.status)
			var got connectErrorBody
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(tt.want)
			if g, _ := json.Marshal(got); string(g) != string(want) || status != tt.wantStatus {
				t.Errorf("got %s %d, want %s %d", g, status, want, tt.wantStatus)
			}
		})
	}
}

// TestBodyRoutesUseGeneratedTypes: the body check decodes into the
// generated message types (dynamicpb is several times slower), and the
// routes with a body are found.
func TestBodyRoutesUseGeneratedTypes(t *testing.T) {
	e := &Edge{cat: catalog.Default()}
	routes := e.bodyRoutes()
	if len(routes) == 0 {
		t.Fatal("no REST route with a body in the catalog")
	}
	for _, br := range routes {
		if _, dynamic := br.msg.New().Interface().(*dynamicpb.Message); dynamic {
			t.Errorf("%s %v decodes into a dynamicpb message, want %s's generated type", br.method, br.segs, br.msg.Descriptor().FullName())
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return out
}

// TestRESTWriter: the held response goes out in one piece with its
// length, gzipped only past restGzipMinBytes and when accepted; errors
// get Connect's shape; a body past restBufferMax streams.
func TestRESTWriter(t *testing.T) {
	small := []byte(`{"video":{"id":"vid_1"}}`)
	large := []byte(`{"title":"` + strings.Repeat("x", 4<<10) + `"}`)
	huge := bytes.Repeat([]byte("y"), restBufferMax+restBufferMax/2)
	tests := []struct {
		name         string
		gzipOK       bool
		status       int
		contentType  string
		writes       [][]byte
		wantStatus   int
		wantEncoding string
		wantLength   bool
		wantBody     []byte
	}{
		{"small body stays plain", true, 200, "application/json", [][]byte{small}, 200, "", true, small},
		{"large body is gzipped", true, 200, "application/json", [][]byte{large[:100], large[100:]}, 200, "gzip", true, large},
		{"large body, gzip not accepted", false, 200, "application/json", [][]byte{large}, 200, "", true, large},
		{"error in Connect's shape", true, 404, "application/json", [][]byte{[]byte(`{"code":5,"message":"gone"}`)}, 404, "", true,
			[]byte(`{"code":"not_found","message":"gone"}`)},
		{"non-JSON error as is", true, 405, "text/plain", [][]byte{[]byte("no")}, 405, "", true, []byte("no")},
		{"huge body streams gzipped", true, 200, "application/json", [][]byte{huge[:restBufferMax-10], huge[restBufferMax-10:]}, 200, "gzip", false, huge},
		{"huge body streams plain", false, 200, "application/json", [][]byte{huge[:restBufferMax-10], huge[restBufferMax-10:]}, 200, "", false, huge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := newRESTWriter(rec, tt.gzipOK)
			w.Header().Set("Content-Type", tt.contentType)
			w.WriteHeader(tt.status)
			for _, p := range tt.writes {
				if _, err := w.Write(p); err != nil {
					t.Fatal(err)
				}
				w.Flush()
			}
			if !w.streaming && rec.Body.Len() > 0 {
				t.Fatalf("%d bytes written before the call ended", rec.Body.Len())
			}
			w.finish()
			res := rec.Result()
			if res.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tt.wantEncoding)
			}
			if got, want := res.Header.Get("Content-Length"), strconv.Itoa(rec.Body.Len()); tt.wantLength && got != want {
				t.Errorf("Content-Length = %q, want %q", got, want)
			}
			if !tt.wantLength && res.Header.Get("Content-Length") != "" {
				t.Errorf("Content-Length %q on a streamed body", res.Header.Get("Content-Length"))
			}
			body := rec.Body.Bytes()
			if tt.wantEncoding == "gzip" {
				body = gunzip(t, body)
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body = %.80q (%d bytes), want %.80q (%d bytes)", body, len(body), tt.wantBody, len(tt.wantBody))
			}
			if tt.status < 400 && !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary = %q, want Accept-Encoding", res.Header.Get("Vary"))
			}
		})
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, gzip;q=1.0, *;q=0.5", true},
		{"br, GZIP", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0", false},
		{"*", true},
		{"br, identity", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Accept-Encoding", tt.header)
		}
		if got := acceptsGzip(h); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// TestRESTTranscoderChoice: a REST GET with a long URL goes through the
// transcoder whose Connect calls are POSTs; the others through the one
// that keeps Connect GETs.
func TestRESTTranscoderChoice(t *testing.T) {
	e, err := New(Config{}, http.DefaultTransport, catalog.Default(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", restGetPostURLBytes)
	tests := []struct {
		method, target string
		wantPost       bool
	}{
		{http.MethodGet, "/v1/videos/vid_1", false},
		{http.MethodGet, "/v1/videos/" + long, true},
		{http.MethodGet, "/v1/videos?page_token=" + long, true},
		{http.MethodPatch, "/v1/videos/" + long, false}, // never a Connect GET anyway
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := e.transcoder(r) == e.restPost; got != tt.wantPost {
			t.Errorf("%s %.40s...: POST transcoder %v, want %v", tt.method, tt.target, got, tt.wantPost)
		}
	}
}

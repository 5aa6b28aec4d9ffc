package metadata

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	metadatav1 "github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/services/metadata/store/sqlstore"
)

const (
	alice    = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	bob      = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	contract = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
)

const waitTimeout = 15 * time.Second

// testWriter sends logs to the test output until the test ends.
type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(p), nil
	}
	return w.w.Write(p)
}

func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// recorder records what the service publishes and passes it on.
type recorder struct {
	next Publisher
	mu   sync.Mutex
	msgs []proto.Message
}

func (r *recorder) Publish(ctx context.Context, msg proto.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, proto.Clone(msg))
	r.mu.Unlock()
	return r.next.Publish(ctx, msg)
}

func (r *recorder) published() []proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]proto.Message(nil), r.msgs...)
}

type env struct {
	svc    *Service
	bus    *events.Bus
	rec    *recorder
	client metadatav1connect.MetadataServiceClient
}

// newEnv starts embedded NATS, a SQLite store and the service behind an
// httptest server whose identity interceptor runs in dev mode, so tests
// name the caller with headers.
func newEnv(t *testing.T) *env {
	t.Helper()
	logger := testLogger(t)
	_, bus := eventstest.Bus(t)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(Config{}, st, bus, logger)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: bus}
	svc.pub = rec
	path, h := svc.Handler(connect.WithInterceptors(identity.NewInterceptor(true)))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{svc: svc, bus: bus, rec: rec, client: metadatav1connect.NewMetadataServiceClient(srv.Client(), srv.URL)}
}

// caller names who sends a request: a wallet, "" for anonymous, or
// "operator".
func req[T any](who string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	switch who {
	case "":
	case "operator":
		r.Header().Set(identity.OperatorHeader, "true")
	default:
		r.Header().Set(identity.DevAddressHeader, who)
	}
	return r
}

func wantCode(t *testing.T, err error, code connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != code {
		t.Fatalf("error %v (code %v), want code %v", err, got, code)
	}
}

var reqSeq int

func (e *env) create(t *testing.T, creator, title string, mut ...func(*metadatav1.CreateVideoRequest)) *metadatav1.Video {
	t.Helper()
	reqSeq++
	m := &metadatav1.CreateVideoRequest{RequestId: fmt.Sprintf("req-%d", reqSeq), CreatorAddress: creator, Title: title, UploadId: "upl_test"}
	for _, f := range mut {
		f(m)
	}
	res, err := e.client.CreateVideo(context.Background(), req("", m))
	if err != nil {
		t.Fatalf("CreateVideo(%q): %v", title, err)
	}
	return res.Msg.GetVideo()
}

// makeReady moves a video to READY through the event handlers.
func (e *env) makeReady(t *testing.T, id string) {
	t.Helper()
	if err := e.svc.onTranscodeCompleted(t.Context(), transcodeCompleted(id)); err != nil {
		t.Fatalf("transcode.completed: %v", err)
	}
}

func gatedPolicy() *authv1.AccessPolicy {
	return &authv1.AccessPolicy{Mode: authv1.AccessMode_ACCESS_MODE_ANY, Rules: []*authv1.AccessRule{{
		ChainId: 1337, ContractAddress: contract, Standard: authv1.TokenStandard_TOKEN_STANDARD_ERC721,
	}}}
}

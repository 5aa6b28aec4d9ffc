package mesh_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/gen/go/streamgate/metadata/v1/metadatav1connect"
	"github.com/streamgate/streamgate/internal/mesh"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/server"
)

// metadataService runs a videoServer in the server runtime.
type metadataService struct{ vs *videoServer }

func (metadataService) Name() string        { return service }
func (metadataService) ServiceName() string { return metadatav1connect.MetadataServiceName }
func (m metadataService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return metadatav1connect.NewMetadataServiceHandler(m.vs, opts...)
}

// pki is a mesh CA with certificates issued on demand.
type pki struct{ ca *meshtls.CA }

func newPKI(t testing.TB) pki {
	t.Helper()
	ca, err := meshtls.NewCA("", 0)
	if err != nil {
		t.Fatal(err)
	}
	return pki{ca}
}

func (p pki) source(t testing.TB, svc string) *meshtls.Source {
	t.Helper()
	dir := t.TempDir()
	if err := p.ca.Issue(dir, meshtls.IssueOptions{Service: svc}); err != nil {
		t.Fatal(err)
	}
	src, err := meshtls.Load(meshtls.Options{Dir: dir, Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// startTLS runs a videoServer on the server runtime with mesh TLS from
// src, registered in etcd as an instance of the metadata service whatever
// its certificate says.
func (e *env) startTLS(t testing.TB, name string, src *meshtls.Source) *videoServer {
	t.Helper()
	return e.startRuntime(t, name, src.ServerConfig())
}

// startRuntime runs a videoServer on the server runtime, over TLS with
// cfg or h2c without, registered as a metadata instance.
func (e *env) startRuntime(t testing.TB, name string, cfg *tls.Config) *videoServer {
	t.Helper()
	vs := &videoServer{name: name}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", TLS: cfg}, []server.Service{metadataService{vs}}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.SetServing(true)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	reg := registry.NewRegistrar(e.cli, registry.Instance{
		Service: service, ID: name, Address: srv.Addr(), Protocols: []string{"connect", "grpc"},
	}, registry.RegistrarOptions{Prefix: testPrefix}, discard())
	if err := reg.Register(t.Context()); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	t.Cleanup(func() { _ = reg.Deregister(context.Background()) })
	return vs
}

// TestTLSImpostorsGetNoCalls registers, next to the real metadata
// instance, one whose certificate names auth (from the mesh CA) and one
// whose certificate names metadata but comes from another CA: the mesh
// client refuses both at the handshake and every call, writes included,
// lands on the real instance.
func TestTLSImpostorsGetNoCalls(t *testing.T) {
	e := newEnv(t)
	mesh1 := newPKI(t)
	rogue := newPKI(t)
	genuine := e.startTLS(t, "real", mesh1.source(t, "metadata"))
	named := e.startTLS(t, "auth-cert", mesh1.source(t, "auth"))
	foreign := e.startTLS(t, "other-ca", rogue.source(t, "metadata"))
	m := e.mesh(t, 3, mesh.Options{TLS: mesh1.source(t, "upload")})
	client := metadataClient(m)

	for i := range 30 {
		got, err := getVideo(t.Context(), client)
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if got != "real" {
			t.Fatalf("get %d answered by %q, want real", i, got)
		}
		if got, err := createVideo(t.Context(), client); err != nil || got != "real" {
			t.Fatalf("create %d answered by %q (err %v), want real", i, got, err)
		}
	}
	if n := named.gets.Load() + named.creates.Load() + foreign.gets.Load() + foreign.creates.Load(); n != 0 {
		t.Errorf("impostors served %d calls, want 0", n)
	}
	if genuine.gets.Load() != 30 || genuine.creates.Load() != 30 {
		t.Errorf("real instance served %d gets and %d creates, want 30 each", genuine.gets.Load(), genuine.creates.Load())
	}
	// Direct clients (the monitor's probes) check the same way.
	direct := metadatav1connect.NewMetadataServiceClient(m.Direct(service), "http://"+endpoint(t, m, "auth-cert").Address)
	if _, err := getVideo(t.Context(), direct); err == nil {
		t.Error("a direct call reached an instance whose certificate names auth")
	}
}

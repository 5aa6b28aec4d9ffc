package server

import (
	"context"
	"net/http"
	"slices"
	"sync"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
)

// healthWatchPath is the server stream load balancers and Kubernetes hold
// open to follow our status.
const healthWatchPath = "/" + grpchealth.HealthV1ServiceName + "/Watch"

// mountHealthAndReflection mounts gRPC health (one status per service plus
// "" for the whole process, all NOT_SERVING until SetServing(true)) and
// reflection v1 and v1alpha (grpcurl, Postman).
//
// They get the recover and size options but not the interceptor chain:
// probes arrive every few seconds per instance and would drown the access
// log and the RPC metrics in noise.
func (s *Server) mountHealthAndReflection(mux *http.ServeMux) error {
	s.health = grpchealth.NewStaticChecker()
	s.setStatus(grpchealth.StatusNotServing)

	opts := []connect.HandlerOption{
		connect.WithRecover(s.recoverPanic),
		connect.WithCompressMinBytes(compressMinBytes),
		connect.WithReadMaxBytes(s.cfg.ReadMaxBytes),
	}
	path, h := grpchealth.NewHandler(s.health, opts...)
	if err := mount(mux, path, s.watches.wrap(h)); err != nil {
		return err
	}

	if s.noReflection {
		return nil
	}
	// The static reflector lists only the names it is given: health too, so
	// `grpcurl list` shows it.
	names := append(append([]string(nil), s.names...), grpchealth.HealthV1ServiceName)
	for _, n := range s.reflection {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	reflector := grpcreflect.NewStaticReflector(names...)
	if s.reflectKeep != nil {
		var err error
		if reflector, err = filteredReflector(names, s.reflectKeep); err != nil {
			return err
		}
	}
	path, h = grpcreflect.NewHandlerV1(reflector, opts...)
	if err := mount(mux, path, h); err != nil {
		return err
	}
	path, h = grpcreflect.NewHandlerV1Alpha(reflector, opts...)
	return mount(mux, path, h)
}

// HealthChecker answers for this server's health: the status of each of its
// services and of the whole server (""), as its gRPC health service does.
// The process's admin listener asks it.
func (s *Server) HealthChecker() grpchealth.Checker { return s.health }

// SetServing sets the health of every service and of the process ("").
// Call it with true once dependencies are ready. After Shutdown has begun,
// SetServing(true) is ignored so a late readiness check cannot undo it.
func (s *Server) SetServing(serving bool) {
	if serving && s.closing.Load() {
		s.logger.Debug("SetServing(true) ignored: server is shutting down")
		return
	}
	status := grpchealth.StatusNotServing
	if serving {
		status = grpchealth.StatusServing
	}
	s.setStatus(status)
}

func (s *Server) setStatus(status grpchealth.Status) {
	for _, name := range s.names {
		s.health.SetStatus(name, status)
	}
	s.health.SetStatus("", status)
}

func isHealthWatch(r *http.Request) bool { return r.URL.Path == healthWatchPath }

// watchSet ends health Watch streams at shutdown. They never end on their
// own, so the drain does not wait for them (they would hold every Shutdown
// for the whole DrainTimeout); instead Shutdown sets NOT_SERVING, drains
// real calls, and then cancels the watches, which end with OK. When nothing
// was in flight the cancel can beat the NOT_SERVING message; the watcher
// then sees its stream end and its reconnect refused, which health clients
// treat as unhealthy just the same.
type watchSet struct {
	mu      sync.Mutex
	next    int
	cancels map[int]context.CancelFunc
	closed  bool
}

func newWatchSet() *watchSet { return &watchSet{cancels: make(map[int]context.CancelFunc)} }

// wrap gives each health Watch request a context that cancelAll cancels.
func (w *watchSet) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !isHealthWatch(r) {
			h.ServeHTTP(rw, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			cancel()
		} else {
			id := w.next
			w.next++
			w.cancels[id] = cancel
			w.mu.Unlock()
			defer func() {
				w.mu.Lock()
				delete(w.cancels, id)
				w.mu.Unlock()
			}()
		}
		h.ServeHTTP(rw, r.WithContext(ctx))
	})
}

// cancelAll ends every open watch and any that start afterwards.
func (w *watchSet) cancelAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for id, cancel := range w.cancels {
		cancel()
		delete(w.cancels, id)
	}
}

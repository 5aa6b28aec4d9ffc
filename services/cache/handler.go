package cache

import (
	"context"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cachev1 "github.com/streamgate/streamgate/gen/go/streamgate/cache/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/cache/v1/cachev1connect"
	"github.com/streamgate/streamgate/internal/rpcerr"
)

// handler adapts Service to the generated interface: proto in, domain
// call, proto out.
type handler struct {
	cachev1connect.UnimplementedCacheServiceHandler
	svc *Service
}

func (h *handler) fail(ctx context.Context, err error) error {
	return rpcerr.ToConnect(ctx, h.svc.logger, err, errorTable)
}

func (h *handler) Get(ctx context.Context, req *connect.Request[cachev1.GetRequest]) (*connect.Response[cachev1.GetResponse], error) {
	e, ok, err := h.svc.Get(ctx, req.Msg.GetNamespace(), req.Msg.GetKey())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	if !ok {
		return connect.NewResponse(&cachev1.GetResponse{}), nil
	}
	now := h.svc.now()
	return connect.NewResponse(&cachev1.GetResponse{
		Found:       true,
		Value:       e.Value,
		ContentType: e.ContentType,
		ExpireTime:  timestamppb.New(e.ExpireTime),
		Ttl:         durationpb.New(remaining(e.ExpireTime, now)),
	}), nil
}

func (h *handler) Set(ctx context.Context, req *connect.Request[cachev1.SetRequest]) (*connect.Response[cachev1.SetResponse], error) {
	m := req.Msg
	var ttl time.Duration
	if d := m.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		ttl = d.AsDuration()
	}
	exp, err := h.svc.Set(ctx, m.GetNamespace(), m.GetKey(), m.GetValue(), SetOptions{ContentType: m.GetContentType(), TTL: ttl})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&cachev1.SetResponse{ExpireTime: timestamppb.New(exp)}), nil
}

func (h *handler) Delete(ctx context.Context, req *connect.Request[cachev1.DeleteRequest]) (*connect.Response[cachev1.DeleteResponse], error) {
	found, err := h.svc.Delete(ctx, req.Msg.GetNamespace(), req.Msg.GetKey())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&cachev1.DeleteResponse{Found: found}), nil
}

func (h *handler) GetMany(ctx context.Context, req *connect.Request[cachev1.GetManyRequest]) (*connect.Response[cachev1.GetManyResponse], error) {
	hits, missing, err := h.svc.GetMany(ctx, req.Msg.GetNamespace(), req.Msg.GetKeys())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	now := h.svc.now()
	res := &cachev1.GetManyResponse{MissingKeys: missing, Entries: make([]*cachev1.Entry, 0, len(hits))}
	for _, e := range hits {
		res.Entries = append(res.Entries, &cachev1.Entry{
			Key:         e.Key,
			Value:       e.Value,
			ContentType: e.ContentType,
			ExpireTime:  timestamppb.New(e.ExpireTime),
			Ttl:         durationpb.New(remaining(e.ExpireTime, now)),
		})
	}
	return connect.NewResponse(res), nil
}

func (h *handler) Invalidate(ctx context.Context, req *connect.Request[cachev1.InvalidateRequest]) (*connect.Response[cachev1.InvalidateResponse], error) {
	n, err := h.svc.Invalidate(ctx, req.Msg.GetNamespace(), req.Msg.GetKeyPrefix(), req.Msg.GetAllKeys())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return connect.NewResponse(&cachev1.InvalidateResponse{RemovedCount: n}), nil
}

func (h *handler) GetStats(ctx context.Context, req *connect.Request[cachev1.GetStatsRequest]) (*connect.Response[cachev1.GetStatsResponse], error) {
	st, err := h.svc.Stats(ctx, req.Msg.GetNamespace())
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	res := &cachev1.GetStatsResponse{
		Backend:       backendToProto(st.Backend),
		MaxEntryBytes: st.MaxEntryBytes,
		DefaultTtl:    durationpb.New(st.DefaultTTL),
		MaxTtl:        durationpb.New(st.MaxTTL),
		ResetTime:     timestamppb.New(st.ResetTime),
	}
	for _, n := range st.Namespaces {
		res.Namespaces = append(res.Namespaces, &cachev1.NamespaceStats{
			Namespace:  n.Namespace,
			Hits:       n.Hits,
			Misses:     n.Misses,
			Evictions:  n.Evictions,
			Entries:    n.Entries,
			SizeBytes:  n.Bytes,
			LimitBytes: n.LimitBytes,
		})
	}
	return connect.NewResponse(res), nil
}

func remaining(exp, now time.Time) time.Duration {
	return max(exp.Sub(now), 0)
}

func backendToProto(kind string) cachev1.Backend {
	switch kind {
	case "memory":
		return cachev1.Backend_BACKEND_MEMORY
	case "redis":
		return cachev1.Backend_BACKEND_REDIS
	}
	return cachev1.Backend_BACKEND_UNSPECIFIED
}

package upload

import (
	"context"
	"log/slog"

	expslog "golang.org/x/exp/slog"
)

// tusLogger bridges tusd's logger type (golang.org/x/exp/slog, not
// log/slog) to ours. tusd logs every request at INFO; only WARN and above
// come through, as our records.
func tusLogger(l *slog.Logger) *expslog.Logger {
	return expslog.New(&tusHandler{h: l.Handler()})
}

type tusHandler struct {
	h      slog.Handler
	attrs  []slog.Attr
	groups []string
}

func (t *tusHandler) Enabled(ctx context.Context, level expslog.Level) bool {
	return level >= expslog.LevelWarn && t.h.Enabled(ctx, slog.Level(level))
}

func (t *tusHandler) Handle(ctx context.Context, r expslog.Record) error {
	out := slog.NewRecord(r.Time, slog.Level(r.Level), "tus: "+r.Message, r.PC)
	out.AddAttrs(t.attrs...)
	r.Attrs(func(a expslog.Attr) bool {
		out.AddAttrs(slog.Any(a.Key, a.Value.Any()))
		return true
	})
	h := t.h
	for _, g := range t.groups {
		h = h.WithGroup(g)
	}
	return h.Handle(ctx, out)
}

func (t *tusHandler) WithAttrs(attrs []expslog.Attr) expslog.Handler {
	n := &tusHandler{h: t.h, attrs: append([]slog.Attr(nil), t.attrs...), groups: t.groups}
	for _, a := range attrs {
		n.attrs = append(n.attrs, slog.Any(a.Key, a.Value.Any()))
	}
	return n
}

func (t *tusHandler) WithGroup(name string) expslog.Handler {
	return &tusHandler{h: t.h, attrs: t.attrs, groups: append(append([]string(nil), t.groups...), name)}
}

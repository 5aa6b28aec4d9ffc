package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver"
)

// devLogger is dev's logging: everything at --log-level to the log file,
// and on the console only warnings and errors, unless verbose. The
// console's other lines are the summary and the notable events
// (followNotable), so the URLs and the demo line stay on screen.
func devLogger(m *meshFlags, console io.Writer, logFile string, verbose bool) (*slog.Logger, func(), error) {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o750); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("--log-file: %w", err)
	}
	full := &slog.HandlerOptions{Level: m.logLevel}
	var fileH slog.Handler = slog.NewTextHandler(f, full)
	if m.logJSON {
		fileH = slog.NewJSONHandler(f, full)
	}
	consoleLevel := slog.Leveler(slog.LevelWarn)
	if verbose {
		consoleLevel = m.logLevel
	}
	consoleH := slog.NewTextHandler(console, &slog.HandlerOptions{Level: consoleLevel})
	return slog.New(slog.NewMultiHandler(fileH, consoleH)), func() { _ = f.Close() }, nil
}

// followNotable prints one line per notable event until ctx ends: uploads
// completed or failed, transcoding at each quarter, videos ready or failed.
// It reads the event streams as a client of its own (over mesh TLS with
// the monitor's certificate, which may read every stream).
func followNotable(ctx context.Context, natsURL, tlsDir, trustDomain string, out io.Writer, logger *slog.Logger) {
	var opts []events.Option
	if tlsDir != "" {
		src, err := meshtls.Load(meshtls.Options{Dir: filepath.Join(tlsDir, "monitor"), Service: "monitor", TrustDomain: trustDomain})
		if err != nil {
			logger.Warn("console events off", "err", err)
			return
		}
		opts = append(opts, events.WithTLS(src.ClientConfig(natsserver.Service)))
	}
	bus, err := events.Connect(ctx, natsURL, slog.New(slog.DiscardHandler), append(opts, events.WithName("streamgate-dev-console"))...)
	if err != nil {
		logger.Warn("console events off", "err", err)
		return
	}
	defer bus.Close()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%s  %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
	}
	quarter := map[string]int{} // job -> last quarter printed
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.UploadCompleted) {
			say("upload completed  %s  %.1f MB", e.GetVideoId(), float64(e.GetSizeBytes())/1e6)
		})
	})
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.UploadFailed) {
			say("upload FAILED     %s  %s", e.GetVideoId(), e.GetReason())
		})
	})
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.TranscodeProgress) {
			q := min(int(e.GetProgressPercent())/25, 3) // 0, 25, 50, 75; done is video ready
			mu.Lock()
			last, seen := quarter[e.GetJobId()]
			quarter[e.GetJobId()] = max(q, last)
			mu.Unlock()
			switch {
			case !seen && q == 0:
				say("transcoding       %s  started", e.GetVideoId())
			case !seen || q > last:
				say("transcoding       %s  %d%%", e.GetVideoId(), q*25)
			}
		})
	})
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.TranscodeFailed) {
			say("transcode FAILED  %s  %s", e.GetVideoId(), e.GetReason())
		})
	})
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.VideoReady) {
			say("video ready       %s  %q", e.GetVideo().GetId(), e.GetVideo().GetTitle())
		})
	})
	wg.Go(func() {
		_ = events.Follow(ctx, bus, 0, func(e *eventsv1.VideoFailed) {
			say("video FAILED      %s  %s", e.GetVideo().GetId(), e.GetVideo().GetStatusReason())
		})
	})
	wg.Wait()
}

// lockedWriter serialises writes: the summary, the seed and the event
// lines reach the console from different goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

package monitor_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/devchain"
	"github.com/streamgate/streamgate/internal/events/eventstest"
	"github.com/streamgate/streamgate/internal/logship"
	"github.com/streamgate/streamgate/internal/registry"
	"github.com/streamgate/streamgate/internal/testing/poll"
	"github.com/streamgate/streamgate/services/monitor"
)

type noInstances struct{}

func (noInstances) All() []registry.Instance { return nil }
func (noInstances) Changes() (<-chan struct{}, func()) {
	return make(chan struct{}), func() {}
}

func noProbe(context.Context, registry.Instance) (bool, error) { return false, errors.New("no") }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startMonitor runs svc and serves it; the returned client talks to it.
func startMonitor(t *testing.T, svc *monitor.Service) monitorv1connect.MonitorServiceClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	path, h := svc.Handler()
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return monitorv1connect.NewMonitorServiceClient(srv.Client(), srv.URL)
}

func TestGetLogsFromShippedRecords(t *testing.T) {
	logger := testLogger(t)
	_, bus := eventstest.Bus(t)
	svc, err := monitor.New(monitor.Config{LogRingSize: 100}, noInstances{}, noProbe, logger, monitor.WithBus(bus))
	if err != nil {
		t.Fatal(err)
	}
	client := startMonitor(t, svc)

	// A service logging through the shipper.
	shipper, err := logship.New(logship.Config{Service: "upload", InstanceID: "upload-1", InfoSampleEvery: -1}, bus, logger)
	if err != nil {
		t.Fatal(err)
	}
	shipCtx, stopShip := context.WithCancel(context.Background())
	shipDone := make(chan struct{})
	go func() { defer close(shipDone); _ = shipper.Run(shipCtx) }()
	t.Cleanup(func() { stopShip(); <-shipDone })
	appLog := slog.New(shipper.Handler(logger.Handler()))

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	appLog.InfoContext(traced, "not shipped: INFO sampling is off")
	appLog.WarnContext(traced, "disk almost full", "free_bytes", 1024)
	appLog.Error("transcode failed", "video_id", "v1")

	var all []*eventsv1.LogRecord
	poll.UntilNil(t, 30*time.Second, "both records in GetLogs", func() error {
		res, err := client.GetLogs(t.Context(), connect.NewRequest(&monitorv1.GetLogsRequest{}))
		if err != nil {
			return err
		}
		if n := len(res.Msg.GetRecords()); n != 2 {
			return errors.New("not yet")
		}
		all = res.Msg.GetRecords()
		if res.Msg.GetRingStartTime() == nil {
			t.Error("ring_start_time unset")
		}
		return nil
	})
	if all[0].GetMessage() != "transcode failed" || all[1].GetMessage() != "disk almost full" {
		t.Errorf("order: %q, %q; want newest first", all[0].GetMessage(), all[1].GetMessage())
	}

	res, err := client.GetLogs(t.Context(), connect.NewRequest(&monitorv1.GetLogsRequest{TraceId: tid.String()}))
	if err != nil {
		t.Fatal(err)
	}
	if recs := res.Msg.GetRecords(); len(recs) != 1 || recs[0].GetSpanId() != sid.String() || recs[0].GetAttributes()["free_bytes"] != "1024" || recs[0].GetService() != "upload" {
		t.Errorf("by trace id: %v", recs)
	}
	res, err = client.GetLogs(t.Context(), connect.NewRequest(&monitorv1.GetLogsRequest{MinLevel: eventsv1.LogLevel_LOG_LEVEL_ERROR, Service: "upload", Text: "TRANSCODE"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Msg.GetRecords()) != 1 {
		t.Errorf("error filter: %v", res.Msg.GetRecords())
	}

	_, err = client.GetLogs(t.Context(), connect.NewRequest(&monitorv1.GetLogsRequest{PageToken: "forged"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("forged token: %v, want InvalidArgument", err)
	}
	_, err = client.GetMetrics(t.Context(), connect.NewRequest(&monitorv1.GetMetricsRequest{}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("GetMetrics: %v, want Unimplemented", err)
	}
}

func TestGetChainStatusAgainstDevChain(t *testing.T) {
	logger := testLogger(t)
	chain, err := devchain.New(t.Context(), devchain.Config{BlockInterval: 200 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(chain.Close)
	const secretURL = "http://user:s3cret@127.0.0.1:1/v3/APIKEY123?token=abc"
	svc, err := monitor.New(monitor.Config{
		Chains: map[uint64]string{
			devchain.ChainID: chain.RPCURL(),
			1:                secretURL,
			5:                chain.RPCURL(), // the dev chain is not chain 5
		},
		ChainNames:        map[uint64]string{devchain.ChainID: "dev"},
		ChainPollInterval: 100 * time.Millisecond,
		ChainPollTimeout:  5 * time.Second,
	}, noInstances{}, noProbe, logger)
	if err != nil {
		t.Fatal(err)
	}
	client := startMonitor(t, svc)

	var dev *monitorv1.ChainStatus
	poll.UntilNil(t, 30*time.Second, "dev chain status", func() error {
		res, err := client.GetChainStatus(t.Context(), connect.NewRequest(&monitorv1.GetChainStatusRequest{ChainId: devchain.ChainID}))
		if err != nil {
			return err
		}
		dev = res.Msg.GetChains()[0]
		if dev.GetHeadBlockNumber() < 2 || dev.GetBaseFeeWei() == "" {
			return errors.New("no head or fee yet")
		}
		return nil
	})
	if dev.GetName() != "dev" || dev.GetLastError() != "" || dev.GetRpcErrorRatio() != 0 {
		t.Errorf("dev chain: %v", dev)
	}
	if dev.GetRpcLatencyP50().AsDuration() <= 0 || dev.GetBlockAge() == nil || dev.GetCheckTime() == nil || dev.GetPriorityFeeWei() == "" {
		t.Errorf("dev chain figures missing: %v", dev)
	}
	if !strings.HasPrefix(chain.RPCURL(), "http://"+dev.GetRpcHost()) {
		t.Errorf("rpc_host %q not the host of %s", dev.GetRpcHost(), chain.RPCURL())
	}

	poll.UntilNil(t, 30*time.Second, "failing chains report errors", func() error {
		res, err := client.GetChainStatus(t.Context(), connect.NewRequest(&monitorv1.GetChainStatusRequest{}))
		if err != nil {
			return err
		}
		if len(res.Msg.GetChains()) != 3 {
			t.Fatalf("%d chains, want 3", len(res.Msg.GetChains()))
		}
		for _, c := range res.Msg.GetChains() {
			if c.GetChainId() != devchain.ChainID && c.GetLastError() == "" {
				return errors.New("chain " + c.GetName() + " has no error yet")
			}
		}
		return nil
	})
	res, err := client.GetChainStatus(t.Context(), connect.NewRequest(&monitorv1.GetChainStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Msg.GetChains() {
		switch c.GetChainId() {
		case 1:
			if c.GetRpcHost() != "127.0.0.1:1" || c.GetName() != "ethereum" || c.GetRpcErrorRatio() != 1 || c.GetHeadBlockNumber() != 0 {
				t.Errorf("unreachable chain: %v", c)
			}
			for _, secret := range []string{"s3cret", "APIKEY123", "token=abc", "user"} {
				if strings.Contains(c.GetLastError(), secret) || strings.Contains(c.String(), secret) {
					t.Errorf("chain status leaks %q: %v", secret, c)
				}
			}
		case 5:
			if !strings.Contains(c.GetLastError(), "1337") || c.GetHeadBlockNumber() != 0 {
				t.Errorf("wrong-chain endpoint accepted: %v", c)
			}
		}
	}

	_, err = client.GetChainStatus(t.Context(), connect.NewRequest(&monitorv1.GetChainStatusRequest{ChainId: 42}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("unknown chain: %v, want NotFound", err)
	}
}

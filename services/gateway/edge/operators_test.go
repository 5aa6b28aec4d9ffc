package edge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	monitorv1 "github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/monitor/v1/monitorv1connect"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/services/gateway/edge"
)

// TestNamedOperatorTokens: each named token is an operator, a wrong one
// is refused, and the access log names the token used, never showing it.
func TestNamedOperatorTokens(t *testing.T) {
	const aliceTok, ciTok = "alice-op-0123456789abcdef", "ci-op-0123456789abcdefgh"
	set, err := operatortokens.New(map[string]string{"alice": aliceTok, "ci": ciTok})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *edge.Config) { c.Operators = set; c.OperatorToken = "" })
	monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, f.edge)
	call := func(tok string) (http.Header, error) {
		res, err := monitor.GetLogs(t.Context(), withHeaders(&monitorv1.GetLogsRequest{}, bearer(tok)...))
		if err != nil {
			return nil, err
		}
		return res.Header(), nil
	}
	for _, tok := range []string{aliceTok, ciTok} {
		h, err := call(tok)
		if err != nil {
			t.Fatalf("operator token %s: %v", tok[:5], err)
		}
		if got := h.Get("Echo-" + identity.OperatorHeader); got != "true" {
			t.Errorf("operator header = %q, want true", got)
		}
	}
	for _, bad := range []string{testOperatorToken, aliceTok + "x", aliceTok[:len(aliceTok)-1], ciTok[:8]} {
		if _, err := call(bad); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("wrong token %q: %v, want PermissionDenied", bad, err)
		}
	}
	logs := f.logs.String()
	for _, want := range []string{`"identity":"operator:alice"`, `"identity":"operator:ci"`} {
		if !f.logged(want) {
			t.Errorf("access log lacks %s:\n%s", want, f.logs.String())
		}
	}
	for _, tok := range []string{aliceTok, ciTok} {
		if strings.Contains(logs, tok) {
			t.Errorf("access log shows the token %s", tok)
		}
	}
}

// TestOperatorTokenDefault: the single Config.OperatorToken is named
// "default".
func TestOperatorTokenDefault(t *testing.T) {
	f := newFixture(t)
	monitor := monitorv1connect.NewMonitorServiceClient(http.DefaultClient, f.edge)
	if _, err := monitor.GetLogs(t.Context(), withHeaders(&monitorv1.GetLogsRequest{}, bearer(testOperatorToken)...)); err != nil {
		t.Fatal(err)
	}
	// The access line is written once the answer is sent, so it may
	// trail the client's return by a moment.
	if !f.logged(`"identity":"operator:default"`) {
		t.Errorf("access log lacks operator:default:\n%s", f.logs.String())
	}
}

// logged waits up to 5 s for the edge's log to contain want.
func (f *fixture) logged(want string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(f.logs.String(), want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

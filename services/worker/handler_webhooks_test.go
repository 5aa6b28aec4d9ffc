package worker

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/internal/testing/poll"
)

// receiver is a webhook endpoint that checks every signature against its
// secret and keeps the verified bodies.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	bodies chan map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, bodies: make(chan map[string]any, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := verify(r.secret, req.Header.Get(SignatureHeader), body, time.Now()); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("receiver: body %q: %v", body, err)
		}
		r.bodies <- m
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next() map[string]any {
	r.t.Helper()
	select {
	case b := <-r.bodies:
		return b
	case <-time.After(waitTimeout):
		r.t.Fatal("no delivery")
		return nil
	}
}

func TestSendTestWebhookDelivery(t *testing.T) {
	url := startNATS(t)
	cfg := testConfig()
	cfg.DevMode = true
	s := newTestService(t, url, cfg, nil, KindOptions{})
	c := client(t, s)
	run(t, s)
	rcv := newReceiver(t)
	// Subscribed to video.ready only: a test is delivered anyway.
	cr, err := c.CreateWebhook(t.Context(), asWallet(alice, &workerv1.CreateWebhookRequest{Url: rcv.srv.URL, EventTypes: []string{"video.ready"}}))
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = cr.Msg.Secret
	id := cr.Msg.Webhook.Id

	res, err := c.SendTestWebhookDelivery(t.Context(), asWallet(alice, &workerv1.SendTestWebhookDeliveryRequest{WebhookId: id}))
	if err != nil {
		t.Fatalf("SendTestWebhookDelivery: %v", err)
	}
	if !strings.HasPrefix(res.Msg.JobId, "wjob_") || !strings.HasPrefix(res.Msg.EventId, "webhook.test:") {
		t.Errorf("response = %v", res.Msg)
	}
	b := rcv.next()
	if b["type"] != "webhook.test" || b["id"] != res.Msg.EventId || b["data"].(map[string]any)["webhook_id"] != id {
		t.Errorf("test body = %v", b)
	}
	waitState(t, s, res.Msg.JobId, StateSucceeded)
	ds, err := c.ListWebhookDeliveries(t.Context(), asWallet(alice, &workerv1.ListWebhookDeliveriesRequest{WebhookId: id}))
	if err != nil || len(ds.Msg.Deliveries) != 1 || ds.Msg.Deliveries[0].EventType != "webhook.test" || !ds.Msg.Deliveries[0].Succeeded {
		t.Errorf("deliveries = %v, %v; want the test, succeeded", ds.Msg.GetDeliveries(), err)
	}
	// A second test is a new event, not deduplicated against the first.
	res2, err := c.SendTestWebhookDelivery(t.Context(), asWallet(alice, &workerv1.SendTestWebhookDeliveryRequest{WebhookId: id}))
	if err != nil || res2.Msg.JobId == res.Msg.JobId {
		t.Fatalf("second test: %v, %v", res2, err)
	}
	rcv.next()

	for name, req := range map[string]*connect.Request[workerv1.SendTestWebhookDeliveryRequest]{
		"another wallet's": asWallet(bob, &workerv1.SendTestWebhookDeliveryRequest{WebhookId: id}),
		"unknown":          asWallet(alice, &workerv1.SendTestWebhookDeliveryRequest{WebhookId: "whk_01JAAAAAAAAAAAAAAAAAAAAAAA"}),
		"malformed":        asWallet(alice, &workerv1.SendTestWebhookDeliveryRequest{WebhookId: "nope"}),
	} {
		if _, err := c.SendTestWebhookDelivery(t.Context(), req); codeOf(err) != connect.CodeNotFound {
			t.Errorf("%s webhook: %v, want NotFound", name, err)
		}
	}
	if _, err := c.SendTestWebhookDelivery(t.Context(), connect.NewRequest(&workerv1.SendTestWebhookDeliveryRequest{WebhookId: id})); codeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("anonymous: %v, want Unauthenticated", err)
	}
}

func TestAlertDeliveredToOperatorWebhook(t *testing.T) {
	url := startNATS(t)
	cfg := testConfig()
	cfg.DevMode = true
	s := newTestService(t, url, cfg, nil, KindOptions{})
	if err := s.bus.EnsureStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client(t, s)
	ops, wallet := newReceiver(t), newReceiver(t)

	// Operator webhooks take platform events only, and need the operator.
	if _, err := c.CreateOperatorWebhook(t.Context(), asWallet(alice, &workerv1.CreateOperatorWebhookRequest{Url: ops.srv.URL, EventTypes: []string{"alert.transitioned"}})); codeOf(err) != connect.CodePermissionDenied {
		t.Errorf("CreateOperatorWebhook by a wallet: %v, want PermissionDenied", err)
	}
	if _, err := c.CreateOperatorWebhook(t.Context(), asOperator(&workerv1.CreateOperatorWebhookRequest{Url: ops.srv.URL, EventTypes: []string{"video.ready"}})); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("operator webhook for video.ready: %v, want InvalidArgument", err)
	}
	if _, err := c.CreateWebhook(t.Context(), asWallet(alice, &workerv1.CreateWebhookRequest{Url: wallet.srv.URL, EventTypes: []string{"alert.transitioned"}})); codeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("wallet webhook for alerts: %v, want InvalidArgument", err)
	}
	cr, err := c.CreateOperatorWebhook(t.Context(), asOperator(&workerv1.CreateOperatorWebhookRequest{Url: ops.srv.URL, EventTypes: []string{"alert.transitioned"}}))
	if err != nil {
		t.Fatal(err)
	}
	ops.secret = cr.Msg.Secret
	if w := cr.Msg.Webhook; !w.Operator || w.OwnerAddress != "" {
		t.Errorf("operator webhook = %v", w)
	}
	// A wallet's webhook for everything it may take sees no alert.
	wr, err := c.CreateWebhook(t.Context(), asWallet(alice, &workerv1.CreateWebhookRequest{Url: wallet.srv.URL, EventTypes: eventTypes}))
	if err != nil {
		t.Fatal(err)
	}
	wallet.secret = wr.Msg.Secret
	run(t, s)

	ev := &eventsv1.AlertTransitioned{
		EventId: "alert.transitioned:a1:firing", OccurTime: timestamppb.Now(), AlertId: "a1", RuleName: "service_down",
		Severity: "critical", Firing: true, Summary: "service upload has had no serving instance for 1m", Labels: map[string]string{"service": "upload"},
	}
	if err := s.bus.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	b := ops.next()
	data, _ := b["data"].(map[string]any)
	if b["type"] != "alert.transitioned" || b["id"] != ev.EventId || data["ruleName"] != "service_down" || data["firing"] != true {
		t.Errorf("alert body = %v", b)
	}
	// The wallet endpoint got nothing; the operator sees the attempt logged,
	// and a wallet cannot see the operator's webhook at all.
	select {
	case got := <-wallet.bodies:
		t.Errorf("a wallet's webhook received %v", got)
	case <-time.After(200 * time.Millisecond):
	}
	poll.Until(t, waitTimeout, "the delivery log", func() bool {
		r, err := c.ListOperatorWebhookDeliveries(t.Context(), asOperator(&workerv1.ListOperatorWebhookDeliveriesRequest{WebhookId: cr.Msg.Webhook.Id}))
		if err != nil {
			t.Fatal(err)
		}
		return len(r.Msg.Deliveries) == 1 && r.Msg.Deliveries[0].Succeeded
	})
	if _, err := c.ListWebhookDeliveries(t.Context(), asWallet(alice, &workerv1.ListWebhookDeliveriesRequest{WebhookId: cr.Msg.Webhook.Id})); codeOf(err) != connect.CodeNotFound {
		t.Errorf("a wallet lists the operator's deliveries: %v, want NotFound", err)
	}
	if _, err := c.DeleteOperatorWebhook(t.Context(), asOperator(&workerv1.DeleteOperatorWebhookRequest{WebhookId: wr.Msg.Webhook.Id})); codeOf(err) != connect.CodeNotFound {
		t.Errorf("the operator deletes a wallet's webhook: %v, want NotFound", err)
	}
	lr, err := c.ListOperatorWebhooks(t.Context(), asOperator(&workerv1.ListOperatorWebhooksRequest{}))
	if err != nil || len(lr.Msg.Webhooks) != 1 || lr.Msg.Webhooks[0].Id != cr.Msg.Webhook.Id {
		t.Errorf("ListOperatorWebhooks = %v, %v", lr.Msg.GetWebhooks(), err)
	}
	if _, err := c.DeleteOperatorWebhook(t.Context(), asOperator(&workerv1.DeleteOperatorWebhookRequest{WebhookId: cr.Msg.Webhook.Id})); err != nil {
		t.Errorf("DeleteOperatorWebhook: %v", err)
	}
}

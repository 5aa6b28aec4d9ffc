package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	workerv1 "github.com/streamgate/streamgate/gen/go/streamgate/worker/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/worker/v1/workerv1connect"
)

// webhookEvents are the event types a wallet's webhook takes (the
// contract's Webhook.event_types).
const webhookEvents = "video.ready, video.failed, upload.completed, upload.failed"

// runWebhook is `streamgate webhook create|ls|rm|test ...`: the signed-in
// wallet's webhooks, through the gateway's WorkerService.
func runWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "webhook", "Manages the webhooks that receive your videos' events (signed in with streamgate login).", []command{
		{name: "create", short: "register an endpoint (--url, --events); prints its signing secret, once", run: runWebhookCreate},
		{name: "ls", short: "list your webhooks", run: runWebhookLs},
		{name: "rm", short: "remove a webhook", run: runWebhookRm},
		{name: "test", short: "send a signed webhook.test event to a webhook and print how the endpoint answered", run: runWebhookTest},
	}, args, stdout, stderr)
}

// worker is a WorkerService client through the gateway, as the wallet.
func (w *walletFlags) worker(base string) workerv1connect.WorkerServiceClient {
	return workerv1connect.NewWorkerServiceClient(&http.Client{}, base, w.options(base)...)
}

func runWebhookCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("webhook create", "--url URL --events a,b [--json] [--server URL]",
		"Registers an endpoint that receives your videos' and uploads' events, each POST signed\n"+
			"with HMAC-SHA256 in the StreamGate-Signature header. The signing secret is printed\n"+
			"once, now: store it. Events: "+webhookEvents+".", stderr)
	var w walletFlags
	w.register(s.fs, `print CreateWebhook's answer as one JSON document: {"webhook":{...},"secret":"whsec_..."}`)
	rawURL := s.fs.String("url", "", "endpoint to POST to: https://, or http:// on a loopback host with streamgate dev")
	events := s.fs.String("events", "", "event types to deliver, comma-separated: "+webhookEvents)
	positional, err := parseInterleaved(s.fs, args)
	if err != nil {
		return errUsage
	}
	if len(positional) != 0 {
		return s.usageErr("unexpected argument %q", clipInput(positional[0]))
	}
	base, err := w.check()
	if err != nil {
		return s.usageErr("%v", err)
	}
	if u, err := url.Parse(*rawURL); *rawURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return s.usageErr("--url %q: want an absolute https:// URL (http:// only on a loopback host with streamgate dev)", clipInput(*rawURL))
	}
	types, err := splitList(*events)
	if err == nil && len(types) == 0 {
		err = errors.New("give at least one of " + webhookEvents)
	}
	if err != nil {
		return s.usageErr("--events: %v", err)
	}
	res, err := w.worker(base).CreateWebhook(ctx, connect.NewRequest(&workerv1.CreateWebhookRequest{
		Url: *rawURL, EventTypes: types, RequestId: newRequestID(),
	}))
	if err != nil {
		return w.result(stdout, w.explain(base, fmt.Errorf("create webhook: %w", err)))
	}
	if w.json {
		return printProto(stdout, res.Msg)
	}
	h := res.Msg.GetWebhook()
	fmt.Fprintf(stdout, "webhook: %s\nurl:     %s\nevents:  %s\nsecret:  %s\n", h.GetId(), h.GetUrl(), strings.Join(h.GetEventTypes(), ", "), res.Msg.GetSecret())
	fmt.Fprintln(stderr, "the secret is shown only this once: store it now (to change it, rm the webhook and create another)")
	return nil
}

func runWebhookLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("webhook ls", "[--page-size N] [--page-token T] [--json] [--server URL]",
		"Lists your webhooks, newest first. Secrets are never shown again.", stderr)
	var w walletFlags
	w.register(s.fs, `print the page as one JSON document: {"webhooks":[...],"next_page_token":"..."}`)
	pageSize := s.fs.Int("page-size", 20, "webhooks per page, 1 to 100")
	pageToken := s.fs.String("page-token", "", "next_page_token of the previous page")
	positional, err := parseInterleaved(s.fs, args)
	if err != nil {
		return errUsage
	}
	if len(positional) != 0 {
		return s.usageErr("unexpected argument %q", clipInput(positional[0]))
	}
	base, err := w.check()
	if err != nil {
		return s.usageErr("%v", err)
	}
	if *pageSize < 1 || *pageSize > 100 {
		return s.usageErr("--page-size must be 1 to 100")
	}
	res, err := w.worker(base).ListWebhooks(ctx, connect.NewRequest(&workerv1.ListWebhooksRequest{PageSize: int32(*pageSize), PageToken: *pageToken}))
	if err != nil {
		return w.result(stdout, w.explain(base, fmt.Errorf("list webhooks: %w", err)))
	}
	if w.json {
		return printProto(stdout, res.Msg)
	}
	if len(res.Msg.GetWebhooks()) == 0 {
		_, err := fmt.Fprintln(stdout, "no webhooks")
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tURL\tEVENTS\tCREATED")
	for _, h := range res.Msg.GetWebhooks() {
		created := "-"
		if t := h.GetCreateTime(); t != nil {
			created = t.AsTime().Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.GetId(), clip(h.GetUrl(), 60), strings.Join(h.GetEventTypes(), ","), created)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next := res.Msg.GetNextPageToken(); next != "" {
		fmt.Fprintf(stderr, "more: streamgate webhook ls --page-token %s\n", next)
	}
	return nil
}

func runWebhookRm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("webhook rm", "WEBHOOK_ID [--json] [--server URL]",
		"Removes one of your webhooks; deliveries not yet attempted are canceled.", stderr)
	var w walletFlags
	w.register(s.fs, `print {"webhook_id":"whk_..."} as JSON once it is removed`)
	id, err := s.parseOneID(args, "WEBHOOK_ID")
	if err != nil {
		return err
	}
	base, err := w.check()
	if err != nil {
		return s.usageErr("%v", err)
	}
	if _, err := w.worker(base).DeleteWebhook(ctx, connect.NewRequest(&workerv1.DeleteWebhookRequest{WebhookId: id})); err != nil {
		return w.result(stdout, w.explain(base, fmt.Errorf("remove webhook %s: %w", id, err)))
	}
	if w.json {
		return printJSON(stdout, map[string]string{"webhook_id": id})
	}
	_, err = fmt.Fprintf(stdout, "removed webhook %s\n", id)
	return err
}

func runWebhookTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSubcommand("webhook test", "WEBHOOK_ID [--no-wait] [--timeout D] [--json] [--server URL]",
		"Queues a signed delivery of a synthetic webhook.test event to the webhook, waits for\n"+
			"its first attempt and prints how the endpoint answered (exit 1 unless it answered 2xx).\n"+
			"A failed attempt is retried like any delivery.", stderr)
	var w walletFlags
	w.register(s.fs, `print {"job_id","event_id","delivery":{...}} as one JSON document (delivery: the first attempt, absent with --no-wait)`)
	noWait := s.fs.Bool("no-wait", false, "queue the delivery and print its ids without waiting for the attempt")
	timeout := s.fs.Duration("timeout", 30*time.Second, "how long to wait for the first attempt")
	id, err := s.parseOneID(args, "WEBHOOK_ID")
	if err != nil {
		return err
	}
	base, err := w.check()
	if err != nil {
		return s.usageErr("%v", err)
	}
	if *timeout <= 0 {
		return s.usageErr("--timeout must be positive")
	}
	client := w.worker(base)
	res, err := client.SendTestWebhookDelivery(ctx, connect.NewRequest(&workerv1.SendTestWebhookDeliveryRequest{WebhookId: id}))
	if err != nil {
		return w.result(stdout, w.explain(base, fmt.Errorf("test webhook %s: %w", id, err)))
	}
	if !w.json {
		fmt.Fprintf(stderr, "queued event %s (job %s)\n", res.Msg.GetEventId(), res.Msg.GetJobId())
	}
	var d *workerv1.WebhookDelivery
	if !*noWait {
		if d, err = firstAttempt(ctx, client, id, res.Msg.GetEventId(), *timeout); err != nil {
			return w.result(stdout, err)
		}
	}
	if w.json {
		doc := map[string]any{"job_id": res.Msg.GetJobId(), "event_id": res.Msg.GetEventId()}
		if d != nil {
			b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(d)
			if err != nil {
				return err
			}
			doc["delivery"] = json.RawMessage(b)
		}
		if err := printJSON(stdout, doc); err != nil {
			return err
		}
	} else if d != nil {
		printDelivery(stdout, d)
	}
	if d != nil && !d.GetSucceeded() {
		err := fmt.Errorf("the endpoint did not accept the test event: %s", deliveryOutcome(d))
		if w.json {
			return reported{err} // the JSON above says how it went
		}
		return err
	}
	return nil
}

// firstAttempt waits for the first delivery attempt of an event. Attempts
// are only listed (no RPC streams them), so it polls, backing off.
func firstAttempt(ctx context.Context, client workerv1connect.WorkerServiceClient, webhookID, eventID string, timeout time.Duration) (*workerv1.WebhookDelivery, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := 100 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		res, err := client.ListWebhookDeliveries(ctx, connect.NewRequest(&workerv1.ListWebhookDeliveriesRequest{WebhookId: webhookID, PageSize: 100}))
		switch {
		case err == nil:
			var first *workerv1.WebhookDelivery
			for _, d := range res.Msg.GetDeliveries() {
				if d.GetEventId() == eventID && (first == nil || d.GetAttempt() < first.GetAttempt()) {
					first = d
				}
			}
			if first != nil {
				return first, nil
			}
		case ctx.Err() == nil:
			return nil, fmt.Errorf("list deliveries of %s: %w", webhookID, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("no delivery attempt of %s within %s (the worker may be busy: its attempts are listed by the ListWebhookDeliveries RPC)", eventID, timeout)
		case <-t.C:
		}
	}
}

func printDelivery(w io.Writer, d *workerv1.WebhookDelivery) {
	fmt.Fprintf(w, "attempt %d: %s in %s\n", d.GetAttempt(), deliveryOutcome(d), d.GetDuration().AsDuration().Round(time.Millisecond))
	if t := d.GetNextAttemptTime(); t != nil {
		fmt.Fprintf(w, "next attempt at %s\n", t.AsTime().Local().Format(time.TimeOnly))
	}
}

// deliveryOutcome is "answered 204" or "failed: <why>".
func deliveryOutcome(d *workerv1.WebhookDelivery) string {
	if d.GetSucceeded() {
		return fmt.Sprintf("answered %d", d.GetStatusCode())
	}
	if d.GetError() != "" {
		// The error quotes the endpoint's answer: one line, and short.
		return "failed: " + clip(d.GetError(), 200)
	}
	return fmt.Sprintf("failed: status %d", d.GetStatusCode())
}

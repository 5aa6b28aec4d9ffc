package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	"github.com/streamgate/streamgate/internal/events"
	"github.com/streamgate/streamgate/internal/identity"
	"github.com/streamgate/streamgate/internal/secretbox"
)

// KindWebhookDeliver is the built-in kind that POSTs one event to one
// webhook.
const KindWebhookDeliver = "webhook.deliver"

const (
	webhookBucket      = "worker_webhooks"
	maxWebhooks        = 10
	deliveryTimeout    = 10 * time.Second
	requestIDRetention = 24 * time.Hour
	// SignatureHeader carries t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
	SignatureHeader = "StreamGate-Signature"
)

// Event types a wallet's webhooks take (events about its own uploads and
// videos), and those operator webhooks take (platform events).
var (
	eventTypes         = []string{"video.ready", "video.failed", "upload.completed", "upload.failed"}
	operatorEventTypes = []string{"alert.transitioned"}
)

// operatorOwner owns the operator webhooks in the store, apart from every
// wallet (an owner is otherwise an EIP-55 address, which it cannot be).
const operatorOwner = "operator"

// testEventType is the synthetic event SendTestWebhookDelivery sends.
const testEventType = "webhook.test"

// Webhook is a creator's endpoint, as stored.
type Webhook struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Secret     string    `json:"secret"`
	CreateTime time.Time `json:"create_time"`
	RequestID  string    `json:"request_id,omitempty"`
}

// Delivery is one attempt to deliver one event to a webhook.
type Delivery struct {
	EventID     string        `json:"event_id"`
	EventType   string        `json:"event_type"`
	Attempt     uint32        `json:"attempt"`
	AttemptTime time.Time     `json:"attempt_time"`
	StatusCode  int           `json:"status_code"`
	Duration    time.Duration `json:"duration"`
	Error       string        `json:"error,omitempty"`
	Succeeded   bool          `json:"succeeded"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
}

type deliverPayload struct {
	WebhookID string          `json:"webhook_id"`
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Time      time.Time       `json:"time"`
	Data      json.RawMessage `json:"data"`
}

func whkKey(id string) string { return "whk." + id }
func ownKey(owner, id string) string {
	return "own." + owner + "." + id
}
func reqKey(owner, requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return "req." + owner + "." + hex.EncodeToString(sum[:])
}
func dlvKey(webhookID, id string) string { return "dlv." + webhookID + "." + id }

type webhookStore struct {
	kv  jetstream.KeyValue
	kek *secretbox.Keyring // seals the secrets at rest; nil: clear
}

func (w *webhookStore) get(ctx context.Context, owner, id string) (Webhook, error) {
	if !strings.HasPrefix(id, "whk_") || len(id) != 30 {
		return Webhook{}, fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	e, err := w.kv.Get(ctx, whkKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Webhook{}, fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	h, err := w.decode(e.Value())
	if err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if owner != "" && h.Owner != owner {
		return Webhook{}, fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	return h, nil
}

func (w *webhookStore) keys(ctx context.Context, filter string) ([]string, error) {
	l, err := w.kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// ownedIDs returns the owner's webhook ids, newest first.
func (w *webhookStore) ownedIDs(ctx context.Context, owner string) ([]string, error) {
	keys, err := w.keys(ctx, "own."+owner+".*")
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k[strings.LastIndexByte(k, '.')+1:])
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, nil
}

func (s *Service) createWebhook(ctx context.Context, owner, rawURL string, types []string, requestID string) (Webhook, error) {
	if len(requestID) > 64 {
		return Webhook{}, invalidf("request_id is over 64 characters")
	}
	w := s.webhooks
	if requestID != "" {
		if e, err := w.kv.Get(ctx, reqKey(owner, requestID)); err == nil {
			if h, err := w.get(ctx, owner, string(e.Value())); err == nil && time.Since(h.CreateTime) < requestIDRetention {
				return h, nil
			}
		}
	}
	if err := s.checkURL(ctx, rawURL); err != nil {
		return Webhook{}, err
	}
	if len(types) == 0 || len(types) > 10 {
		return Webhook{}, invalidf("event_types needs 1 to 10 values")
	}
	known := eventTypes
	if owner == operatorOwner {
		known = operatorEventTypes
	}
	seen := map[string]bool{}
	for _, t := range types {
		if !slices.Contains(known, t) {
			return Webhook{}, invalidf("unknown event type %q (known: %s)", t, strings.Join(known, ", "))
		}
		if seen[t] {
			return Webhook{}, invalidf("event type %q listed twice", t)
		}
		seen[t] = true
	}
	ids, err := w.ownedIDs(ctx, owner)
	if err != nil {
		return Webhook{}, err
	}
	if len(ids) >= maxWebhooks {
		return Webhook{}, fmt.Errorf("%w: a wallet may have at most %d webhooks", ErrExhausted, maxWebhooks)
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	h := Webhook{
		ID: "whk_" + ulid.Make().String(), Owner: owner, URL: rawURL, EventTypes: types,
		Secret: "whsec_" + base64.RawURLEncoding.EncodeToString(b[:]), CreateTime: time.Now(), RequestID: requestID,
	}
	if _, err := w.kv.Put(ctx, whkKey(h.ID), w.encode(h)); err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, err := w.kv.Put(ctx, ownKey(owner, h.ID), []byte(h.ID)); err != nil {
		return Webhook{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if requestID != "" {
		_, _ = w.kv.Put(ctx, reqKey(owner, requestID), []byte(h.ID))
	}
	return h, nil
}

// ErrExhausted is a quota error (ResourceExhausted).
var ErrExhausted = errors.New("resource exhausted")

// checkURL enforces Webhook.url: https, or http to loopback in dev mode;
// outside dev mode no host that resolves to a non-public address.
func (s *Service) checkURL(ctx context.Context, raw string) error {
	if len(raw) > 2048 {
		return invalidf("url is over 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return invalidf("url is not an absolute URL")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return invalidf("url must have no user info and no fragment")
	}
	loopback := isLoopbackHost(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (s.cfg.DevMode || s.cfg.LoopbackWebhooks) && loopback:
	default:
		return invalidf("url must be https:// (http:// only for loopback hosts in dev mode)")
	}
	if (s.cfg.DevMode || s.cfg.LoopbackWebhooks) && loopback {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil || len(addrs) == 0 {
		return invalidf("url host %q does not resolve", u.Hostname())
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return invalidf("url host %q resolves to a non-public address", u.Hostname())
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

func (s *Service) deleteWebhook(ctx context.Context, owner, id string) error {
	h, err := s.webhooks.get(ctx, owner, id)
	if err != nil {
		return err
	}
	w := s.webhooks
	if err := w.kv.Delete(ctx, whkKey(h.ID)); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_ = w.kv.Delete(ctx, ownKey(owner, h.ID))
	keys, _ := w.keys(ctx, "dlv."+h.ID+".*")
	for _, k := range keys {
		_ = w.kv.Purge(ctx, k)
	}
	return nil
}

func (s *Service) listWebhooks(ctx context.Context, owner string, size int, token string) ([]Webhook, string, error) {
	size, after, err := pageArgs(size, 100, 20, token)
	if err != nil {
		return nil, "", err
	}
	ids, err := s.webhooks.ownedIDs(ctx, owner)
	if err != nil {
		return nil, "", err
	}
	var out []Webhook
	for _, id := range ids {
		if after != "" && strings.TrimPrefix(id, "whk_") >= after {
			continue
		}
		h, err := s.webhooks.get(ctx, owner, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if len(out) == size {
			return out, encodeAfter(out[len(out)-1].ID), nil
		}
		out = append(out, h)
	}
	return out, "", nil
}

func (s *Service) listDeliveries(ctx context.Context, owner, id string, size int, token string) ([]Delivery, string, error) {
	if _, err := s.webhooks.get(ctx, owner, id); err != nil {
		return nil, "", err
	}
	size, after, err := pageArgs(size, 100, 20, token)
	if err != nil {
		return nil, "", err
	}
	keys, err := s.webhooks.keys(ctx, "dlv."+id+".*")
	if err != nil {
		return nil, "", err
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	var out []Delivery
	var last string
	for _, k := range keys {
		did := k[strings.LastIndexByte(k, '.')+1:]
		if after != "" && did >= after {
			continue
		}
		e, err := s.webhooks.kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var d Delivery
		if json.Unmarshal(e.Value(), &d) != nil {
			continue
		}
		if len(out) == size {
			return out, encodeAfter(last), nil
		}
		out, last = append(out, d), did
	}
	return out, "", nil
}

func pageArgs(size, maxSize, def int, token string) (int, string, error) {
	if size < 0 || size > maxSize {
		return 0, "", invalidf("page_size must be 0 to %d", maxSize)
	}
	if size == 0 {
		size = def
	}
	if token == "" {
		return size, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 26 {
		return 0, "", invalidf("malformed page_token")
	}
	return size, string(b), nil
}

func encodeAfter(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id[len(id)-26:]))
}

// Sign returns the StreamGate-Signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver is the webhook.deliver handler: one attempt = one HTTP request,
// logged as a Delivery.
func (s *Service) deliver(ctx context.Context, job Job) error {
	var p deliverPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.WebhookID == "" || p.EventID == "" {
		return Permanent(errors.New("payload is not a webhook.deliver object"))
	}
	h, err := s.webhooks.get(ctx, "", p.WebhookID)
	if errors.Is(err, ErrNotFound) {
		return errSkip // deleted: its pending deliveries are canceled
	}
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"id": p.EventID, "type": p.EventType, "time": p.Time.UTC().Format(time.RFC3339Nano), "data": p.Data})
	d := Delivery{EventID: p.EventID, EventType: p.EventType, Attempt: job.Attempts, AttemptTime: time.Now()}
	herr := s.post(ctx, h, body, &d)
	d.Duration = time.Since(d.AttemptTime)
	d.Succeeded = herr == nil
	if herr != nil {
		d.Error = truncateN(herr.Error(), 512)
		if job.Attempts < job.MaxAttempts && !errors.As(herr, new(permanentError)) {
			d.NextAttempt = time.Now().Add(backoff(s.cfg.RetryBaseDelay, s.cfg.RetryMaxDelay, job.ID, job.Attempts))
		}
	}
	val, _ := json.Marshal(d)
	if _, err := s.webhooks.kv.Put(ctx, dlvKey(h.ID, ulid.Make().String()), val); err != nil {
		s.logger.WarnContext(ctx, "log webhook delivery", "webhook", h.ID, "err", err)
	}
	return herr
}

func (s *Service) post(ctx context.Context, h Webhook, body []byte, d *Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(h.Secret, time.Now(), body))
	resp, err := s.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("timeout after 10s")
		}
		return err
	}
	defer resp.Body.Close()
	d.StatusCode = resp.StatusCode
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("status %d: %s", resp.StatusCode, snippet)
	if resp.StatusCode == http.StatusGone {
		// The receiver says the endpoint is gone: retrying cannot help.
		return Permanent(err)
	}
	return err
}

func truncateN(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// newHTTPClient does not follow redirects and refuses to connect to
// non-public addresses (dialControl; in dev mode loopback is allowed),
// checked on the resolved address, so DNS rebinding cannot bypass it.
func newHTTPClient(devMode bool) *http.Client {
	dialer := &net.Dialer{Timeout: deliveryTimeout, Control: dialControl(devMode)}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fanOut queues one webhook.deliver job per webhook of the creator wallet
// subscribed to eventType; the idempotency key makes a redelivered event
// queue nothing new.
func (s *Service) fanOut(ctx context.Context, creator, eventType, eventID string, occur time.Time, data proto.Message) error {
	owner, err := identity.NormalizeAddress(creator)
	if err != nil {
		return nil // no creator wallet: nobody to notify
	}
	return s.fanOutTo(ctx, owner, eventType, eventID, occur, data)
}

// fanOutTo queues the deliveries of an event to owner's webhooks (a wallet
// or operatorOwner).
func (s *Service) fanOutTo(ctx context.Context, owner, eventType, eventID string, occur time.Time, data proto.Message) error {
	ids, err := s.webhooks.ownedIDs(ctx, owner)
	if err != nil {
		return err
	}
	raw, err := protojson.Marshal(data)
	if err != nil {
		return events.Permanent(err)
	}
	for _, id := range ids {
		h, err := s.webhooks.get(ctx, owner, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !slices.Contains(h.EventTypes, eventType) {
			continue
		}
		payload, _ := json.Marshal(deliverPayload{WebhookID: h.ID, EventID: eventID, EventType: eventType, Time: occur, Data: raw})
		if _, _, err := s.Submit(ctx, SubmitParams{Kind: KindWebhookDeliver, Payload: payload, IdempotencyKey: h.ID + ":" + eventID}); err != nil {
			return err
		}
	}
	return nil
}

// subscribeEvents starts the event subscriptions that feed webhooks.
func (s *Service) subscribeEvents(ctx context.Context) ([]*events.Subscription, error) {
	var subs []*events.Subscription
	add := func(sub *events.Subscription, err error) error {
		if err != nil {
			return err
		}
		subs = append(subs, sub)
		return nil
	}
	opts := events.SubscribeOptions{}
	err := errors.Join(
		add(events.Subscribe(ctx, s.bus, "worker-webhooks-video-ready", func(ctx context.Context, e *eventsv1.VideoReady) error {
			return s.fanOut(ctx, e.GetVideo().GetCreatorAddress(), "video.ready", e.GetEventId(), e.GetOccurTime().AsTime(), e)
		}, opts)),
		add(events.Subscribe(ctx, s.bus, "worker-webhooks-video-failed", func(ctx context.Context, e *eventsv1.VideoFailed) error {
			return s.fanOut(ctx, e.GetVideo().GetCreatorAddress(), "video.failed", e.GetEventId(), e.GetOccurTime().AsTime(), e)
		}, opts)),
		add(events.Subscribe(ctx, s.bus, "worker-webhooks-upload-completed", func(ctx context.Context, e *eventsv1.UploadCompleted) error {
			return s.fanOut(ctx, e.GetCreatorAddress(), "upload.completed", e.GetEventId(), e.GetOccurTime().AsTime(), e)
		}, opts)),
		add(events.Subscribe(ctx, s.bus, "worker-webhooks-upload-failed", func(ctx context.Context, e *eventsv1.UploadFailed) error {
			return s.fanOut(ctx, e.GetCreatorAddress(), "upload.failed", e.GetEventId(), e.GetOccurTime().AsTime(), e)
		}, opts)),
		add(events.Subscribe(ctx, s.bus, "worker-webhooks-alert-transitioned", func(ctx context.Context, e *eventsv1.AlertTransitioned) error {
			return s.fanOutTo(ctx, operatorOwner, "alert.transitioned", e.GetEventId(), e.GetOccurTime().AsTime(), e)
		}, opts)),
	)
	if err != nil {
		for _, sub := range subs {
			sub.Stop()
		}
		return nil, err
	}
	return subs, nil
}

// sendTest queues a delivery of a synthetic webhook.test event to one of
// owner's webhooks, whatever its event types. Each call is a new event
// (its own id), so it is never deduplicated against an earlier test.
func (s *Service) sendTest(ctx context.Context, owner, id string) (Job, string, error) {
	h, err := s.webhooks.get(ctx, owner, id)
	if err != nil {
		return Job{}, "", err
	}
	eventID := testEventType + ":" + ulid.Make().String()
	data, _ := json.Marshal(map[string]string{
		"webhook_id": h.ID,
		"message":    "This is a test delivery from StreamGate; verify its signature with your webhook secret.",
	})
	payload, _ := json.Marshal(deliverPayload{WebhookID: h.ID, EventID: eventID, EventType: testEventType, Time: s.jobs.now(), Data: data})
	j, _, err := s.Submit(ctx, SubmitParams{Kind: KindWebhookDeliver, Payload: payload, IdempotencyKey: h.ID + ":" + eventID})
	return j, eventID, err
}

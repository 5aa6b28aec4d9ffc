package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/robfig/cron/v3"

	"github.com/streamgate/streamgate/internal/election"
)

// Schedule fires a job of its kind at each tick of a cron spec.
type Schedule struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	CronSpec     string    `json:"cron_spec"`
	Timezone     string    `json:"timezone"`
	Kind         string    `json:"kind"`
	Payload      []byte    `json:"payload,omitempty"`
	LastFireTime time.Time `json:"last_fire_time,omitzero"`
	LastJobID    string    `json:"last_job_id,omitempty"`
	CreateTime   time.Time `json:"create_time"`
}

// ErrAlreadyExists is a name clash (AlreadyExists).
var ErrAlreadyExists = errors.New("already exists")

var (
	scheduleNameRE = regexp.MustCompile(`^[a-z0-9._-]{1,100}$`)
	cronParser     = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	// dow7Range and dow7 turn a day-of-week 7 (Sunday, as in Vixie cron)
	// into 0, which is all robfig/cron accepts: "a-7" becomes "a-6,0".
	dow7Range = regexp.MustCompile(`(^|,)([0-6])-7($|,)`)
	dow7      = regexp.MustCompile(`(^|,)7($|,)`)
)

const electionPrefix = "/streamgate/worker/scheduler"

func schKey(id string) string { return "sch." + id }
func schNameKey(name string) string {
	return "schname." + name
}
func schReqKey(req string) string {
	sum := sha256.Sum256([]byte(req))
	return "schreq." + hex.EncodeToString(sum[:])
}

// parseSpec parses a 5-field spec (or a descriptor) read in tz.
func parseSpec(spec, tz string) (cron.Schedule, *time.Location, error) {
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return nil, nil, invalidf("unknown time zone %q", tz)
	}
	if strings.Contains(spec, "TZ=") {
		return nil, nil, invalidf("set the time zone in timezone, not in cron_spec")
	}
	f := strings.Fields(spec)
	if len(f) == 5 {
		f[4] = dow7Range.ReplaceAllString(f[4], "${1}${2}-6,0${3}")
		f[4] = dow7.ReplaceAllString(f[4], "${1}0${2}")
		spec = strings.Join(f, " ")
	} else if len(f) != 1 || !strings.HasPrefix(spec, "@") || strings.HasPrefix(spec, "@every") {
		return nil, nil, invalidf("cron_spec must have 5 fields or be @yearly, @monthly, @weekly, @daily or @hourly")
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return nil, nil, invalidf("cron_spec: %v", err)
	}
	return sched, loc, nil
}

// nextFire is the first tick strictly after t.
func (sc Schedule) nextFire(t time.Time) time.Time {
	sched, loc, err := parseSpec(sc.CronSpec, sc.Timezone)
	if err != nil {
		return time.Time{}
	}
	return sched.Next(t.In(loc))
}

func (s *Service) schedulesReady() error {
	if s.etcd == nil {
		return fmt.Errorf("%w: schedules need etcd, which this node is not configured with", ErrPrecondition)
	}
	return nil
}

func (s *Service) getSchedule(ctx context.Context, id string) (Schedule, uint64, error) {
	if !strings.HasPrefix(id, "sch_") || len(id) != 30 {
		return Schedule{}, 0, fmt.Errorf("%w: no schedule %q", ErrNotFound, id)
	}
	e, err := s.jobs.kv.Get(ctx, schKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Schedule{}, 0, fmt.Errorf("%w: no schedule %q", ErrNotFound, id)
	}
	if err != nil {
		return Schedule{}, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var sc Schedule
	if err := json.Unmarshal(e.Value(), &sc); err != nil {
		return Schedule{}, 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return sc, e.Revision(), nil
}

func (s *Service) createSchedule(ctx context.Context, sc Schedule, requestID string) (Schedule, error) {
	if err := s.schedulesReady(); err != nil {
		return Schedule{}, err
	}
	if len(requestID) > 64 {
		return Schedule{}, invalidf("request_id is over 64 characters")
	}
	kv := s.jobs.kv
	if requestID != "" {
		if e, err := kv.Get(ctx, schReqKey(requestID)); err == nil {
			if got, _, err := s.getSchedule(ctx, string(e.Value())); err == nil {
				return got, nil
			}
		}
	}
	if !scheduleNameRE.MatchString(sc.Name) {
		return Schedule{}, invalidf("name must be 1 to 100 characters of [a-z0-9._-]")
	}
	if _, _, err := parseSpec(sc.CronSpec, sc.Timezone); err != nil {
		return Schedule{}, err
	}
	if !kindRE.MatchString(sc.Kind) {
		return Schedule{}, invalidf("kind must be 1 to 64 characters of [a-z0-9._-]")
	}
	if _, ok := s.jobs.kind(sc.Kind); !ok {
		return Schedule{}, invalidf("no handler for kind %q", sc.Kind)
	}
	if len(sc.Payload) > maxPayload {
		return Schedule{}, invalidf("payload is over 262144 bytes")
	}
	if err := s.validatePayload(sc.Kind, sc.Payload); err != nil {
		return Schedule{}, err
	}
	sc.ID, sc.CreateTime, sc.LastFireTime, sc.LastJobID = "sch_"+ulid.Make().String(), s.jobs.now(), time.Time{}, ""
	if sc.Timezone == "" {
		sc.Timezone = "UTC"
	}
	if _, err := kv.Create(ctx, schNameKey(sc.Name), []byte(sc.ID)); err != nil {
		if isConflict(err) {
			return Schedule{}, fmt.Errorf("%w: a schedule is named %q", ErrAlreadyExists, sc.Name)
		}
		return Schedule{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	b, _ := json.Marshal(sc)
	if _, err := kv.Put(ctx, schKey(sc.ID), b); err != nil {
		_ = kv.Delete(ctx, schNameKey(sc.Name))
		return Schedule{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if requestID != "" {
		_, _ = kv.Put(ctx, schReqKey(requestID), []byte(sc.ID))
	}
	return sc, nil
}

// validatePayload checks built-in kinds' payloads are JSON objects (the
// periodic ones may also be empty).
func (s *Service) validatePayload(kind string, payload []byte) error {
	switch kind {
	case KindWebhookDeliver, KindMediaDelete:
	case KindUploadCleanup, KindOwnershipReverify, KindMediaDeleteScan:
		if len(payload) == 0 {
			return nil
		}
	default:
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil || m == nil {
		return invalidf("payload of %s must be a JSON object", kind)
	}
	return nil
}

func (s *Service) deleteSchedule(ctx context.Context, id string) error {
	if err := s.schedulesReady(); err != nil {
		return err
	}
	sc, _, err := s.getSchedule(ctx, id)
	if err != nil {
		return err
	}
	if err := s.jobs.kv.Delete(ctx, schKey(id)); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	_ = s.jobs.kv.Delete(ctx, schNameKey(sc.Name))
	return nil
}

func (s *Service) allSchedules(ctx context.Context) ([]Schedule, error) {
	l, err := s.jobs.kv.ListKeysFiltered(ctx, "sch.*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var out []Schedule
	for k := range l.Keys() {
		sc, _, err := s.getSchedule(ctx, strings.TrimPrefix(k, "sch."))
		if err == nil {
			out = append(out, sc)
		}
	}
	slices.SortFunc(out, func(a, b Schedule) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Service) listSchedules(ctx context.Context, size int, token string) ([]Schedule, string, error) {
	if err := s.schedulesReady(); err != nil {
		return nil, "", err
	}
	if size < 0 || size > 200 {
		return nil, "", invalidf("page_size must be 0 to 200")
	}
	if size == 0 {
		size = 50
	}
	var after string
	if token != "" {
		if !strings.HasPrefix(token, "n:") || !scheduleNameRE.MatchString(token[2:]) {
			return nil, "", invalidf("malformed page_token")
		}
		after = token[2:]
	}
	all, err := s.allSchedules(ctx)
	if err != nil {
		return nil, "", err
	}
	var out []Schedule
	for _, sc := range all {
		if after != "" && sc.Name <= after {
			continue
		}
		if len(out) == size {
			return out, "n:" + out[len(out)-1].Name, nil
		}
		out = append(out, sc)
	}
	return out, "", nil
}

// runScheduler campaigns for leadership in etcd and, while leader, fires
// due ticks. It returns when ctx is done.
func (s *Service) runScheduler(ctx context.Context) {
	cfg := election.Config{Prefix: electionPrefix, Name: s.cfg.NodeName, TTL: s.cfg.LeaderTTL}
	election.Run(ctx, s.etcd, cfg, s.logger, func(ctx context.Context) {
		t := time.NewTicker(s.cfg.ScheduleInterval)
		defer t.Stop()
		for {
			s.fireDue(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// fireDue fires, for each schedule, the latest tick that is due and not yet
// fired, if it is no older than MissedTickGrace. The job's idempotency key
// is "<schedule id>:<tick unix>", so a tick fires once even when a new
// leader repeats the work of an old one.
func (s *Service) fireDue(ctx context.Context) {
	all, err := s.allSchedules(ctx)
	if err != nil {
		s.logger.WarnContext(ctx, "worker scheduler: list schedules", "err", err)
		return
	}
	now := s.jobs.now()
	for _, sc := range all {
		sched, loc, err := parseSpec(sc.CronSpec, sc.Timezone)
		if err != nil {
			continue
		}
		from := sc.CreateTime
		if sc.LastFireTime.After(from) {
			from = sc.LastFireTime
		}
		if lo := now.Add(-s.cfg.MissedTickGrace); from.Before(lo) {
			from = lo.Add(-time.Nanosecond)
		}
		var tick time.Time
		for n := sched.Next(from.In(loc)); !n.IsZero() && !n.After(now); n = sched.Next(n) {
			tick = n
		}
		if tick.IsZero() {
			continue
		}
		j, _, err := s.Submit(ctx, SubmitParams{
			Kind: sc.Kind, Payload: sc.Payload, ScheduleID: sc.ID,
			IdempotencyKey: sc.ID + ":" + strconv.FormatInt(tick.Unix(), 10),
		})
		if err != nil {
			s.logger.WarnContext(ctx, "worker scheduler: fire", "schedule", sc.ID, "err", err)
			continue
		}
		for range 5 {
			cur, rev, err := s.getSchedule(ctx, sc.ID)
			if err != nil || !cur.LastFireTime.Before(tick) {
				break
			}
			cur.LastFireTime, cur.LastJobID = tick, j.ID
			b, _ := json.Marshal(cur)
			if _, err := s.jobs.kv.Update(ctx, schKey(sc.ID), b, rev); err == nil || !isConflict(err) {
				break
			}
		}
	}
}

// Design notes (to move into docs/ARCHITECTURE.md, "Worker").
//
// Jobs live on NATS JetStream, not in PostgreSQL with SELECT ... FOR UPDATE
// SKIP LOCKED. JetStream is already a hard dependency of every node (events),
// while PostgreSQL is owned by the metadata service; putting the queue there
// would couple the worker to another service's database and its migrations.
// JetStream gives the queue semantics we need natively: a work-queue stream
// ("WORKER_JOBS", subjects "worker.jobs.<kind>") removes a message once
// acked; explicit acks with an AckWait lease (kept alive by InProgress while
// an attempt runs) redeliver the job of a worker that died; NakWithDelay
// implements the retry backoff without a poller; one durable consumer per
// kind, with its own bounded pool, gives per-kind concurrency; Nats-Msg-Id
// deduplicates a republished enqueue. Job state (SCHEDULED ... CANCELED,
// attempts, last_error) is a JSON record in the KV bucket "worker_jobs"
// ("job.<id>"), updated with compare-and-set on the KV revision, so a stale
// replica can never overwrite a newer state (e.g. a cancel racing a finish).
// Idempotency keys are "idem.<kind>.<sha256(key)>" entries created with
// KV Create (atomic), pointing at the job. A job whose publish is not yet
// confirmed, or whose run_time is ahead (SCHEDULED), carries a "due.<id>"
// marker; a scanner (every ScanInterval, on every replica; CAS makes it safe)
// enqueues due jobs and republishes unconfirmed ones, so a crash between the
// KV write and the publish never loses a job. CancelJob flips the record; the
// replica running the attempt watches the record and cancels the handler's
// context, and its outcome is discarded. The trade-off: ListJobs scans the
// bucket's keys (fine at the volumes the retention keeps; an index is the
// next step), and the state record and the message are two writes, bridged
// by the due marker rather than a transaction.
//
// Webhooks are stored in the KV bucket "worker_webhooks": "whk.<id>" (with
// the secret, sealed under the key-encryption key: webhooksecrets.go), "own.<wallet>.<id>" (listing), "req.<wallet>.<sha(request
// id)>" (CreateWebhook retries) and "dlv.<webhook>.<ulid>" (attempt log).
// The worker subscribes to video.ready, video.failed, upload.completed and
// upload.failed and queues one "webhook.deliver" job per matching webhook
// of the creator, with idempotency key "<webhook_id>:<event_id>", so a
// redelivered event queues nothing new. alert.transitioned goes the same
// way to the operator webhooks, stored under the owner "operator".
//
// The built-in kinds that call other services (upload.cleanup,
// ownership.reverify, media.delete.scan, media.delete) are in builtins.go;
// docs/ARCHITECTURE.md ("Built-in kinds and their schedules") describes
// them and their default schedules. A 410 answer fails the job permanently (DEAD at once).
// A deleted webhook's pending deliveries end CANCELED at their next attempt.
//
// Per-kind concurrency is per replica: each replica runs one pull loop per
// registered kind with a pool of KindOptions.Concurrency attempts, all
// sharing the kind's durable consumer (so N replicas run up to N x limit).
//
// Schedules are "sch.<id>" records in the same KV bucket (names unique via
// "schname.<name>", created atomically). One replica, the leader elected
// through etcd concurrency.Election on "/streamgate/worker/scheduler"
// (session TTL Config.LeaderTTL), fires ticks. The fired job's idempotency
// key is "<schedule id>:<tick unix seconds>", so even two replicas that both
// believe they lead (an expired session not yet noticed) create one job per
// tick; last_fire_time is then advanced with CAS. Missed-tick policy: a new
// leader (or the same one after a pause) fires at most one missed tick, the
// latest, and only if it is no older than Config.MissedTickGrace (default 2
// minutes), so a tick that fell in a leader handover fires late but once;
// ticks missed in a longer outage (no replica running) are not replayed, as
// the contract says, and the schedule resumes at its next tick. Cron specs
// are read with robfig/cron/v3 (5 fields or @yearly/@monthly/@weekly/
// @daily/@hourly; day-of-week 7 is rewritten to 0) in the schedule's IANA
// zone.
package worker

package upload

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/streamgate/streamgate/gen/go/streamgate/events/v1"
	uploadv1 "github.com/streamgate/streamgate/gen/go/streamgate/upload/v1"
)

// sweepLoop expires abandoned uploads every SweepInterval (only with
// Config.SelfSweep; otherwise the worker's upload.cleanup schedule does).
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "upload: sweep", "err", err, "expired", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep moves every unfinished upload past its expire_time to EXPIRED,
// deletes its bytes and publishes upload.failed. It returns how many it
// expired. Uploads already EXPIRED whose bytes could not be deleted are
// retried on the next sweep.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n, _, err := s.ExpireAbandoned(ctx, 0)
	return n, err
}

func (s *Service) expire(ctx context.Context, id string, now time.Time) error {
	unlock, err := s.lockUpload(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.db.get(ctx, id)
	if err != nil {
		return err
	}
	if !acceptsBytes(rec.State) || now.Before(rec.ExpireTime) {
		return nil // moved on (a PATCH, a cancel) since the scan
	}
	// Stop further PATCHes first; the bytes go next.
	if ok, err := s.db.transition(ctx, id, []uploadv1.UploadState{stateCreated, stateUploading}, stateExpired, now,
		"failure_reason = ?", ""); err != nil || !ok {
		return err
	}
	if err := s.deleteBytes(ctx, id); err != nil {
		return err
	}
	reason := fmt.Sprintf("expired: not every byte arrived within %s of the last activity", s.cfg.Inactivity)
	return s.bus.Publish(ctx, &eventsv1.UploadFailed{
		EventId:        "upload.failed:" + id,
		OccurTime:      timestamppb.New(now),
		UploadId:       id,
		VideoId:        rec.VideoID,
		CreatorAddress: rec.Creator,
		Reason:         reason,
	})
}

package gateway

import (
	"context"
	"errors"
)

// Option configures optional parts of the service.
type Option func(*Service)

// WithBackground runs loop for the instance's lifetime (see Run), e.g. the
// edge following session revocations.
func WithBackground(loop func(ctx context.Context) error) Option {
	return func(s *Service) { s.loops = append(s.loops, loop) }
}

// Run runs the background loops until ctx is done; if one returns early
// the others are stopped too. Without loops it only waits for ctx.
func (s *Service) Run(ctx context.Context) error {
	if len(s.loops) == 0 {
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(s.loops))
	for _, loop := range s.loops {
		go func() { errs <- loop(ctx) }()
	}
	var all []error
	for range s.loops {
		all = append(all, <-errs)
		cancel()
	}
	return errors.Join(all...)
}

package server

import (
	"context"
	"errors"

	"connectrpc.com/connect"
)

// RequestValidator is an optional capability of a Service whose requests
// need checks before the domain runs (sizes, formats, required fields).
// Keeping it out of the domain lets the domain trust its inputs, and doing
// it in the chain means every protocol and every RPC is covered.
type RequestValidator interface {
	// ValidateRequest checks one request message of procedure (e.g.
	// "/streamgate.upload.v1.UploadService/CreateUpload"). A plain error
	// becomes CodeInvalidArgument; a *connect.Error is returned as is.
	ValidateRequest(ctx context.Context, procedure string, req any) error
}

// validateInterceptor runs a service's RequestValidator on every request
// message, unary or streamed, before the handler sees it.
type validateInterceptor struct {
	v RequestValidator
}

func (i validateInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		if err := i.v.ValidateRequest(ctx, req.Spec().Procedure, req.Any()); err != nil {
			return nil, invalidArgument(err)
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient is a pass-through: this chain is only installed on
// handlers.
func (i validateInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i validateInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, &validatingConn{StreamingHandlerConn: conn, ctx: ctx, v: i.v})
	}
}

// validatingConn validates each message as it is received. For a server
// stream the generated handler receives the one request before calling the
// implementation, so a bad request never reaches it.
type validatingConn struct {
	connect.StreamingHandlerConn
	ctx context.Context //nolint:containedctx // the stream's own context, scoped to this conn
	v   RequestValidator
}

func (c *validatingConn) Receive(msg any) error {
	if err := c.StreamingHandlerConn.Receive(msg); err != nil {
		return err
	}
	if err := c.v.ValidateRequest(c.ctx, c.Spec().Procedure, msg); err != nil {
		return invalidArgument(err)
	}
	return nil
}

func invalidArgument(err error) error {
	if ce := new(connect.Error); errors.As(err, &ce) {
		return err
	}
	return connect.NewError(connect.CodeInvalidArgument, err)
}

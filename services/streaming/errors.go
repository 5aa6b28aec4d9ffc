package streaming

import (
	"connectrpc.com/connect"

	"github.com/streamgate/streamgate/internal/rpcerr"
)

// retryMsg is all a caller learns of a dependency's failure.
const retryMsg = "temporarily unavailable, retry"

// errorTable maps the domain errors to Connect codes for the RPCs (see
// rpcerr.ToConnect; httpError maps them for the play path). Apart from bad
// input, a caller gets the sentinel's text or a fixed message; what a
// dependency's failure wraps is logged, not sent.
var errorTable = rpcerr.Table{
	{Err: errInvalid, Code: connect.CodeInvalidArgument},
	{Err: errNotFound, Code: connect.CodeNotFound, Msg: errNotFound.Error()},
	{Err: errNoToken, Code: connect.CodeUnauthenticated, Msg: errNoToken.Error()},
	{Err: errDenied, Code: connect.CodePermissionDenied, Msg: "playback token refused: expired, tampered, for another video or revoked; ask for a new one"},
	{Err: errExpired, Code: connect.CodePermissionDenied, Msg: "playback token expired or no longer valid: resume with a fresh token"},
	{Err: errPreviewEnded, Code: connect.CodePermissionDenied, Msg: errPreviewEnded.Error()},
	{Err: errNoDASHPreview, Code: connect.CodePermissionDenied, Msg: errNoDASHPreview.Error()},
	{Err: errNotPlayable, Code: connect.CodeFailedPrecondition, Msg: errNotPlayable.Error()},
	{Err: errVideoFailed, Code: connect.CodeFailedPrecondition, Msg: errVideoFailed.Error()},
	{Err: errUnavailable, Code: connect.CodeUnavailable, Msg: retryMsg},
	{Err: errKeysUnavailable, Code: connect.CodeUnavailable, Msg: retryMsg},
}

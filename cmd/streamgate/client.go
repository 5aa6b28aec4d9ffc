package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/streamgate/streamgate/internal/identity"
)

// defaultServer is the gateway of `streamgate dev`.
const defaultServer = "http://127.0.0.1:8080"

// clientFlags are the flags every client command takes.
type clientFlags struct {
	server string
	json   bool
}

// register adds --server, its deprecated alias --gateway, and --json
// (described by jsonUsage, which says what the command prints).
func (c *clientFlags) register(fs *flag.FlagSet, jsonUsage string) {
	fs.StringVar(&c.server, "server", defaultServer, "StreamGate server (gateway) URL")
	// The first client commands called it --gateway; scripts keep working.
	fs.StringVar(&c.server, "gateway", defaultServer, "deprecated: use --server")
	fs.BoolVar(&c.json, "json", false, jsonUsage)
}

// base validates --server and returns it without a trailing slash.
func (c *clientFlags) base() (string, error) {
	u, err := url.Parse(c.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--server %q is not an http(s) URL", c.server)
	}
	return strings.TrimRight(c.server, "/"), nil
}

// result finishes a client command: with --json a failure is also printed
// on stdout as {"error":{"code":"permission_denied","message":"..."}}, so a
// script reading stdout always gets one JSON document. The error is
// returned either way: run prints it on stderr and exits 1.
func (c *clientFlags) result(stdout io.Writer, err error) error {
	var r reported
	if err == nil || err == errUsage || !c.json || errors.As(err, &r) {
		return err
	}
	var doc struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	doc.Error.Code = errorCode(err)
	doc.Error.Message = err.Error()
	b, _ := json.Marshal(doc)
	fmt.Fprintln(stdout, string(b))
	return err
}

// reported is a failure the command has already described in its JSON
// output; result does not print a second document for it.
type reported struct{ error }

func (r reported) Unwrap() error { return r.error }

// errorCode names an error as a Connect code ("permission_denied"); errors
// that did not come from the server are "unauthenticated" when no session
// is stored, "unknown" otherwise.
func errorCode(err error) string {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce.Code().String()
	case errors.Is(err, errNotLoggedIn):
		return connect.CodeUnauthenticated.String()
	}
	return "unknown"
}

// printProto prints m as one indented JSON document with the proto field
// names, every field present (so `jq .videos[]` works on an empty page).
func printProto(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	// protojson varies its whitespace on purpose; normalize it.
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
	return err
}

// printJSON prints v as one JSON line.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// parseInterleaved parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// sessionFor returns the stored session when it was created through server,
// nil otherwise: a session for another server is not sent here.
func sessionFor(server string) *cliSession {
	s, err := loadSession()
	if err != nil || strings.TrimRight(s.Gateway, "/") != strings.TrimRight(server, "/") {
		return nil
	}
	return s
}

// walletFlags are the client flags of the commands that act as a wallet
// (a creator's commands): they send the session stored for --server and,
// without one, the dev identity header with --dev-address, as upload does
// (only streamgate dev accepts it).
type walletFlags struct {
	clientFlags
	devAddress string
}

func (w *walletFlags) register(fs *flag.FlagSet, jsonUsage string) {
	w.clientFlags.register(fs, jsonUsage)
	fs.StringVar(&w.devAddress, "dev-address", defaultDevAddress,
		"without a stored session for --server: wallet to act as, sent in the "+identity.DevAddressHeader+" header, which only streamgate dev accepts")
}

// check validates --server and --dev-address and returns the server's
// base URL.
func (w *walletFlags) check() (string, error) {
	base, err := w.base()
	if err != nil {
		return "", err
	}
	if _, err := identity.NormalizeAddress(w.devAddress); err != nil {
		return "", fmt.Errorf("--dev-address %q: %v", clipInput(w.devAddress), err)
	}
	return base, nil
}

// options authorizes every call to base: the stored session when there is
// one for base (refreshed as needed), the dev header otherwise.
func (w *walletFlags) options(base string) []connect.ClientOption {
	if sessionFor(base) != nil {
		return []connect.ClientOption{connect.WithInterceptors(sessionInterceptor{})}
	}
	return []connect.ClientOption{connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(identity.DevAddressHeader, w.devAddress)
			return next(ctx, req)
		}
	}))}
}

// explain adds to a refusal that the call went without a session, as the
// dev wallet: the usual cause of Unauthenticated or PermissionDenied then.
func (w *walletFlags) explain(base string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		if sessionFor(base) == nil {
			return fmt.Errorf("%w (no session for %s: acted as the dev wallet %s, which only streamgate dev accepts; run streamgate login)", err, base, w.devAddress)
		}
	}
	return err
}

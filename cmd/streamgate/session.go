package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	authv1 "github.com/streamgate/streamgate/gen/go/streamgate/auth/v1"
	"github.com/streamgate/streamgate/gen/go/streamgate/auth/v1/authv1connect"
)

// errNotLoggedIn is returned when no session is stored.
var errNotLoggedIn = errors.New("not logged in: run streamgate login (--dev or --key FILE)")

// refreshMargin: an access token expiring sooner than this is refreshed
// before use, so it does not expire in flight.
const refreshMargin = time.Minute

// cliSession is the session `streamgate login` stores for the other client
// commands, in session.json under the user's config directory (0600).
type cliSession struct {
	// Gateway is the URL the session was created through; refreshes go
	// there.
	Gateway      string    `json:"gateway"`
	Address      string    `json:"address"`
	ChainID      uint64    `json:"chain_id"`
	SessionID    string    `json:"session_id"`
	AccessToken  string    `json:"access_token"`
	AccessExpiry time.Time `json:"access_token_expire_time"`
	RefreshToken string    `json:"refresh_token"`
	// SessionExpiry is when the session ends unless refreshed.
	SessionExpiry time.Time `json:"session_expire_time"`
}

// sessionPath is os.UserConfigDir()/streamgate/session.json.
func sessionPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("locate the session file: %w", err)
	}
	return filepath.Join(dir, "streamgate", "session.json"), nil
}

// loadSession reads the stored session; errNotLoggedIn when there is none.
func loadSession() (*cliSession, error) {
	p, err := sessionPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotLoggedIn
	}
	if err != nil {
		return nil, err
	}
	var s cliSession
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("session file %s is corrupt (run streamgate login again): %w", p, err)
	}
	if s.AccessToken == "" || s.Gateway == "" {
		return nil, fmt.Errorf("session file %s is incomplete (run streamgate login again)", p)
	}
	return &s, nil
}

// saveSession writes s atomically with mode 0600 (the directory 0700): it
// holds bearer and refresh tokens.
func saveSession(s *cliSession) error {
	p, err := sessionPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".session-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// sessionMu serializes refreshes within the process: a refresh token is
// single-use, and auth treats a reused one as theft.
var sessionMu sync.Mutex

// authorizeSession sets `Authorization: Bearer <access token>` on h (an
// http.Request's Header or a connect.Request's Header()) from the stored
// session, refreshing the tokens first through the session's gateway when
// the access token expires within a minute (the new pair is stored).
func authorizeSession(ctx context.Context, h http.Header) error {
	tok, err := accessToken(ctx, time.Now())
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

// accessToken returns a usable access token, refreshing when needed.
func accessToken(ctx context.Context, now time.Time) (string, error) {
	sessionMu.Lock()
	defer sessionMu.Unlock()
	s, err := loadSession()
	if err != nil {
		return "", err
	}
	if now.Add(refreshMargin).Before(s.AccessExpiry) {
		return s.AccessToken, nil
	}
	if s.RefreshToken == "" || (!s.SessionExpiry.IsZero() && !now.Before(s.SessionExpiry)) {
		return "", errors.New("session expired: run streamgate login again")
	}
	client := authv1connect.NewAuthServiceClient(&http.Client{Timeout: 30 * time.Second}, strings.TrimSuffix(s.Gateway, "/"))
	res, err := client.RefreshSession(ctx, connect.NewRequest(&authv1.RefreshSessionRequest{RefreshToken: s.RefreshToken}))
	if connect.CodeOf(err) == connect.CodeUnauthenticated {
		return "", fmt.Errorf("session ended (%v): run streamgate login again", err)
	}
	if err != nil {
		return "", fmt.Errorf("refresh session through %s: %w", s.Gateway, err)
	}
	s.AccessToken = res.Msg.GetAccessToken()
	s.AccessExpiry = res.Msg.GetAccessTokenExpireTime().AsTime()
	s.RefreshToken = res.Msg.GetRefreshToken()
	if sess := res.Msg.GetSession(); sess != nil {
		s.SessionExpiry = sess.GetExpireTime().AsTime()
	}
	if err := saveSession(s); err != nil {
		return "", fmt.Errorf("store the refreshed session: %w", err)
	}
	return s.AccessToken, nil
}

package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// store keeps nonces, sessions, refresh tokens and signing keys in SQLite
// (WAL). Times are Unix milliseconds.
//
// Private signing keys sit in the same file, readable by whoever can read
// DataDir: good enough for one machine. In production the answer is a KMS
// (or an HSM) that signs without ever handing out the key; the keys type
// is the seam for it.
type store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS nonces (
	nonce    TEXT PRIMARY KEY,
	address  TEXT NOT NULL,
	chain_id INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	used     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS nonces_by_address ON nonces(address, expires);
CREATE TABLE IF NOT EXISTS sessions (
	id          TEXT PRIMARY KEY,
	address     TEXT NOT NULL,
	chain_id    INTEGER NOT NULL,
	created     INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	max_expires INTEGER NOT NULL,
	revoked     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
	hash       BLOB PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	expires    INTEGER NOT NULL,
	used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_by_session ON refresh_tokens(session_id);
CREATE TABLE IF NOT EXISTS signing_keys (
	kid         TEXT PRIMARY KEY,
	private_key BLOB NOT NULL,
	activate    INTEGER NOT NULL,
	retire      INTEGER
);
`

func openStore(ctx context.Context, dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "auth.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection makes every transaction serial, so no SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: create schema: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

func ms(t time.Time) int64        { return t.UnixMilli() }
func fromMS(v int64) time.Time    { return time.UnixMilli(v).UTC() }
func hashToken(tok string) []byte { h := sha256.Sum256([]byte(tok)); return h[:] }

// errTooManyChallenges is returned by addNonce over the per-address limit.
var errTooManyChallenges = errors.New("too many open challenges")

// addNonce records an issued nonce unless the address has limit open ones.
func (s *store) addNonce(ctx context.Context, nonce, address string, chainID uint64, expires, now time.Time, limit int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nonces WHERE address = ? AND used = 0 AND expires > ?`, address, ms(now)).Scan(&open); err != nil {
		return err
	}
	if open >= limit {
		return errTooManyChallenges
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO nonces (nonce, address, chain_id, expires) VALUES (?, ?, ?, ?)`, nonce, address, int64(chainID), ms(expires)); err != nil {
		return err
	}
	return tx.Commit()
}

// nonce states reported when consumption fails.
var (
	errNonceUnknown  = errors.New("nonce was not issued by this server")
	errNonceUsed     = errors.New("nonce was already used")
	errNonceExpired  = errors.New("nonce has expired")
	errNonceMismatch = errors.New("nonce was issued for another address or chain")
)

// session is a stored session.
type session struct {
	ID         string
	Address    string
	ChainID    uint64
	Created    time.Time
	Expires    time.Time
	MaxExpires time.Time
	Revoked    bool
}

// openSession consumes the nonce atomically and, in the same transaction,
// creates the session and its first refresh token. A nonce is consumed by
// exactly one caller: the UPDATE matches only an unused, unexpired nonce
// and the rows affected decide.
func (s *store) openSession(ctx context.Context, nonce string, sess session, refreshHash []byte, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE nonces SET used = 1 WHERE nonce = ? AND address = ? AND chain_id = ? AND used = 0 AND expires > ?`,
		nonce, sess.Address, int64(sess.ChainID), ms(now))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return s.whyNonce(ctx, tx, nonce, sess.Address, sess.ChainID, now)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, address, chain_id, created, expires, max_expires) VALUES (?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.Address, int64(sess.ChainID), ms(sess.Created), ms(sess.Expires), ms(sess.MaxExpires)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, expires) VALUES (?, ?, ?)`, refreshHash, sess.ID, ms(sess.Expires)); err != nil {
		return err
	}
	return tx.Commit()
}

// peekNonce reports whether the nonce could be consumed now, without
// consuming it: SignIn checks it before a signature check that may cost
// a chain call.
func (s *store) peekNonce(ctx context.Context, nonce, address string, chainID uint64, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM nonces WHERE nonce = ? AND address = ? AND chain_id = ? AND used = 0 AND expires > ?`,
		nonce, address, int64(chainID), ms(now)).Scan(&n); err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	return s.whyNonce(ctx, tx, nonce, address, chainID, now)
}

func (s *store) whyNonce(ctx context.Context, tx *sql.Tx, nonce, address string, chainID uint64, now time.Time) error {
	var addr string
	var chain, expires int64
	var used int
	err := tx.QueryRowContext(ctx, `SELECT address, chain_id, expires, used FROM nonces WHERE nonce = ?`, nonce).Scan(&addr, &chain, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNonceUnknown
	case err != nil:
		return err
	case used != 0:
		return errNonceUsed
	case addr != address || uint64(chain) != chainID:
		return errNonceMismatch
	case expires <= ms(now):
		return errNonceExpired
	}
	return errors.New("auth: nonce consumption matched no row for an unknown reason")
}

var (
	errRefreshInvalid = errors.New("refresh token is unknown or expired")
	errRefreshReused  = errors.New("refresh token was already used; the session is revoked")
	errSessionGone    = errors.New("session is revoked or expired")
)

// refresh spends a refresh token and stores its successor, extending the
// session to newExpires(session) (capped at its max). A token presented
// twice means it leaked: the session is revoked (RFC 6819 5.2.2.3).
func (s *store) refresh(ctx context.Context, oldHash, newHash []byte, now time.Time, extend time.Duration) (session, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return session{}, err
	}
	defer tx.Rollback()
	var sid string
	var used int
	var expires int64
	err = tx.QueryRowContext(ctx, `SELECT session_id, used, expires FROM refresh_tokens WHERE hash = ?`, oldHash).Scan(&sid, &used, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return session{}, errRefreshInvalid
	}
	if err != nil {
		return session{}, err
	}
	if used != 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE id = ?`, sid); err != nil {
			return session{}, err
		}
		if err := tx.Commit(); err != nil {
			return session{}, err
		}
		return session{}, errRefreshReused
	}
	res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used = 1 WHERE hash = ? AND used = 0 AND expires > ?`, oldHash, ms(now))
	if err != nil {
		return session{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return session{}, err
	} else if n != 1 {
		return session{}, errRefreshInvalid
	}
	sess, err := getSession(ctx, tx, sid)
	if err != nil {
		return session{}, err
	}
	if sess.Revoked || !now.Before(sess.Expires) {
		return session{}, errSessionGone
	}
	sess.Expires = now.Add(extend)
	if sess.Expires.After(sess.MaxExpires) {
		sess.Expires = sess.MaxExpires
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET expires = ? WHERE id = ?`, ms(sess.Expires), sid); err != nil {
		return session{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, expires) VALUES (?, ?, ?)`, newHash, sid, ms(sess.Expires)); err != nil {
		return session{}, err
	}
	return sess, tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var errNoSession = errors.New("no such session")

func getSession(ctx context.Context, q querier, id string) (session, error) {
	var sess session
	var chain, created, expires, maxExpires int64
	var revoked int
	err := q.QueryRowContext(ctx, `SELECT id, address, chain_id, created, expires, max_expires, revoked FROM sessions WHERE id = ?`, id).
		Scan(&sess.ID, &sess.Address, &chain, &created, &expires, &maxExpires, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	sess.ChainID, sess.Created, sess.Expires, sess.MaxExpires, sess.Revoked = uint64(chain), fromMS(created), fromMS(expires), fromMS(maxExpires), revoked != 0
	return sess, nil
}

func (s *store) session(ctx context.Context, id string) (session, error) {
	return getSession(ctx, s.db, id)
}

// revoke ends a session and spends its refresh tokens. Idempotent.
func (s *store) revoke(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE id = ?`, id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used = 1 WHERE session_id = ?`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// sweep deletes nonces, refresh tokens and sessions that can no longer
// matter (expired more than a grace period ago).
func (s *store) sweep(ctx context.Context, before time.Time) error {
	for _, q := range []string{
		`DELETE FROM nonces WHERE expires < ?`,
		`DELETE FROM refresh_tokens WHERE expires < ?`,
		`DELETE FROM sessions WHERE expires < ?`,
	} {
		if _, err := s.db.ExecContext(ctx, q, ms(before)); err != nil {
			return err
		}
	}
	return nil
}

// storedKey is a signing key row.
type storedKey struct {
	ID       string
	Private  ed25519.PrivateKey
	Activate time.Time
	Retire   time.Time // zero while no successor is scheduled
}

func (s *store) keys(ctx context.Context) ([]storedKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, private_key, activate, retire FROM signing_keys ORDER BY activate`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedKey
	for rows.Next() {
		var k storedKey
		var priv []byte
		var activate int64
		var retire sql.NullInt64
		if err := rows.Scan(&k.ID, &priv, &activate, &retire); err != nil {
			return nil, err
		}
		if len(priv) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("auth: signing key %s: stored private key has %d bytes", k.ID, len(priv))
		}
		k.Private, k.Activate = ed25519.PrivateKey(priv), fromMS(activate)
		if retire.Valid {
			k.Retire = fromMS(retire.Int64)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// addKey stores k and, in the same transaction, schedules the retirement
// of the key it succeeds (prevID, may be empty) at k's activation.
func (s *store) addKey(ctx context.Context, k storedKey, prevID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if prevID != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire = ? WHERE kid = ?`, ms(k.Activate), prevID); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, private_key, activate) VALUES (?, ?, ?)`, k.ID, []byte(k.Private), ms(k.Activate)); err != nil {
		return err
	}
	return tx.Commit()
}

// pruneKeys deletes keys retired before before.
func (s *store) pruneKeys(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM signing_keys WHERE retire IS NOT NULL AND retire < ?`, ms(before))
	return err
}

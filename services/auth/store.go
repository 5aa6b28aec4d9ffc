package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/streamgate/streamgate/internal/secretbox"
)

// store keeps nonces, sessions, refresh tokens, signing keys and playback
// grants in SQL: SQLite (WAL) under DataDir for one instance, or
// PostgreSQL shared by several instances. The queries are written once, with ? placeholders;
// what differs between the engines sits behind dialect. Times are Unix
// milliseconds. The schema (sqliteSchema, pgSchemaDDL) is applied at every
// start and is idempotent: a new table or index is added to both with IF
// NOT EXISTS; changing an existing one would need versioned migrations, as
// metadata's store has.
//
// Every single-use step (a nonce consumed, a refresh token spent, a key
// rotated) is a conditional write inside a transaction whose affected
// rows decide, never a read followed by a write, so it stays single-use
// across instances sharing one PostgreSQL database.
//
// Private signing keys are sealed (secretbox, AES-256-GCM) under the
// key-encryption key of Config.KEK, bound to their kid, so the database
// alone (a dump, a backup, a replica) does not hold them. Without a KEK
// (tests, and dev before it had one) they are stored in clear; a clear
// key is told from a sealed one by its length (an Ed25519 private key is
// 64 bytes, a sealed one 64 + secretbox.Overhead), and is sealed at the
// next start with a KEK (sealKeys). A KMS or an HSM that signs without
// ever handing out the key would go further; the keys type is the seam
// for it.
type store struct {
	db        *sql.DB
	d         dialect
	closePool func() // PostgreSQL: the pool under db
	kek       *secretbox.Keyring
}

// dialect is what the two engines do differently for the same queries.
type dialect interface {
	// rebind rewrites a query's ? placeholders into the engine's.
	rebind(query string) string
	// lock takes a lock named key until tx ends. It serializes the
	// transactions of all instances that take the same key; SQLite, with
	// one connection and one instance, is serial already.
	lock(ctx context.Context, tx *sql.Tx, key string) error
	// forUpdate ends a SELECT whose rows the transaction must lock until
	// it ends ("" where the engine has no row locks).
	forUpdate() string
}

// openStore opens the PostgreSQL database at cfg.DatabaseURL, or else the
// SQLite one in cfg.DataDir, and creates the schema if needed.
func openStore(ctx context.Context, cfg *Config) (*store, error) {
	var s *store
	var err error
	if cfg.DatabaseURL != "" {
		s, err = openPostgres(ctx, cfg.DatabaseURL)
	} else {
		s, err = openSQLite(ctx, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	s.kek = cfg.KEK
	return s, nil
}

func (s *store) Close() error {
	err := s.db.Close()
	if s.closePool != nil {
		s.closePool()
	}
	return err
}

// q rebinds a query for the engine.
func (s *store) q(query string) string { return s.d.rebind(query) }

// inTx runs fn in a transaction, committed when fn returns nil. fn may
// also commit itself (to keep a write while returning an error); the
// rollback after a commit is a no-op.
func (s *store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64        { return t.UnixMilli() }
func fromMS(v int64) time.Time    { return time.UnixMilli(v).UTC() }
func hashToken(tok string) []byte { h := sha256.Sum256([]byte(tok)); return h[:] }

// errTooManyChallenges is returned by addNonce over the per-address limit.
var errTooManyChallenges = errors.New("too many open challenges")

// addNonce records an issued nonce unless the address has limit open ones.
// The count and the insert run under a per-address lock, so instances
// issuing challenges for one address at once cannot together exceed it.
func (s *store) addNonce(ctx context.Context, nonce, address string, chainID uint64, expires, now time.Time, limit int) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := s.d.lock(ctx, tx, "nonces:"+address); err != nil {
			return err
		}
		var open int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM nonces WHERE address = ? AND used = 0 AND expires > ?`), address, ms(now)).Scan(&open); err != nil {
			return err
		}
		if open >= limit {
			return errTooManyChallenges
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO nonces (nonce, address, chain_id, expires) VALUES (?, ?, ?, ?)`), nonce, address, int64(chainID), ms(expires))
		return err
	})
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
// and the rows affected decide (on PostgreSQL a concurrent UPDATE of the
// same row waits for the first to commit, then re-checks used = 0).
func (s *store) openSession(ctx context.Context, nonce string, sess session, refreshHash []byte, now time.Time) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE nonces SET used = 1 WHERE nonce = ? AND address = ? AND chain_id = ? AND used = 0 AND expires > ?`),
			nonce, sess.Address, int64(sess.ChainID), ms(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return s.whyNonce(ctx, tx, nonce, sess.Address, sess.ChainID, now)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions (id, address, chain_id, created, expires, max_expires) VALUES (?, ?, ?, ?, ?, ?)`),
			sess.ID, sess.Address, int64(sess.ChainID), ms(sess.Created), ms(sess.Expires), ms(sess.MaxExpires)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, session_id, expires) VALUES (?, ?, ?)`), refreshHash, sess.ID, ms(sess.Expires))
		return err
	})
}

// peekNonce reports whether the nonce could be consumed now, without
// consuming it: SignIn checks it before a signature check that may cost
// a chain call.
func (s *store) peekNonce(ctx context.Context, nonce, address string, chainID uint64, now time.Time) error {
	return s.inTx(ctx, &sql.TxOptions{ReadOnly: true}, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM nonces WHERE nonce = ? AND address = ? AND chain_id = ? AND used = 0 AND expires > ?`),
			nonce, address, int64(chainID), ms(now)).Scan(&n); err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		return s.whyNonce(ctx, tx, nonce, address, chainID, now)
	})
}

func (s *store) whyNonce(ctx context.Context, tx *sql.Tx, nonce, address string, chainID uint64, now time.Time) error {
	var addr string
	var chain, expires int64
	var used int
	err := tx.QueryRowContext(ctx, s.q(`SELECT address, chain_id, expires, used FROM nonces WHERE nonce = ?`), nonce).Scan(&addr, &chain, &expires, &used)
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
// session by extend (capped at its max). A token presented twice means it
// leaked: the session is revoked (RFC 6819 5.2.2.3).
//
// The session row is locked before the token is spent, as revoke does:
// a second refresh of the same token, or a revocation, on another
// instance waits for this one and then sees its outcome, and the lock
// order (session, then tokens) is the same everywhere, so no deadlock.
func (s *store) refresh(ctx context.Context, oldHash, newHash []byte, now time.Time, extend time.Duration) (session, error) {
	var sess session
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		var sid string
		var expires int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT session_id, expires FROM refresh_tokens WHERE hash = ?`), oldHash).Scan(&sid, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return errRefreshInvalid
		}
		if err != nil {
			return err
		}
		sess, err = getSession(ctx, tx, s.q(selectSession+s.d.forUpdate()), sid)
		if errors.Is(err, errNoSession) {
			return errSessionGone
		}
		if err != nil {
			return err
		}
		// Spend the token: whoever flips used decides. A token already
		// spent was presented twice.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET used = 1 WHERE hash = ? AND used = 0`), oldHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET revoked = 1 WHERE id = ?`), sid); err != nil {
				return err
			}
			if err := tx.Commit(); err != nil {
				return err
			}
			return errRefreshReused
		}
		// An expired token or a dead session: the rollback leaves the
		// token as it was.
		if expires <= ms(now) {
			return errRefreshInvalid
		}
		if sess.Revoked || !now.Before(sess.Expires) {
			return errSessionGone
		}
		sess.Expires = now.Add(extend)
		if sess.Expires.After(sess.MaxExpires) {
			sess.Expires = sess.MaxExpires
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET expires = ? WHERE id = ?`), ms(sess.Expires), sid); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (hash, session_id, expires) VALUES (?, ?, ?)`), newHash, sid, ms(sess.Expires))
		return err
	})
	if errors.Is(err, errRefreshReused) {
		return sess, err // the session just revoked, for the caller to announce
	}
	if err != nil {
		return session{}, err
	}
	return sess, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var errNoSession = errors.New("no such session")

const selectSession = `SELECT id, address, chain_id, created, expires, max_expires, revoked FROM sessions WHERE id = ?`

// getSession runs query, selectSession rebound (and maybe locking).
func getSession(ctx context.Context, q querier, query, id string) (session, error) {
	var sess session
	var chain, created, expires, maxExpires int64
	var revoked int
	err := q.QueryRowContext(ctx, query, id).Scan(&sess.ID, &sess.Address, &chain, &created, &expires, &maxExpires, &revoked)
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
	return getSession(ctx, s.db, s.q(selectSession), id)
}

// revoke ends a session and spends its refresh tokens. Idempotent. The
// session row is written (locked) first, as refresh locks it.
func (s *store) revoke(ctx context.Context, id string) error {
	return s.inTx(ctx, nil, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sessions SET revoked = 1 WHERE id = ?`), id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET used = 1 WHERE session_id = ?`), id)
		return err
	})
}

// sweep deletes nonces, refresh tokens, sessions and playback grants
// that can no longer matter (expired more than a grace period ago; reads
// of grants skip the expired ones meanwhile). Instances may sweep at once:
// each DELETE is idempotent.
func (s *store) sweep(ctx context.Context, before time.Time) error {
	for _, q := range []string{
		`DELETE FROM nonces WHERE expires < ?`,
		`DELETE FROM refresh_tokens WHERE expires < ?`,
		`DELETE FROM sessions WHERE expires < ?`,
		`DELETE FROM playback_grants WHERE expires < ?`,
	} {
		if _, err := s.db.ExecContext(ctx, s.q(q), ms(before)); err != nil {
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

// keys lists the signing keys by activation (then kid, so that every
// instance orders them alike).
func (s *store) keys(ctx context.Context) ([]storedKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, private_key, activate, retire FROM signing_keys ORDER BY activate, kid`)
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
		if priv, err = s.openKey(k.ID, priv); err != nil {
			return nil, err
		}
		k.Private, k.Activate = ed25519.PrivateKey(priv), fromMS(activate)
		if retire.Valid {
			k.Retire = fromMS(retire.Int64)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// addKey stores k as the successor of prevID (empty for the first key)
// and, in the same transaction, schedules prevID's retirement at k's
// activation. It is a compare-and-set on prevID: when prevID already has
// a successor (or, for the first key, when any key exists), another
// instance rotated first, and addKey stores nothing and returns
// added false; the caller re-reads the keys and adopts that rotation.
func (s *store) addKey(ctx context.Context, k storedKey, prevID string) (added bool, err error) {
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		// The first key has no row to compare and set: the lock makes
		// "no key yet" and the insert one step across instances.
		if err := s.d.lock(ctx, tx, "signing_keys"); err != nil {
			return err
		}
		if prevID == "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys`).Scan(&n); err != nil || n > 0 {
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE signing_keys SET retire = ? WHERE kid = ? AND retire IS NULL`), ms(k.Activate), prevID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO signing_keys (kid, private_key, activate) VALUES (?, ?, ?)`), k.ID, s.sealKey(k.ID, k.Private), ms(k.Activate)); err != nil {
			return err
		}
		added = true
		return nil
	})
	return added && err == nil, err
}

// pruneKeys deletes keys retired before before.
func (s *store) pruneKeys(ctx context.Context, before time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM signing_keys WHERE retire IS NOT NULL AND retire < ?`), ms(before))
	return err
}

// keyContext binds a sealed signing key to its kid: a sealed key copied
// into another row does not open.
func keyContext(kid string) []byte { return []byte("streamgate/auth/signing_key\x00" + kid) }

// sealKey is the stored form of a private key: sealed under the KEK, or
// in clear without one.
func (s *store) sealKey(kid string, priv ed25519.PrivateKey) []byte {
	if s.kek == nil {
		return []byte(priv)
	}
	return s.kek.Seal(priv, keyContext(kid))
}

// openKey reads a stored private key: clear (64 bytes, stored before the
// KEK) or sealed.
func (s *store) openKey(kid string, stored []byte) ([]byte, error) {
	switch {
	case len(stored) == ed25519.PrivateKeySize:
		return stored, nil
	case !secretbox.IsSealed(stored):
		return nil, fmt.Errorf("auth: signing key %s: stored private key has %d bytes and is not sealed", kid, len(stored))
	case s.kek == nil:
		return nil, fmt.Errorf("auth: signing key %s is encrypted, and no key-encryption key is configured (--kek-file or $STREAMGATE_KEK)", kid)
	}
	priv, err := s.kek.Open(stored, keyContext(kid))
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s cannot be decrypted with the configured key-encryption key (a wrong KEK, or its previous key was dropped from the KEK file?): %w", kid, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("auth: signing key %s: decrypted private key has %d bytes", kid, len(priv))
	}
	return priv, nil
}

// sealKeys seals, under the current KEK, every stored key that is in
// clear or sealed under a previous KEK, so that after a start with a
// rotated KEK the previous one can be dropped. Each update is a
// compare-and-set on the stored bytes: instances starting together
// re-seal each key once, and a key rotated or pruned meanwhile is left
// alone. A key that does not open fails the start.
func (s *store) sealKeys(ctx context.Context) (resealed int, err error) {
	if s.kek == nil {
		return 0, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kid, private_key FROM signing_keys`)
	if err != nil {
		return 0, err
	}
	type row struct {
		kid    string
		stored []byte
	}
	var stale []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.kid, &r.stored); err != nil {
			rows.Close()
			return 0, err
		}
		if !s.kek.SealedWithCurrent(r.stored) {
			stale = append(stale, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range stale {
		priv, err := s.openKey(r.kid, r.stored)
		if err != nil {
			return resealed, err
		}
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?`), s.sealKey(r.kid, priv), r.kid, r.stored)
		if err != nil {
			return resealed, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			resealed++
		}
	}
	return resealed, nil
}

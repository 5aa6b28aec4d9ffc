package auth

import (
	"context"
	"database/sql"
	"math"
	"time"
)

// storedGrant is a playback_grants row: a playback token issued to Address
// for VideoID under Policy (a serialized authv1.AccessPolicy), what
// re-verification and transfers re-check. Address is EIP-55.
type storedGrant struct {
	VideoID string
	Address string
	Policy  []byte
	Expires time.Time // of the newest token issued
	Issued  time.Time // of the newest token issued
	Checked time.Time // last chain check: issuance or re-verification
}

// putGrant records g, or, when the viewer already has a grant for the
// video, replaces its policy, issue and check times and extends its
// expiry (never shortens it: a token issued earlier may outlive g's).
func (s *store) putGrant(ctx context.Context, g storedGrant) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO playback_grants (video_id, address, policy, expires, issued, checked) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (video_id, address) DO UPDATE SET
	policy = excluded.policy,
	expires = CASE WHEN excluded.expires > playback_grants.expires THEN excluded.expires ELSE playback_grants.expires END,
	issued = excluded.issued,
	checked = excluded.checked`),
		g.VideoID, g.Address, g.Policy, ms(g.Expires), ms(g.Issued), ms(g.Checked))
	return err
}

const selectGrant = `SELECT video_id, address, policy, expires, issued, checked FROM playback_grants `

func scanGrants(rows *sql.Rows) ([]storedGrant, error) {
	defer rows.Close()
	var out []storedGrant
	for rows.Next() {
		var g storedGrant
		var expires, issued, checked int64
		if err := rows.Scan(&g.VideoID, &g.Address, &g.Policy, &expires, &issued, &checked); err != nil {
			return nil, err
		}
		g.Expires, g.Issued, g.Checked = fromMS(expires), fromMS(issued), fromMS(checked)
		out = append(out, g)
	}
	return out, rows.Err()
}

// grantsOf returns the live grants of address, whichever instance issued
// them (by the grants_by_address index; a viewer holds a few).
func (s *store) grantsOf(ctx context.Context, address string, now time.Time) ([]storedGrant, error) {
	rows, err := s.db.QueryContext(ctx, s.q(selectGrant+`WHERE address = ? AND expires > ? ORDER BY video_id`), address, ms(now))
	if err != nil {
		return nil, err
	}
	return scanGrants(rows)
}

// grantPolicies returns the distinct policies of the live grants, of
// every instance: as many as gated videos with live grants. It reads the
// whole table (no index gives distinct policies), which is why it runs
// at start-up and once per sweep only (see Service.followGrants).
func (s *store) grantPolicies(ctx context.Context, now time.Time) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT policy FROM playback_grants WHERE expires > ?`), ms(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// grantCursor is where a walk of the grants in (checked, video_id,
// address) order stands: the key of the last row returned.
type grantCursor struct {
	checked int64
	videoID string
	address string
}

// grantsStart is the cursor before the first grant.
var grantsStart = grantCursor{checked: math.MinInt64}

// grantsByChecked returns up to n live grants after cur in (checked,
// video_id, address) order, least recently checked first, checked at or
// before checkedBy, and the cursor after them. It reads the
// grants_by_checked index from cur on: a page costs n rows, however many
// grants there are.
func (s *store) grantsByChecked(ctx context.Context, cur grantCursor, checkedBy, now time.Time, n int) ([]storedGrant, grantCursor, error) {
	rows, err := s.db.QueryContext(ctx, s.q(selectGrant+`WHERE (checked, video_id, address) > (?, ?, ?) AND checked <= ? AND expires > ?
ORDER BY checked, video_id, address LIMIT ?`),
		cur.checked, cur.videoID, cur.address, ms(checkedBy), ms(now), n)
	if err != nil {
		return nil, cur, err
	}
	out, err := scanGrants(rows)
	if err != nil {
		return nil, cur, err
	}
	if len(out) > 0 {
		last := out[len(out)-1]
		cur = grantCursor{ms(last.Checked), last.VideoID, last.Address}
	}
	return out, cur, nil
}

// markGrantChecked records a successful chain check of the grant at now
// (never moving the time back: another instance may have checked it
// later).
func (s *store) markGrantChecked(ctx context.Context, videoID, address string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE playback_grants SET checked = ? WHERE video_id = ? AND address = ? AND checked < ?`),
		ms(now), videoID, address, ms(now))
	return err
}

// deleteGrant deletes the grant unless a token was issued for it after
// issuedBy (when the check that condemned it began): that token's
// issuance checked the chain itself. Idempotent: instances handling the
// same transfer may both delete.
func (s *store) deleteGrant(ctx context.Context, videoID, address string, issuedBy time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM playback_grants WHERE video_id = ? AND address = ? AND issued <= ?`),
		videoID, address, ms(issuedBy))
	return err
}

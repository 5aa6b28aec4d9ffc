package pgtest_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/streamgate/streamgate/internal/testing/pgtest"
)

func TestStart(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.NewDatabase(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW server_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if len(v) < 2 || v[:2] != "15" {
		t.Errorf("server_version %q, want 15.x", v)
	}
	if url2 := srv.NewDatabase(t); url2 == url {
		t.Errorf("NewDatabase returned %s twice", url)
	}
}

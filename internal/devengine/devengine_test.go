package devengine_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/streamgate/streamgate/internal/devengine"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func stop(t *testing.T, name string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Errorf("%s Stop: %v", name, err)
	}
	if err := f(); err != nil {
		t.Errorf("%s second Stop: %v", name, err)
	}
}

func TestPostgresKeepsDataAcrossRestart(t *testing.T) {
	t.Parallel()
	// Not t.TempDir: as root the server runs as the postgres user, which
	// cannot reach into t.TempDir's parents.
	dir, err := os.MkdirTemp("", "devengine-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx := ctx(t)

	pg, err := devengine.StartPostgres(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	url, err := pg.CreateDatabase(ctx, "kept")
	if err != nil {
		pg.Stop()
		t.Fatal(err)
	}
	if again, err := pg.CreateDatabase(ctx, "kept"); err != nil || again != url {
		t.Errorf("second CreateDatabase = %q, %v; want %q", again, err, url)
	}
	exec(t, url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('hello')")
	stop(t, "postgres", pg.Stop)
	select {
	case <-pg.Done():
	default:
		t.Error("Done not closed after Stop")
	}

	pg, err = devengine.StartPostgres(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, "postgres", pg.Stop)
	url, err = pg.CreateDatabase(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "hello" {
		t.Errorf("after restart: %q, %v; want hello", v, err)
	}
}

func TestPostgresAsRootNeedsReachableDir(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("only root runs the server as the postgres user")
	}
	// t.TempDir's parent is private to root.
	_, err := devengine.StartPostgres(ctx(t), filepath.Join(t.TempDir(), "pg"))
	if err == nil || !strings.Contains(err.Error(), "cannot reach into") {
		t.Errorf("StartPostgres in t.TempDir() = %v, want a 'cannot reach into' error", err)
	}
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatal(err)
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	r, err := devengine.StartRedis(ctx(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, "redis", r.Stop)
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/0") {
		t.Errorf("URL = %q", r.URL())
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := ctx(t)
	s, err := devengine.StartS3(ctx, dir, "bkt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("v"),
	}); err != nil {
		t.Fatal(err)
	}
	stop(t, "versitygw", s.Stop)

	// Restart on the same dir: the bucket exists and keeps its objects.
	s, err = devengine.StartS3(ctx, dir, "bkt")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(t, "versitygw", s.Stop)
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, err := io.ReadAll(out.Body); err != nil || string(b) != "v" {
		t.Errorf("after restart: %q, %v", b, err)
	}
	env := strings.Join(s.Env(), " ")
	for _, want := range []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_EC2_METADATA_DISABLED=true"} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %s: %s", want, env)
		}
	}
}

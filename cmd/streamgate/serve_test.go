package main

import (
	"flag"
	"io"
	"testing"
)

func TestBlobURLFlagAndEnvironment(t *testing.T) {
	parse := func(args ...string) string {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var m meshFlags
		m.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := m.nodeConfig([]string{"streaming"}, ".streamgate")
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Settings.BlobURL
	}
	t.Setenv("STREAMGATE_BLOB_URL", "")
	if got := parse(); got != "" {
		t.Errorf("no flag, no environment: BlobURL = %q, want empty (the data dir's media/)", got)
	}
	t.Setenv("STREAMGATE_BLOB_URL", "s3://from-env")
	if got := parse(); got != "s3://from-env" {
		t.Errorf("from the environment: BlobURL = %q, want s3://from-env", got)
	}
	if got := parse("--blob-url", "s3://from-flag/p?region=eu-west-1"); got != "s3://from-flag/p?region=eu-west-1" {
		t.Errorf("the flag over the environment: BlobURL = %q", got)
	}
}

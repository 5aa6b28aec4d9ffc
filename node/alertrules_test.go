package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamgate/streamgate/node"
)

func TestLoadAlertRules(t *testing.T) {
	if r, err := node.LoadAlertRules(""); r != nil || err != nil {
		t.Fatalf(`LoadAlertRules("") = %v, %v; want nil, nil (the defaults)`, r, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(good, []byte(`{"instance_down_for":"5s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := node.LoadAlertRules(good)
	if err != nil || r == nil || r.InstanceDownFor != 5*time.Second {
		t.Fatalf("LoadAlertRules(%s) = %+v, %v; want instance_down_for 5s", good, r, err)
	}
	typo := filepath.Join(dir, "typo.json")
	if err := os.WriteFile(typo, []byte(`{"instance_down_fr":"5s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		typo:                            "unknown field",
		filepath.Join(dir, "none.json"): "no such file",
	} {
		if _, err := node.LoadAlertRules(path); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadAlertRules(%s) = %v; want an error naming the file and %q", path, err, want)
		}
	}
}

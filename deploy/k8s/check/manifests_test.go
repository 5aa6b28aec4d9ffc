package check

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Paths from this module (deploy/k8s/check) to what it checks.
const (
	repoRoot     = "../../.."
	archDoc      = "../../../docs/ARCHITECTURE.md"
	dockerfile   = "../../../Dockerfile"
	fixtureDir   = "testdata/fixture"
	fixtureFlows = "testdata/fixture/FLOWS.md"
)

// k8sDir is deploy/k8s, whose overlays/ and README.md TestOverlays reads;
// $K8SCHECK_DIR points it at another tree of manifests (a colleague's work
// in progress) without copying them here.
func k8sDir() string {
	if d := os.Getenv("K8SCHECK_DIR"); d != "" {
		return d
	}
	return ".."
}

// knownComponents are the values of app.kubernetes.io/component a drawn
// flow may name: the nine services and the engines. A misspelt name in
// the drawing would otherwise drop out as "not in this overlay".
var knownComponents = []string{
	"gateway", "upload", "transcoder", "metadata", "auth", "streaming", "cache", "worker", "monitor",
	"etcd", "nats", "database", "s3", "chain", "redis",
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// streamgateBinary builds cmd/streamgate once per test run, from the
// repository root's module as CI's GOWORK=off runs do.
func streamgateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "k8scheck")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "streamgate")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/streamgate/streamgate/cmd/streamgate")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build cmd/streamgate: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// overlays lists the kustomizations under dir/*. A missing dir is no
// overlay; an existing one without any is a mistake.
func overlays(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s exists but holds no overlay", dir)
	}
	return out
}

// rendered renders and strictly decodes an overlay.
func rendered(t *testing.T, dir string) []*Object {
	t.Helper()
	objs, err := Render(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Decode(objs); err != nil {
		t.Fatalf("strict decoding of %s:\n%v", dir, err)
	}
	return objs
}

func drawnFlows(t *testing.T, doc string) []DrawnFlow {
	t.Helper()
	flows, err := ParseFlows(readFile(t, doc))
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	for _, f := range flows {
		for _, name := range []string{f.Source, f.Component} {
			if name != SourceAny && name != SourceStreamgate && name != SourceServices && !strings.HasPrefix(name, nsPrefix) && !slices.Contains(knownComponents, name) {
				t.Errorf("%s flows line %d: unknown component %q (known: %v)", doc, f.Line, name, knownComponents)
			}
		}
	}
	return flows
}

func operatorSecrets(t *testing.T, readme string) []OperatorSecret {
	t.Helper()
	s, err := ParseOperatorSecrets(readFile(t, readme))
	if err != nil {
		t.Fatalf("%s, section \"Secrets you supply\": %v", readme, err)
	}
	return s
}

// checkOverlay runs every check on one rendered overlay, each as a
// subtest so one failure does not hide the others.
func checkOverlay(t *testing.T, objs []*Object, drawn []DrawnFlow, secrets []OperatorSecret) {
	t.Run("containers", func(t *testing.T) { noErr(t, CheckContainers(objs)) })
	t.Run("services", func(t *testing.T) { noErr(t, CheckServices(objs)) })
	t.Run("references", func(t *testing.T) { noErr(t, CheckReferences(objs, secrets)) })
	t.Run("targets", func(t *testing.T) { noErr(t, CheckTargets(objs)) })
	t.Run("flows", func(t *testing.T) { noErr(t, CheckFlows(objs, drawn)) })
	t.Run("flags", func(t *testing.T) {
		invs, err := Invocations(objs)
		noErr(t, err)
		if len(invs) == 0 {
			t.Fatal("no container runs the streamgate image")
		}
		bin := streamgateBinary(t)
		for _, inv := range invs {
			noErr(t, RunCheck(context.Background(), bin, inv))
		}
	})
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}

// TestOverlays proves every overlay of deploy/k8s/overlays.
func TestOverlays(t *testing.T) {
	overlaysDir := filepath.Join(k8sDir(), "overlays")
	dirs := overlays(t, overlaysDir)
	drawn := drawnFlows(t, archDoc)
	secrets := operatorSecrets(t, filepath.Join(k8sDir(), "README.md"))
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			checkOverlay(t, rendered(t, dir), drawn, secrets)
		})
	}
}

// TestFixture runs the same checks on the small fixture kustomization,
// so they are proven even before the real overlays exist.
func TestFixture(t *testing.T) {
	drawn := drawnFlows(t, fixtureFlows)
	secrets := operatorSecrets(t, filepath.Join(fixtureDir, "README.md"))
	for _, dir := range overlays(t, filepath.Join(fixtureDir, "overlays")) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			checkOverlay(t, rendered(t, dir), drawn, secrets)
		})
	}
}

// TestArchitectureFlows parses the real drawing even while no overlay
// exists, so a broken ```flows block fails now.
func TestArchitectureFlows(t *testing.T) {
	if len(drawnFlows(t, archDoc)) == 0 {
		t.Fatalf("%s: the ```flows block draws no flow", archDoc)
	}
}

// TestOperatorSecretsList parses the README's list of Secrets the
// operator supplies.
func TestOperatorSecretsList(t *testing.T) {
	operatorSecrets(t, filepath.Join(k8sDir(), "README.md"))
}

// TestDockerfile checks the repository's Dockerfile; it is required.
func TestDockerfile(t *testing.T) {
	if _, err := os.Stat(dockerfile); err != nil {
		t.Fatalf("the image's Dockerfile: %v", err)
	}
	noErr(t, CheckDockerfile(dockerfile, repoRoot))
}

func TestDockerfileFixture(t *testing.T) {
	noErr(t, CheckDockerfile("testdata/Dockerfile", repoRoot))
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

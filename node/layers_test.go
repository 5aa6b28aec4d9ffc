package node_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/streamgate/streamgate/"

// layer orders the module's folders from the top: cmd imports the
// composition root (node), which imports the services, which import the
// shared runtime (internal, and the web app's embedded build), which import
// the generated contracts. -1: not a package of the module's layers.
func layer(pkg string) int {
	for i, prefixes := range [][]string{{"cmd/"}, {"node"}, {"services/"}, {"internal/", "web"}, {"gen/"}} {
		for _, p := range prefixes {
			if pkg == strings.TrimSuffix(p, "/") || strings.HasPrefix(pkg, p) {
				return i
			}
		}
	}
	return -1
}

// service names the service a package of services/ belongs to.
func service(pkg string) string {
	if rest, ok := strings.CutPrefix(pkg, "services/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return name
	}
	return ""
}

// TestImportLayers holds the tree to the layering docs/ARCHITECTURE.md
// describes: no import runs up a layer, no service imports another (they
// talk over the mesh), and only one package is named gateway. Tests may
// wire several real services together (the worker's built-in kinds), so
// only the packages' own imports are checked.
func TestImportLayers(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json=ImportPath,Name,Imports", module+"...")
	// Under go.work the pattern would also match the integration module,
	// which is not part of the server's layers.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	named := map[string][]string{}
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath, Name string
			Imports          []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		pkg := strings.TrimPrefix(p.ImportPath, module)
		named[p.Name] = append(named[p.Name], pkg)
		from := layer(pkg)
		if from < 0 {
			t.Errorf("%s is in no layer: place it under cmd/, node/, services/, internal/ or gen/", pkg)
			continue
		}
		for _, imp := range p.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			to := layer(dep)
			switch {
			case to < from:
				t.Errorf("%s imports %s: an arrow up a layer", pkg, dep)
			case to == from && from == layer("node") && dep != pkg:
				t.Errorf("%s imports %s: the composition root is one package", pkg, dep)
			case to == from && from == layer("services/") && service(dep) != service(pkg):
				t.Errorf("%s imports %s: services talk over the mesh, not through imports", pkg, dep)
			}
		}
	}
	if seen < 40 {
		t.Fatalf("go list gave %d packages; the module has more than 40", seen)
	}
	if got := named["gateway"]; len(got) != 1 {
		t.Errorf("packages named gateway: %v, want one", got)
	}
}

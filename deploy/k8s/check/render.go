// Package check proves the Kubernetes manifests under deploy/k8s without a
// cluster: it renders each kustomize overlay, decodes every object strictly
// against its Go type, and checks what the API server would not (probes,
// security context, references, flags, network flows).
package check

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Object is one rendered manifest: its identity, its JSON form and, once
// decoded, its typed value (a k8s.io/api type or one of this package's CRD
// structs).
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	JSON       []byte
	Typed      any
}

// String names the object in error messages.
func (o *Object) String() string { return o.Kind + "/" + o.Name }

// Render builds the kustomization in dir the way `kustomize build` does
// (default options) and returns its objects, not yet decoded.
func Render(dir string) ([]*Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []*Object
	for _, r := range m.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		objs = append(objs, &Object{
			APIVersion: r.GetApiVersion(),
			Kind:       r.GetKind(),
			Namespace:  r.GetNamespace(),
			Name:       r.GetName(),
			JSON:       j,
		})
	}
	return objs, nil
}

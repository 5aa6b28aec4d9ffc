package check

import (
	"errors"
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	kjson "sigs.k8s.io/json"
)

// scheme knows the built-in groups the manifests may use; anything else
// must be one of the CRDs in crdTypes.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme,
		networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// crdTypes maps the custom resources the manifests use to local structs
// (crd.go) that mirror the upstream CRD schemas for the fields we use.
var crdTypes = map[schema.GroupVersionKind]reflect.Type{
	{Group: "cert-manager.io", Version: "v1", Kind: "Issuer"}:           reflect.TypeFor[Issuer](),
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}:      reflect.TypeFor[Certificate](),
	{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}:       reflect.TypeFor[ScaledObject](),
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}: reflect.TypeFor[PodMonitor](),
}

// newTyped returns a pointer to an empty value of the Go type of gvk.
func newTyped(gvk schema.GroupVersionKind) (any, error) {
	if t, ok := crdTypes[gvk]; ok {
		return reflect.New(t).Interface(), nil
	}
	if gvk.Group == "" && gvk.Kind == "List" || !scheme.Recognizes(gvk) {
		return nil, fmt.Errorf("unknown apiVersion/kind %s %s (add it to the scheme or crdTypes if the manifests need it)", gvk.GroupVersion(), gvk.Kind)
	}
	return scheme.New(gvk)
}

// Decode decodes each object into its Go type with unknown fields, and
// duplicate fields, errors: a misspelt field the API server would drop (or,
// with strict validation, refuse) fails here, named by its path.
func Decode(objs []*Object) error {
	var errs []error
	for _, o := range objs {
		if err := DecodeOne(o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DecodeOne strictly decodes o.JSON into o.Typed.
func DecodeOne(o *Object) error {
	gv, err := schema.ParseGroupVersion(o.APIVersion)
	if err != nil {
		return fmt.Errorf("%s: apiVersion %q: %w", o, o.APIVersion, err)
	}
	v, err := newTyped(gv.WithKind(o.Kind))
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	strict, err := kjson.UnmarshalStrict(o.JSON, v, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	if len(strict) > 0 {
		msgs := sets.New[string]()
		for _, e := range strict {
			msgs.Insert(e.Error())
		}
		return fmt.Errorf("%s: %v", o, sets.List(msgs))
	}
	o.Typed = v
	return nil
}

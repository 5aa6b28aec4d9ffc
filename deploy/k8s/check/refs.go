package check

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// selects reports whether sel matches the labels; a nil or empty
// selector matches nothing here, since a Service or PDB without one
// selects no pods by label.
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// selectedWorkloads returns the workloads in namespace whose pods sel
// matches.
func selectedWorkloads(objs []*Object, namespace string, sel *metav1.LabelSelector) []Workload {
	var out []Workload
	for _, w := range Workloads(objs) {
		if w.Obj.Namespace == namespace && selects(sel, w.Template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// hasPort reports whether some container of the workloads declares the
// port p, by number or by name.
func hasPort(ws []Workload, p intstr.IntOrString) bool {
	for _, w := range ws {
		for _, c := range w.Template.Spec.Containers {
			for _, cp := range c.Ports {
				if p.Type == intstr.Int && cp.ContainerPort == p.IntVal || p.Type == intstr.String && cp.Name == p.StrVal {
					return true
				}
			}
		}
	}
	return false
}

// CheckServices requires every Service with a selector to select the pods
// of some workload, each of whose targetPorts is a declared containerPort.
func CheckServices(objs []*Object) error {
	var errs []error
	for _, o := range objs {
		svc, ok := o.Typed.(*corev1.Service)
		if !ok || len(svc.Spec.Selector) == 0 {
			continue // no selector: endpoints are managed by hand or ExternalName
		}
		ws := selectedWorkloads(objs, o.Namespace, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		if len(ws) == 0 {
			errs = append(errs, fmt.Errorf("%s: selector %v matches the pod template of no Deployment/StatefulSet", o, svc.Spec.Selector))
			continue
		}
		for _, p := range svc.Spec.Ports {
			tp := p.TargetPort
			if tp.Type == intstr.Int && tp.IntVal == 0 {
				tp = intstr.FromInt32(p.Port) // unset: targetPort defaults to port
			}
			if !hasPort(ws, tp) {
				errs = append(errs, fmt.Errorf("%s port %q: targetPort %s is no containerPort of %s", o, p.Name, tp.String(), names(ws)))
			}
		}
	}
	return errors.Join(errs...)
}

func names(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Obj.String())
	}
	return out
}

// OperatorSecret is a Secret the operator creates outside the manifests;
// Keys, when listed, are the only keys the manifests may reference in it.
type OperatorSecret struct {
	Name string
	Keys []string
}

// source is what a reference resolves to: the keys of a ConfigMap or
// Secret, or nil keys when they are unknown (operator-supplied, listed
// without keys).
type source struct {
	keys    []string
	unknown bool
}

// sources returns the ConfigMaps and Secrets available to pods: rendered
// ones, Secrets cert-manager writes for rendered Certificates, and the
// operator's.
func sources(objs []*Object, operator []OperatorSecret) map[string]source {
	m := map[string]source{}
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *corev1.ConfigMap:
			var ks []string
			for k := range v.Data {
				ks = append(ks, k)
			}
			for k := range v.BinaryData {
				ks = append(ks, k)
			}
			m["ConfigMap/"+v.Name] = source{keys: ks}
		case *corev1.Secret:
			var ks []string
			for k := range v.Data {
				ks = append(ks, k)
			}
			for k := range v.StringData {
				ks = append(ks, k)
			}
			m["Secret/"+v.Name] = source{keys: ks}
		case *Certificate:
			m["Secret/"+v.Spec.SecretName] = source{keys: []string{"tls.crt", "tls.key", "ca.crt"}}
		}
	}
	for _, s := range operator {
		if _, ok := m["Secret/"+s.Name]; !ok {
			m["Secret/"+s.Name] = source{keys: s.Keys, unknown: len(s.Keys) == 0}
		}
	}
	return m
}

// CheckReferences requires every ConfigMap and Secret a pod references
// (envFrom, env valueFrom, volumes, projected volumes) to be rendered, written
// by cert-manager for a rendered Certificate, or supplied by the operator,
// and every key referenced to be in it. Optional references are exempt:
// the pod starts without them.
func CheckReferences(objs []*Object, operator []OperatorSecret) error {
	srcs := sources(objs, operator)
	var errs []error
	check := func(where, kind, name string, optional *bool, keys ...string) {
		if optional != nil && *optional {
			return
		}
		s, ok := srcs[kind+"/"+name]
		if !ok {
			hint := ""
			if kind == "Secret" {
				hint = " (if the operator supplies it, list it under \"Secrets you supply\" in deploy/k8s/README.md)"
			}
			errs = append(errs, fmt.Errorf("%s: %s %q is not in the overlay%s", where, kind, name, hint))
			return
		}
		if s.unknown {
			return
		}
		for _, k := range keys {
			if !slices.Contains(s.keys, k) {
				have := slices.Clone(s.keys)
				sort.Strings(have)
				errs = append(errs, fmt.Errorf("%s: %s %q has no key %q (has %v)", where, kind, name, k, have))
			}
		}
	}
	itemKeys := func(items []corev1.KeyToPath) []string {
		var ks []string
		for _, it := range items {
			ks = append(ks, it.Key)
		}
		return ks
	}
	for _, w := range Workloads(objs) {
		spec := &w.Template.Spec
		for _, c := range allContainers(spec) {
			where := fmt.Sprintf("%s %s", w.Obj, c)
			for _, ef := range c.EnvFrom {
				if r := ef.ConfigMapRef; r != nil {
					check(where+" envFrom", "ConfigMap", r.Name, r.Optional)
				}
				if r := ef.SecretRef; r != nil {
					check(where+" envFrom", "Secret", r.Name, r.Optional)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					check(where+" env "+e.Name, "ConfigMap", r.Name, r.Optional, r.Key)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					check(where+" env "+e.Name, "Secret", r.Name, r.Optional, r.Key)
				}
			}
		}
		for _, v := range spec.Volumes {
			where := fmt.Sprintf("%s volume %s", w.Obj, v.Name)
			if r := v.ConfigMap; r != nil {
				check(where, "ConfigMap", r.Name, r.Optional, itemKeys(r.Items)...)
			}
			if r := v.Secret; r != nil {
				check(where, "Secret", r.SecretName, r.Optional, itemKeys(r.Items)...)
			}
			if v.Projected != nil {
				for _, ps := range v.Projected.Sources {
					if r := ps.ConfigMap; r != nil {
						check(where, "ConfigMap", r.Name, r.Optional, itemKeys(r.Items)...)
					}
					if r := ps.Secret; r != nil {
						check(where, "Secret", r.Name, r.Optional, itemKeys(r.Items)...)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// CheckTargets requires every PodDisruptionBudget to select some workload's
// pods, every HorizontalPodAutoscaler and KEDA ScaledObject to scale an
// existing workload, every Certificate to name an existing Issuer and
// every PodMonitor to select pods with the port it scrapes.
func CheckTargets(objs []*Object) error {
	var errs []error
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *policyv1.PodDisruptionBudget:
			if len(selectedWorkloads(objs, o.Namespace, v.Spec.Selector)) == 0 {
				errs = append(errs, fmt.Errorf("%s: selector matches the pods of no workload", o))
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			if find(objs, v.Spec.ScaleTargetRef.Kind, o.Namespace, v.Spec.ScaleTargetRef.Name) == nil {
				errs = append(errs, fmt.Errorf("%s: scaleTargetRef %s/%s is not in the overlay", o, v.Spec.ScaleTargetRef.Kind, v.Spec.ScaleTargetRef.Name))
			}
		case *ScaledObject:
			kind := v.Spec.ScaleTargetRef.Kind
			if kind == "" {
				kind = "Deployment" // KEDA's default
			}
			if find(objs, kind, o.Namespace, v.Spec.ScaleTargetRef.Name) == nil {
				errs = append(errs, fmt.Errorf("%s: scaleTargetRef %s/%s is not in the overlay", o, kind, v.Spec.ScaleTargetRef.Name))
			}
		case *Certificate:
			kind := v.Spec.IssuerRef.Kind
			if kind == "" {
				kind = "Issuer"
			}
			if kind == "Issuer" && find(objs, kind, o.Namespace, v.Spec.IssuerRef.Name) == nil {
				errs = append(errs, fmt.Errorf("%s: issuerRef Issuer/%s is not in the overlay", o, v.Spec.IssuerRef.Name))
			}
		case *PodMonitor:
			ws := selectedWorkloads(objs, o.Namespace, &v.Spec.Selector)
			if len(ws) == 0 {
				errs = append(errs, fmt.Errorf("%s: selector matches the pods of no workload", o))
				continue
			}
			for _, ep := range v.Spec.PodMetricsEndpoints {
				if ep.Port != "" && !hasPort(ws, intstr.FromString(ep.Port)) {
					errs = append(errs, fmt.Errorf("%s: port %q is no containerPort of %s", o, ep.Port, names(ws)))
				}
			}
		}
	}
	return errors.Join(errs...)
}

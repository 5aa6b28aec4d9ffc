package check

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Label keys that identify pods in flows.
const (
	NameLabel      = "app.kubernetes.io/name"
	ComponentLabel = "app.kubernetes.io/component"
	PartOfLabel    = "app.kubernetes.io/part-of"
)

// Sources a drawn flow may start from besides a component name.
const (
	SourceAny        = "any"        // anything that can reach the pod: other pods, other namespaces, outside
	SourceStreamgate = "streamgate" // every pod labelled part-of: streamgate in the overlay
	SourceServices   = "services"   // every pod labelled name: streamgate: the nine services, not the engines
	nsPrefix         = "namespace:" // namespace:key=value, pods of namespaces so labelled
)

// DrawnFlow is one flow of the ```flows block: Source may be a component,
// SourceAny, SourceServices, SourceStreamgate or namespace:key=value; Port a port name or
// number of the destination's containers.
type DrawnFlow struct {
	Line      int
	Source    string
	Component string
	Port      string
}

// ParseFlows reads the ```flows block of docs/ARCHITECTURE.md. Grammar,
// one line each, # comments:
//
//	line   = source {"," source} "->" dest {"," dest}
//	source = component | "services" | "streamgate" | "any" | "namespace:" key "=" value
//	dest   = component ":" port        (port: a containerPort name or number)
//
// A line with lists stands for every source-destination pair of them.
func ParseFlows(md string) ([]DrawnFlow, error) {
	block, err := FencedBlock(md, "flows")
	if err != nil {
		return nil, err
	}
	lines, nums := contentLines(block)
	var out []DrawnFlow
	for i, l := range lines {
		bad := func(why string) error {
			return fmt.Errorf("flows line %d %q: %s (want `source[, source] -> component:port[, component:port]`)", nums[i], l, why)
		}
		srcs, dsts, ok := strings.Cut(l, "->")
		if !ok {
			return nil, bad("no ->")
		}
		for _, s := range strings.Split(srcs, ",") {
			s = strings.TrimSpace(s)
			if s == "" || strings.ContainsAny(s, " \t") {
				return nil, bad("empty or spaced source")
			}
			if rest, ok := strings.CutPrefix(s, nsPrefix); ok {
				if k, v, ok := strings.Cut(rest, "="); !ok || k == "" || v == "" {
					return nil, bad("want namespace:key=value")
				}
			}
			for _, d := range strings.Split(dsts, ",") {
				d = strings.TrimSpace(d)
				comp, port, ok := strings.Cut(d, ":")
				if !ok || comp == "" || port == "" || strings.ContainsAny(d, " \t") {
					return nil, bad("destination " + strconv.Quote(d) + " is not component:port")
				}
				out = append(out, DrawnFlow{Line: nums[i], Source: s, Component: comp, Port: port})
			}
		}
	}
	return out, nil
}

// Flow is one concrete allowed connection: from a component present in
// the overlay, SourceAny (a client outside the cluster, no labels) or a
// namespace:key=value source, to a component's TCP port.
type Flow struct {
	Source    string
	Component string
	Port      int32
	PortName  string
}

func (f Flow) String() string {
	p := strconv.Itoa(int(f.Port))
	if f.PortName != "" {
		p = f.PortName + "(" + p + ")"
	}
	return f.Source + " -> " + f.Component + ":" + p
}

type flowKey struct {
	src, comp string
	port      int32
}

// pod is a component's pod template in the overlay.
type pod struct {
	component string
	namespace string
	labels    map[string]string
	ports     []corev1.ContainerPort
}

func overlayPods(objs []*Object) ([]pod, error) {
	var pods []pod
	var errs []error
	for _, w := range Workloads(objs) {
		l := w.Template.Labels
		if l[ComponentLabel] == "" {
			errs = append(errs, fmt.Errorf("%s: pod template has no %s label, so no flow can name it", w.Obj, ComponentLabel))
			continue
		}
		p := pod{component: l[ComponentLabel], namespace: w.Obj.Namespace, labels: l}
		for _, c := range w.Template.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
					p.ports = append(p.ports, cp)
				}
			}
		}
		pods = append(pods, p)
	}
	return pods, errors.Join(errs...)
}

// npSelects is a NetworkPolicy podSelector: empty selects every pod.
func npSelects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

func isEmptySelector(sel *metav1.LabelSelector) bool {
	return sel == nil || len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0
}

// source is one concrete source of traffic being evaluated.
type trafficSource struct {
	name   string
	pod    *pod              // a pod of the overlay
	nsLabs map[string]string // labels of the pod's namespace, for namespace: sources
}

// peerAdmits reports whether a NetworkPolicy peer admits traffic from src.
// The overlay's own namespace is taken to carry none of the labels that
// namespace: sources name, so a namespaceSelector with labels admits
// other namespaces only.
func peerAdmits(peer networkingv1.NetworkPolicyPeer, src trafficSource) (bool, error) {
	if b := peer.IPBlock; b != nil {
		if b.CIDR == "0.0.0.0/0" || b.CIDR == "::/0" {
			return true, nil
		}
		return false, fmt.Errorf("ipBlock %s: only 0.0.0.0/0 and ::/0 (drawn as `any`) are supported", b.CIDR)
	}
	switch {
	case peer.NamespaceSelector == nil: // pods of the policy's namespace
		return src.pod != nil && peer.PodSelector != nil && npSelects(peer.PodSelector, src.pod.labels), nil
	case isEmptySelector(peer.NamespaceSelector): // every namespace
		if src.pod != nil {
			return peer.PodSelector == nil || npSelects(peer.PodSelector, src.pod.labels), nil
		}
		return src.nsLabs != nil && isEmptySelector(peer.PodSelector), nil
	default:
		return src.nsLabs != nil && isEmptySelector(peer.PodSelector) && npSelects(peer.NamespaceSelector, src.nsLabs), nil
	}
}

// portAdmits reports whether a rule's ports include the container port.
func portAdmits(ports []networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			if p.Port.StrVal == cp.Name {
				return true
			}
		case p.EndPort != nil:
			if cp.ContainerPort >= p.Port.IntVal && cp.ContainerPort <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == cp.ContainerPort:
			return true
		}
	}
	return false
}

// AllowedFlows computes, from the overlay's NetworkPolicies, which sources
// may open a TCP connection to which declared port of which component's
// pods. Ingress only: a pod no Ingress policy selects admits everything;
// one some policy selects admits the union of their rules. Sources are
// the overlay's components, SourceAny and the namespace: sources in
// extraNS (those the drawing names).
func AllowedFlows(objs []*Object, extraNS []string) ([]Flow, error) {
	pods, err := overlayPods(objs)
	if err != nil {
		return nil, err
	}
	var pols []*networkingv1.NetworkPolicy
	for _, np := range Typed[*networkingv1.NetworkPolicy](objs) {
		if len(np.Spec.PolicyTypes) == 0 || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			pols = append(pols, np)
		}
	}
	srcs := []trafficSource{{name: SourceAny}}
	for i := range pods {
		srcs = append(srcs, trafficSource{name: pods[i].component, pod: &pods[i]})
	}
	for _, ns := range extraNS {
		k, v, _ := strings.Cut(strings.TrimPrefix(ns, nsPrefix), "=")
		srcs = append(srcs, trafficSource{name: ns, nsLabs: map[string]string{k: v}})
	}
	seen := map[flowKey]Flow{}
	var errs []error
	for _, dst := range pods {
		var sel []*networkingv1.NetworkPolicy
		for _, np := range pols {
			if np.Namespace == dst.namespace && npSelects(&np.Spec.PodSelector, dst.labels) {
				sel = append(sel, np)
			}
		}
		for _, cp := range dst.ports {
			for _, src := range srcs {
				ok := len(sel) == 0
				for _, np := range sel {
					for _, r := range np.Spec.Ingress {
						if !portAdmits(r.Ports, cp) {
							continue
						}
						if len(r.From) == 0 {
							ok = true
						}
						for _, peer := range r.From {
							a, err := peerAdmits(peer, src)
							if err != nil {
								errs = append(errs, fmt.Errorf("NetworkPolicy/%s: %w", np.Name, err))
							}
							ok = ok || a
						}
					}
				}
				if ok {
					seen[flowKey{src.name, dst.component, cp.ContainerPort}] = Flow{src.name, dst.component, cp.ContainerPort, cp.Name}
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return sortedFlows(seen), nil
}

func sortedFlows(m map[flowKey]Flow) []Flow {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b flowKey) int {
		if c := strings.Compare(a.comp, b.comp); c != 0 {
			return c
		}
		if a.port != b.port {
			return int(a.port - b.port)
		}
		return strings.Compare(a.src, b.src)
	})
	out := make([]Flow, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// ExpandDrawn turns drawn flows into concrete ones for the overlay: `any`
// is every source, `streamgate` every part-of streamgate component,
// `services` every name: streamgate component (the nine services), and a
// flow from or to a component the overlay lacks is left out (prod runs its
// databases outside). A port the destination does not declare is an error.
func ExpandDrawn(objs []*Object, drawn []DrawnFlow) ([]Flow, error) {
	pods, err := overlayPods(objs)
	if err != nil {
		return nil, err
	}
	comps := map[string][]pod{}
	for _, p := range pods {
		comps[p.component] = append(comps[p.component], p)
	}
	allSrc := []string{SourceAny}
	var sgSrc, svcSrc []string
	for _, c := range slices.Sorted(maps.Keys(comps)) {
		allSrc = append(allSrc, c)
		if comps[c][0].labels[PartOfLabel] == "streamgate" {
			sgSrc = append(sgSrc, c)
		}
		if comps[c][0].labels[NameLabel] == "streamgate" {
			svcSrc = append(svcSrc, c)
		}
	}
	allSrc = append(allSrc, drawnNamespaces(drawn)...)
	seen := map[flowKey]Flow{}
	var errs []error
	for _, d := range drawn {
		dst, ok := comps[d.Component]
		if !ok {
			continue
		}
		var cp *corev1.ContainerPort
		for _, p := range dst {
			for i := range p.ports {
				if p.ports[i].Name == d.Port || strconv.Itoa(int(p.ports[i].ContainerPort)) == d.Port {
					cp = &p.ports[i]
				}
			}
		}
		if cp == nil {
			errs = append(errs, fmt.Errorf("flows line %d: %s has no TCP containerPort %q", d.Line, d.Component, d.Port))
			continue
		}
		var srcs []string
		switch {
		case d.Source == SourceAny:
			srcs = allSrc
		case d.Source == SourceStreamgate:
			srcs = sgSrc
		case d.Source == SourceServices:
			srcs = svcSrc
		case strings.HasPrefix(d.Source, nsPrefix):
			srcs = []string{d.Source}
		case comps[d.Source] != nil:
			srcs = []string{d.Source}
		}
		for _, s := range srcs {
			seen[flowKey{s, d.Component, cp.ContainerPort}] = Flow{s, d.Component, cp.ContainerPort, cp.Name}
		}
	}
	return sortedFlows(seen), errors.Join(errs...)
}

func drawnNamespaces(drawn []DrawnFlow) []string {
	var ns []string
	for _, d := range drawn {
		if strings.HasPrefix(d.Source, nsPrefix) && !slices.Contains(ns, d.Source) {
			ns = append(ns, d.Source)
		}
	}
	return ns
}

// CheckFlows requires the overlay's NetworkPolicies to allow exactly the
// drawn flows among the components the overlay runs.
func CheckFlows(objs []*Object, drawn []DrawnFlow) error {
	want, err := ExpandDrawn(objs, drawn)
	if err != nil {
		return err
	}
	got, err := AllowedFlows(objs, drawnNamespaces(drawn))
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range want {
		if !slices.Contains(got, f) {
			errs = append(errs, fmt.Errorf("drawn flow %s is blocked by the NetworkPolicies", f))
		}
	}
	for _, f := range got {
		if !slices.Contains(want, f) {
			errs = append(errs, fmt.Errorf("NetworkPolicies allow %s, which docs/ARCHITECTURE.md does not draw", f))
		}
	}
	return errors.Join(errs...)
}

package check

import (
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Plan is what `streamgate cluster --plan` needs of a rendered overlay to
// run it as processes on one machine: every container of the streamgate
// image with its replicas, args (as written: the launcher expands $(VAR)
// once it knows its own values), environment, ports and volumes, and the
// Services that name their pods. The JSON form is the contract with
// cmd/streamgate/clusterplan.go.
type Plan struct {
	Source    string         `json:"source"`
	Workloads []PlanWorkload `json:"workloads"`
	Services  []PlanService  `json:"services"`
}

// PlanWorkload is one Deployment or StatefulSet running the streamgate
// image.
type PlanWorkload struct {
	Kind        string      `json:"kind"` // Deployment or StatefulSet
	Name        string      `json:"name"`
	Replicas    int         `json:"replicas"`
	ServiceName string      `json:"service_name,omitempty"` // a StatefulSet's governing Service
	Container   string      `json:"container"`
	Args        []string    `json:"args"`
	Env         []PlanEnv   `json:"env"`
	Ports       []PlanPort  `json:"ports"`
	Mounts      []PlanMount `json:"mounts"`
}

// PlanEnv is one environment variable: a literal (Value), a key of a
// rendered ConfigMap (ConfigMap, Key and its Value), an operator's Secret
// (Secret, Key; no value: the launcher supplies its own) or a downward-API
// field (Field).
type PlanEnv struct {
	Name      string `json:"name"`
	Value     string `json:"value,omitempty"`
	ConfigMap string `json:"config_map,omitempty"`
	Secret    string `json:"secret,omitempty"`
	Key       string `json:"key,omitempty"`
	Field     string `json:"field,omitempty"`
}

// PlanPort is a declared container port.
type PlanPort struct {
	Name string `json:"name,omitempty"`
	Port int    `json:"port"`
}

// PlanMount is a volume mount and what backs it: an emptyDir, a Secret, or
// a PersistentVolumeClaim (template).
type PlanMount struct {
	Path     string `json:"path"`
	EmptyDir bool   `json:"empty_dir,omitempty"`
	Secret   string `json:"secret,omitempty"`
	Claim    string `json:"claim,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// PlanService is a Service and the workloads it selects, with each port
// resolved to the container port it targets.
type PlanService struct {
	Name      string            `json:"name"`
	Headless  bool              `json:"headless,omitempty"`
	Workloads []string          `json:"workloads"`
	Ports     []PlanServicePort `json:"ports"`
}

// PlanServicePort maps a Service port to its pods' container port.
type PlanServicePort struct {
	Port       int `json:"port"`
	TargetPort int `json:"target_port"`
}

// MakePlan builds the plan of decoded objects. Every env source and
// volume a launcher could not reproduce is an error here, not a surprise
// later.
func MakePlan(source string, objs []*Object) (*Plan, error) {
	p := &Plan{Source: source}
	var errs []error
	var streamgate []Workload
	for _, w := range Workloads(objs) {
		replicas, service := 1, ""
		switch v := w.Obj.Typed.(type) {
		case *appsv1.Deployment:
			if v.Spec.Replicas != nil {
				replicas = int(*v.Spec.Replicas)
			}
		case *appsv1.StatefulSet:
			if v.Spec.Replicas != nil {
				replicas = int(*v.Spec.Replicas)
			}
			service = v.Spec.ServiceName
		default:
			continue
		}
		for _, c := range allContainers(&w.Template.Spec) {
			if !IsStreamgateImage(c.Image) {
				continue
			}
			if c.init {
				errs = append(errs, fmt.Errorf("%s %s: init containers of the streamgate image are not planned", w.Obj, c))
				continue
			}
			pw := PlanWorkload{Kind: w.Obj.Kind, Name: w.Obj.Name, Replicas: replicas, ServiceName: service, Container: c.Name, Args: slices.Clone(c.Args)}
			// envFrom first, as the kubelet does; env entries after it win.
			for _, ef := range c.EnvFrom {
				pe, err := planEnvFrom(objs, w.Obj, ef)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: envFrom: %w", w.Obj, c, err))
					continue
				}
				pw.Env = append(pw.Env, pe...)
			}
			for _, e := range c.Env {
				pe, err := planEnv(objs, w.Obj, e)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: env %s: %w", w.Obj, c, e.Name, err))
					continue
				}
				pw.Env = append(pw.Env, pe)
			}
			for _, port := range c.Ports {
				pw.Ports = append(pw.Ports, PlanPort{Name: port.Name, Port: int(port.ContainerPort)})
			}
			for _, m := range c.VolumeMounts {
				pm, err := planMount(w, m)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %w", w.Obj, c, err))
					continue
				}
				pw.Mounts = append(pw.Mounts, pm)
			}
			p.Workloads = append(p.Workloads, pw)
			streamgate = append(streamgate, w)
		}
	}
	for _, svc := range Typed[*corev1.Service](objs) {
		ws := selectedWorkloads(objs, svc.Namespace, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		ps := PlanService{Name: svc.Name, Headless: svc.Spec.ClusterIP == corev1.ClusterIPNone}
		for _, w := range ws {
			if slices.ContainsFunc(streamgate, func(s Workload) bool { return s.Obj == w.Obj }) {
				ps.Workloads = append(ps.Workloads, w.Obj.Name)
			}
		}
		if len(ps.Workloads) == 0 {
			continue // a Service of an engine the launcher runs itself, or none
		}
		for _, sp := range svc.Spec.Ports {
			target, err := targetPort(ws, sp)
			if err != nil {
				errs = append(errs, fmt.Errorf("Service/%s port %d: %w", svc.Name, sp.Port, err))
				continue
			}
			ps.Ports = append(ps.Ports, PlanServicePort{Port: int(sp.Port), TargetPort: target})
		}
		p.Services = append(p.Services, ps)
	}
	return p, errors.Join(errs...)
}

func planEnv(objs []*Object, workload *Object, e corev1.EnvVar) (PlanEnv, error) {
	pe := PlanEnv{Name: e.Name}
	switch vf := e.ValueFrom; {
	case vf == nil:
		pe.Value = e.Value
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		v, ok := keyValue(objs, "ConfigMap", workload.Namespace, r.Name, r.Key)
		if !ok {
			return pe, fmt.Errorf("ConfigMap %s has no key %s in the overlay", r.Name, r.Key)
		}
		pe.ConfigMap, pe.Key, pe.Value = r.Name, r.Key, v
	case vf.SecretKeyRef != nil:
		pe.Secret, pe.Key = vf.SecretKeyRef.Name, vf.SecretKeyRef.Key
	case vf.FieldRef != nil:
		pe.Field = vf.FieldRef.FieldPath
	default:
		return pe, errors.New("only values, ConfigMap and Secret keys and downward-API fields are planned")
	}
	return pe, nil
}

// planEnvFrom lists the variables of an envFrom: the keys of a rendered
// ConfigMap or Secret. An operator's Secret is not rendered, so its keys
// are unknown: name them one by one in env instead.
func planEnvFrom(objs []*Object, workload *Object, ef corev1.EnvFromSource) ([]PlanEnv, error) {
	var out []PlanEnv
	switch {
	case ef.ConfigMapRef != nil:
		name := ef.ConfigMapRef.Name
		if find(objs, "ConfigMap", workload.Namespace, name) == nil {
			return nil, fmt.Errorf("ConfigMap %s is not in the overlay", name)
		}
		for _, k := range keys(objs, "ConfigMap", workload.Namespace, name) {
			v, _ := keyValue(objs, "ConfigMap", workload.Namespace, name, k)
			out = append(out, PlanEnv{Name: ef.Prefix + k, ConfigMap: name, Key: k, Value: v})
		}
	case ef.SecretRef != nil:
		name := ef.SecretRef.Name
		if find(objs, "Secret", workload.Namespace, name) == nil {
			return nil, fmt.Errorf("Secret %s is not in the overlay, so its keys are unknown; name each variable in env", name)
		}
		for _, k := range keys(objs, "Secret", workload.Namespace, name) {
			out = append(out, PlanEnv{Name: ef.Prefix + k, Secret: name, Key: k})
		}
	}
	return out, nil
}

func planMount(w Workload, m corev1.VolumeMount) (PlanMount, error) {
	pm := PlanMount{Path: m.MountPath, ReadOnly: m.ReadOnly}
	if m.SubPath != "" || m.SubPathExpr != "" {
		return pm, fmt.Errorf("volume %s: subPath is not planned", m.Name)
	}
	for _, v := range w.Template.Spec.Volumes {
		if v.Name != m.Name {
			continue
		}
		switch {
		case v.EmptyDir != nil:
			pm.EmptyDir = true
		case v.Secret != nil:
			pm.Secret = v.Secret.SecretName
		case v.PersistentVolumeClaim != nil:
			pm.Claim = v.PersistentVolumeClaim.ClaimName
		default:
			return pm, fmt.Errorf("volume %s: only emptyDir, Secret and PersistentVolumeClaim volumes are planned", m.Name)
		}
		return pm, nil
	}
	if sts, ok := w.Obj.Typed.(*appsv1.StatefulSet); ok {
		for _, t := range sts.Spec.VolumeClaimTemplates {
			if t.Name == m.Name {
				pm.Claim = t.Name
				return pm, nil
			}
		}
	}
	return pm, fmt.Errorf("volume %s is mounted but not declared", m.Name)
}

// targetPort is the container port a Service port sends to.
func targetPort(ws []Workload, sp corev1.ServicePort) (int, error) {
	t := sp.TargetPort
	if t.Type == intstr.Int {
		if t.IntVal == 0 {
			return int(sp.Port), nil
		}
		return int(t.IntVal), nil
	}
	for _, w := range ws {
		for _, c := range w.Template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == t.StrVal {
					return int(p.ContainerPort), nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no container port named %q", t.StrVal)
}

package check

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload is an object that runs pods: its pod template and selector.
type Workload struct {
	Obj      *Object
	Template *corev1.PodTemplateSpec
	Selector *metav1.LabelSelector // nil for Jobs and CronJobs
}

// Workloads returns the decoded objects that run pods.
func Workloads(objs []*Object) []Workload {
	var ws []Workload
	for _, o := range objs {
		switch v := o.Typed.(type) {
		case *appsv1.Deployment:
			ws = append(ws, Workload{o, &v.Spec.Template, v.Spec.Selector})
		case *appsv1.StatefulSet:
			ws = append(ws, Workload{o, &v.Spec.Template, v.Spec.Selector})
		case *appsv1.DaemonSet:
			ws = append(ws, Workload{o, &v.Spec.Template, v.Spec.Selector})
		case *batchv1.Job:
			ws = append(ws, Workload{o, &v.Spec.Template, nil})
		case *batchv1.CronJob:
			ws = append(ws, Workload{o, &v.Spec.JobTemplate.Spec.Template, nil})
		}
	}
	return ws
}

// Typed returns the decoded objects of type T.
func Typed[T any](objs []*Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.Typed.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// find returns the object of kind and name (and namespace), or nil.
func find(objs []*Object, kind, namespace, name string) *Object {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name && o.Namespace == namespace {
			return o
		}
	}
	return nil
}

// allContainers is the init containers then the containers of a pod.
func allContainers(spec *corev1.PodSpec) []containerRef {
	var cs []containerRef
	for i := range spec.InitContainers {
		cs = append(cs, containerRef{&spec.InitContainers[i], true})
	}
	for i := range spec.Containers {
		cs = append(cs, containerRef{&spec.Containers[i], false})
	}
	return cs
}

type containerRef struct {
	*corev1.Container
	init bool
}

func (c containerRef) String() string {
	if c.init {
		return "initContainer " + c.Name
	}
	return "container " + c.Name
}

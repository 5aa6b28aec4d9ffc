package check

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// CheckContainers requires of every container what production needs and a
// cluster enforcing the restricted Pod Security Standard would demand:
// probes (not on init containers, which Kubernetes forbids), cpu and
// memory requests and limits, and the restricted security context.
func CheckContainers(objs []*Object) error {
	var errs []error
	for _, w := range Workloads(objs) {
		spec := &w.Template.Spec
		for _, c := range allContainers(spec) {
			for _, err := range containerErrors(spec, c) {
				errs = append(errs, fmt.Errorf("%s %s: %w", w.Obj, c, err))
			}
		}
	}
	return errors.Join(errs...)
}

func containerErrors(pod *corev1.PodSpec, c containerRef) []error {
	var errs []error
	if !c.init {
		if c.ReadinessProbe == nil {
			errs = append(errs, errors.New("no readinessProbe"))
		}
		if c.LivenessProbe == nil {
			errs = append(errs, errors.New("no livenessProbe"))
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			errs = append(errs, fmt.Errorf("no resources.requests.%s", r))
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			errs = append(errs, fmt.Errorf("no resources.limits.%s", r))
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	// runAsNonRoot and seccompProfile may be set for the whole pod; the
	// container's value wins where both are set.
	nonRoot := psc.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		errs = append(errs, errors.New("securityContext.runAsNonRoot is not true (container or pod)"))
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		errs = append(errs, errors.New("securityContext.seccompProfile.type is not RuntimeDefault (container or pod)"))
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errs = append(errs, errors.New("securityContext.allowPrivilegeEscalation is not false"))
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		errs = append(errs, errors.New("securityContext.readOnlyRootFilesystem is not true"))
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		errs = append(errs, errors.New("securityContext.capabilities.drop does not list ALL"))
	}
	return errs
}

package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// shippedPlan is the plan `streamgate cluster` runs, built into the
// binary.
const shippedPlan = "../../../cmd/streamgate/clusterplan.json"

// TestClusterPlanIsCurrent keeps the launcher's built-in plan equal to
// the prod overlay, so the cluster test runs what ships.
func TestClusterPlanIsCurrent(t *testing.T) {
	p, err := MakePlan("deploy/k8s/overlays/prod", rendered(t, filepath.Join(k8sDir(), "overlays", "prod")))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(shippedPlan)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s is not the prod overlay's plan: run `make cluster-plan` and commit it", shippedPlan)
	}
}

// What a launcher could not reproduce fails the plan, naming it.
func TestPlanRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		edit func(d *appsv1.Deployment)
		want string
	}{
		"envFrom of an operator's Secret": {func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "operators"}}})
		}, "Secret operators is not in the overlay"},
		"hostPath volume": {func(d *appsv1.Deployment) {
			s := &d.Spec.Template.Spec
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}})
			s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "host", MountPath: "/srv"})
		}, "volume host"},
		"missing ConfigMap key": {func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "streamgate-config"}, Key: "nope"}}})
		}, "no key nope"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := rendered(t, fixtureOverlay)
			if _, err := MakePlan("fixture", objs); err != nil {
				t.Fatalf("the fixture does not plan: %v", err)
			}
			c.edit(fixtureObject(t, objs, "Deployment", "gateway").Typed.(*appsv1.Deployment))
			_, err := MakePlan("fixture", objs)
			wantErr(t, err, "Deployment/gateway", c.want)
		})
	}
}

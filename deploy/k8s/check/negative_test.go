package check

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Each test breaks the rendered fixture in one way and asserts the check
// that must catch it names the object and what is wrong.

const fixtureOverlay = "testdata/fixture/overlays/prod"

// wantErr fails unless err mentions every one of parts.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func fixtureObject(t *testing.T, objs []*Object, kind, name string) *Object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("fixture has no %s/%s", kind, name)
	return nil
}

func gatewayContainer(t *testing.T, objs []*Object) *corev1.Container {
	d := fixtureObject(t, objs, "Deployment", "gateway").Typed.(*appsv1.Deployment)
	return &d.Spec.Template.Spec.Containers[0]
}

func TestStrictDecodeRejectsMisspeltField(t *testing.T) {
	objs, err := Render(fixtureOverlay)
	if err != nil {
		t.Fatal(err)
	}
	o := fixtureObject(t, objs, "Deployment", "gateway")
	o.JSON = bytes.Replace(o.JSON, []byte(`"readinessProbe"`), []byte(`"readinesProbe"`), 1)
	wantErr(t, DecodeOne(o), "Deployment/gateway", `unknown field "spec.template.spec.containers[0].readinesProbe"`)
}

func TestStrictDecodeRejectsMisspeltCRDField(t *testing.T) {
	o := &Object{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "transcoder",
		JSON: []byte(`{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"transcoder"},"spec":{"scaleTargetRef":{"name":"transcoder"},"maxReplicas":5,"triggers":[]}}`)}
	wantErr(t, DecodeOne(o), "ScaledObject/transcoder", `unknown field "spec.maxReplicas"`)
}

func TestStrictDecodeRejectsUnknownKind(t *testing.T) {
	o := &Object{APIVersion: "example.com/v1", Kind: "Widget", Name: "w",
		JSON: []byte(`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"}}`)}
	wantErr(t, DecodeOne(o), "Widget/w", "unknown apiVersion/kind example.com/v1 Widget")
}

func TestMissingLivenessProbeFails(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	gatewayContainer(t, objs).LivenessProbe = nil
	wantErr(t, CheckContainers(objs), "Deployment/gateway container gateway: no livenessProbe")
}

func TestPrivilegeEscalationFails(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	gatewayContainer(t, objs).SecurityContext.AllowPrivilegeEscalation = nil
	d := fixtureObject(t, objs, "Deployment", "auth").Typed.(*appsv1.Deployment)
	d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
	err := CheckContainers(objs)
	wantErr(t, err, "Deployment/gateway container gateway: securityContext.allowPrivilegeEscalation is not false",
		"Deployment/auth container auth: securityContext.seccompProfile.type is not RuntimeDefault")
}

func TestMissingMemoryLimitFails(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	delete(gatewayContainer(t, objs).Resources.Limits, corev1.ResourceMemory)
	wantErr(t, CheckContainers(objs), "Deployment/gateway container gateway: no resources.limits.memory")
}

func TestServiceTargetPortNotDeclaredFails(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	svc := fixtureObject(t, objs, "Service", "gateway").Typed.(*corev1.Service)
	svc.Spec.Ports[0].TargetPort = intstr.FromString("htp")
	wantErr(t, CheckServices(objs), "Service/gateway", `targetPort htp is no containerPort`)
	svc.Spec.Selector = map[string]string{ComponentLabel: "gatewy"}
	wantErr(t, CheckServices(objs), "Service/gateway: selector", "matches the pod template of no")
}

func TestUnknownSecretAndKeyFail(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	secrets := operatorSecrets(t, "testdata/fixture/README.md")
	d := fixtureObject(t, objs, "Deployment", "auth").Typed.(*appsv1.Deployment)
	env := d.Spec.Template.Spec.Containers[0].Env
	i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "STREAMGATE_KEK" })
	env[i].ValueFrom.SecretKeyRef.Key = "kek2"
	wantErr(t, CheckReferences(objs, secrets), `Deployment/auth container auth env STREAMGATE_KEK: Secret "streamgate-kek" has no key "kek2"`)
	env[i].ValueFrom.SecretKeyRef.Name = "streamgate-kekk"
	wantErr(t, CheckReferences(objs, secrets), `Secret "streamgate-kekk" is not in the overlay`, "Secrets you supply")
	// A generated ConfigMap is found under its hashed name, keys included.
	d.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name = "streamgate-mesh"
	wantErr(t, CheckReferences(objs, secrets), `ConfigMap "streamgate-mesh" is not in the overlay`)
}

func TestTargetsFail(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	o := &Object{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Namespace: "streamgate", Name: "transcoder",
		JSON: []byte(`{"apiVersion":"keda.sh/v1alpha1","kind":"ScaledObject","metadata":{"name":"transcoder","namespace":"streamgate"},"spec":{"scaleTargetRef":{"name":"transcoder"},"triggers":[{"type":"cpu","metadata":{"value":"60"}}]}}`)}
	if err := DecodeOne(o); err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckTargets(append(objs, o)), "ScaledObject/transcoder: scaleTargetRef Deployment/transcoder is not in the overlay")
}

// gatewayInvocation returns the fixture gateway's --check invocation
// after mutate changed its container.
func gatewayInvocation(t *testing.T, mutate func(*corev1.Container)) Invocation {
	t.Helper()
	objs := rendered(t, fixtureOverlay)
	mutate(gatewayContainer(t, objs))
	invs, err := Invocations(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		if strings.HasPrefix(inv.Where, "Deployment/gateway ") {
			return inv
		}
	}
	t.Fatal("no invocation of the gateway")
	return Invocation{}
}

func TestUnknownFlagFails(t *testing.T) {
	inv := gatewayInvocation(t, func(c *corev1.Container) {
		c.Args = slices.Insert(c.Args, 1, "--no-such-flag")
	})
	wantErr(t, RunCheck(context.Background(), streamgateBinary(t), inv), "Deployment/gateway container gateway", "no-such-flag")
}

func TestUnknownServiceFails(t *testing.T) {
	inv := gatewayInvocation(t, func(c *corev1.Container) {
		c.Args[len(c.Args)-1] = "gatway"
	})
	wantErr(t, RunCheck(context.Background(), streamgateBinary(t), inv), `unknown service "gatway"`)
}

func TestUnknownEnvFails(t *testing.T) {
	inv := gatewayInvocation(t, func(c *corev1.Container) {
		c.Env = append(c.Env, corev1.EnvVar{Name: "STREAMGATE_BOGUS", Value: "1"})
	})
	wantErr(t, RunCheck(context.Background(), streamgateBinary(t), inv), "Deployment/gateway", "STREAMGATE_BOGUS")
}

func TestArgsExpandedLikeKubelet(t *testing.T) {
	inv := gatewayInvocation(t, func(c *corev1.Container) {
		c.Args = append(c.Args[:len(c.Args)-1], "--public-url=$(UNDEFINED)$$(POD_IP)", "gateway")
	})
	for _, want := range []string{"--check", "--advertise-host=" + placeholderPodIP, "--etcd=https://etcd-0.etcd:2379", "--public-url=$(UNDEFINED)$(POD_IP)"} {
		if !slices.Contains(inv.Args, want) {
			t.Errorf("args %q lack %q", inv.Args, want)
		}
	}
	if inv.Args[0] != "serve" || inv.Args[1] != "--check" {
		t.Errorf("args %q: want --check right after serve", inv.Args)
	}
}

func TestWithCheckEmbedded(t *testing.T) {
	got, err := withCheck([]string{"embedded", "etcd", "--data-dir=/d"})
	if err != nil || !slices.Equal(got, []string{"embedded", "etcd", "--check", "--data-dir=/d"}) {
		t.Errorf("withCheck = %q, %v", got, err)
	}
	if _, err := withCheck([]string{"dev"}); err == nil {
		t.Error("withCheck(dev): no error")
	}
}

func TestIsStreamgateImage(t *testing.T) {
	for img, want := range map[string]bool{
		"streamgate": true, "streamgate:dev": true, "registry.example.com:5000/team/streamgate:1.2": true,
		"ghcr.io/x/streamgate@sha256:abc": true, "postgres:17": false, "ghcr.io/x/streamgate-tools:1": false,
	} {
		if IsStreamgateImage(img) != want {
			t.Errorf("IsStreamgateImage(%q) = %v", img, !want)
		}
	}
}

func TestRemovedNetworkPolicyBlocksDrawnFlow(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	drawn := drawnFlows(t, fixtureFlows)
	objs = slices.DeleteFunc(objs, func(o *Object) bool { return o.Kind == "NetworkPolicy" && o.Name == "gateway-public" })
	wantErr(t, CheckFlows(objs, drawn), "drawn flow any -> gateway:http(8080) is blocked")
}

func TestChangedPolicyPortBlocksDrawnFlow(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	drawn := drawnFlows(t, fixtureFlows)
	np := fixtureObject(t, objs, "NetworkPolicy", "mesh").Typed.(*networkingv1.NetworkPolicy)
	p := intstr.FromInt32(8444)
	np.Spec.Ingress[0].Ports[0].Port = &p
	wantErr(t, CheckFlows(objs, drawn), "drawn flow gateway -> auth:mesh(8443) is blocked", "drawn flow auth -> gateway:mesh(8443) is blocked")
}

func TestUndrawnAllowedFlowFails(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	drawn := drawnFlows(t, fixtureFlows)
	objs = slices.DeleteFunc(objs, func(o *Object) bool { return o.Kind == "NetworkPolicy" && o.Name == "default-deny" })
	// Without default deny the auth pods are still selected by "mesh", so
	// only what the gateway's and mesh policies allow counts; drop the
	// mesh policy too and auth admits everything.
	objs = slices.DeleteFunc(objs, func(o *Object) bool { return o.Kind == "NetworkPolicy" && o.Name == "mesh" })
	wantErr(t, CheckFlows(objs, drawn), "NetworkPolicies allow any -> auth:admin(9090), which docs/ARCHITECTURE.md does not draw")
}

func TestDrawnPortMustExist(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	drawn := append(drawnFlows(t, fixtureFlows), DrawnFlow{Line: 99, Source: "any", Component: "auth", Port: "http"})
	wantErr(t, CheckFlows(objs, drawn), `flows line 99: auth has no TCP containerPort "http"`)
}

func TestParseFlowsGrammar(t *testing.T) {
	md := "x\n```flows\n# c\nmonitor, namespace:a=b -> gateway:admin, auth:9090 # c\n\nservices -> etcd:2379\n```\n"
	got, err := ParseFlows(md)
	if err != nil {
		t.Fatal(err)
	}
	want := []DrawnFlow{{2, "monitor", "gateway", "admin"}, {2, "monitor", "auth", "9090"}, {2, "namespace:a=b", "gateway", "admin"}, {2, "namespace:a=b", "auth", "9090"}, {4, "services", "etcd", "2379"}}
	if !slices.Equal(got, want) {
		t.Errorf("ParseFlows = %v, want %v", got, want)
	}
	for _, bad := range []string{"gateway:8080", "any -> gateway", "namespace:x -> gateway:1", "a b -> gateway:1"} {
		if _, err := ParseFlows("```flows\n" + bad + "\n```\n"); err == nil {
			t.Errorf("ParseFlows(%q): no error", bad)
		}
	}
}

func TestParseOperatorSecrets(t *testing.T) {
	got, err := ParseOperatorSecrets("## Secrets you supply\n```operator-secrets\na\nb: k1, k2 # c\n```\n")
	if err != nil || len(got) != 2 || got[0].Name != "a" || len(got[0].Keys) != 0 || !slices.Equal(got[1].Keys, []string{"k1", "k2"}) {
		t.Errorf("ParseOperatorSecrets = %+v, %v", got, err)
	}
}

func TestDockerfileFixtureBad(t *testing.T) {
	wantErr(t, CheckDockerfile("testdata/Dockerfile.bad", repoRoot),
		`COPY source "no-such-dir/" is not in the repository`,
		"neither installs the ffmpeg package nor copies ffmpeg",
		"neither installs the ffmpeg package nor copies ffprobe",
		"set a non-root USER",
		"is not exec form")
}

func TestDockerfileCopiedTools(t *testing.T) {
	df := "FROM a AS ff\nFROM debian AS base\nCOPY --from=ff /usr/bin/ffmpeg /usr/bin/ffprobe /usr/local/bin/\nUSER app\nFROM base\nENTRYPOINT [\"/streamgate\"]\n"
	stages, err := ParseDockerfile(df)
	if err != nil || len(chain(stages, len(stages)-1)) != 2 {
		t.Fatalf("ParseDockerfile: %v %+v", err, stages)
	}
	path := t.TempDir() + "/Dockerfile"
	if err := writeFile(path, df); err != nil {
		t.Fatal(err)
	}
	noErr(t, CheckDockerfile(path, repoRoot))
}

func TestContainerEnvValues(t *testing.T) {
	objs := rendered(t, fixtureOverlay)
	d := fixtureObject(t, objs, "Deployment", "auth")
	c := &d.Typed.(*appsv1.Deployment).Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "STREAMGATE_CHAINS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}},
		corev1.EnvVar{Name: "URL", Value: "nats=$(NATS_URL)"})
	got := map[string]string{}
	for _, e := range containerEnv(objs, d, c) {
		got[e.name] = e.value
	}
	for name, want := range map[string]string{
		"NATS_URL":          "nats://nats:4222", // from the generated ConfigMap
		"POD_IP":            placeholderPodIP,
		"POD_NAME":          "auth-0",
		"STREAMGATE_KEK":    "placeholder-STREAMGATE_KEK", // an operator Secret
		"STREAMGATE_CHAINS": placeholders["STREAMGATE_CHAINS"],
		"URL":               "nats=nats://nats:4222",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

func TestDockerignoreExcludes(t *testing.T) {
	dir := t.TempDir()
	if err := writeFile(dir+"/.dockerignore", "# c\n**/node_modules\ndeploy\nweb/dist/*\n!web/dist/.gitkeep\n"); err != nil {
		t.Fatal(err)
	}
	d, err := readDockerignore(dir + "/.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"deploy": true, "deploy/k8s/base": true, "web/node_modules/x": true, "node_modules": true,
		"web/dist/app.js": true, "web/dist/.gitkeep": false, "web": false, "cmd/streamgate": false, ".": false,
	} {
		if d.excludes(p) != want {
			t.Errorf("excludes(%q) = %v, want %v", p, !want, want)
		}
	}
	if err := os.MkdirAll(dir+"/deploy", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir+"/Dockerfile", "FROM a\nCOPY deploy /d\nUSER 1\nENTRYPOINT [\"/x\"]\nCOPY --from=a /ffmpeg /ffprobe /bin/\n"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, CheckDockerfile(dir+"/Dockerfile", dir), `COPY source "deploy" is excluded from the build context by .dockerignore`)
}

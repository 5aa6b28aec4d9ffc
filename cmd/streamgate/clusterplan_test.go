package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/streamgate/streamgate/internal/operatortokens"
	"github.com/streamgate/streamgate/internal/secretfile"
)

// testHost is the shipped plan on a made-up machine.
func testHost(t *testing.T, p *plan) *planHost {
	t.Helper()
	h := &planHost{dir: t.TempDir(), tlsDir: "/local/tls", plan: p, pods: p.pods(0),
		secrets: map[string]string{
			"streamgate-database/url":             "postgres://postgres@127.0.0.1:5555/streamgate",
			"streamgate-redis/url":                "redis://127.0.0.1:6666/0",
			"streamgate-s3/AWS_ACCESS_KEY_ID":     "id",
			"streamgate-s3/AWS_SECRET_ACCESS_KEY": "secret",
			"streamgate-chains/chains":            "1337=http://127.0.0.1:8545",
			"streamgate-kek/kek":                  "a2V5",
			"streamgate-operator-tokens/tokens":   "cluster:0123456789abcdef",
		},
		config: map[string]string{"public-url": "http://127.0.0.1:8080", "allowed-origin": "http://127.0.0.1:8080",
			"trusted-proxy": "127.0.0.1/32", "blob-url": "s3://streamgate/media/?endpoint=http://127.0.0.1:9000", "otlp-endpoint": ""},
	}
	if err := h.allocatePorts(); err != nil {
		t.Fatal(err)
	}
	return h
}

func shipped(t *testing.T) *plan {
	t.Helper()
	p, err := parsePlan(shippedPlan)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Every process of the shipped plan resolves to this machine: no cluster
// host name, container path or site value of the overlay is left.
func TestShippedPlanRunsLocally(t *testing.T) {
	p := shipped(t)
	if p.Source != "deploy/k8s/overlays/prod" {
		t.Fatalf("the built-in plan is %q, want the prod overlay", p.Source)
	}
	h := testHost(t, p)
	kinds := map[string]int{}
	for _, pod := range h.pods {
		kind, _ := pod.kind()
		kinds[kind]++
		args, env, err := h.process(pod)
		if err != nil {
			t.Fatalf("%s: %v", pod.Name, err)
		}
		all := strings.Join(append(args, env...), " ")
		for _, gone := range []string{"etcd-peer", "nats-peer", "nats://nats:", "0.0.0.0", "/var/lib/", "/etc/streamgate", "example.com", "amazonaws", "$("} {
			if strings.Contains(all, gone) {
				t.Errorf("%s still has %q: %s", pod.Name, gone, all)
			}
		}
		if !strings.Contains(all, h.dir) && kind != "" {
			t.Errorf("%s: no path under the data dir: %s", pod.Name, all)
		}
	}
	if kinds["etcd"] != 3 || kinds["nats"] != 3 || kinds["service"] != 18 {
		t.Errorf("pods by kind %v, want 3 etcd, 3 nats, 18 service processes", kinds)
	}
}

// A Service name stands for all its pods; a pod's headless name for that
// pod; a pod's own 0.0.0.0:P and --port=P for its own loopback port.
func TestPlanRewritesAddresses(t *testing.T) {
	p := shipped(t)
	h := testHost(t, p)
	pod := func(name string) planPod {
		for _, q := range h.pods {
			if q.Name == name {
				return q
			}
		}
		t.Fatalf("no pod %s", name)
		return planPod{}
	}
	nats1 := pod("nats-1")
	addr := func(name string, port int) string {
		a, err := h.addr(name, port)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct{ in, want string }{
		{"--nats=nats://nats:4222", "--nats=nats://" + addr("nats-0", 4222) + ",nats://" + addr("nats-1", 4222) + ",nats://" + addr("nats-2", 4222)},
		{"--routes=nats-route://nats-2.nats-peer:6222", "--routes=nats-route://" + addr("nats-2", 6222)},
		{"https://etcd-0.etcd-peer.streamgate.svc.cluster.local:2379", "https://" + addr("etcd-0", 2379)},
		{"--host=0.0.0.0", "--host=127.0.0.1"},
		{"--port=4222", "--port=" + addr("nats-1", 4222)[strings.LastIndex(addr("nats-1", 4222), ":")+1:]},
		{"--port=9999", "--port=9999"},
		{"https://s3.example.com:443/x", "https://s3.example.com:443/x"},
	}
	for _, c := range cases {
		got, err := h.rewriteHosts(c.in, nats1)
		if err != nil || got != c.want {
			t.Errorf("rewriteHosts(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := h.rewriteHosts("--addr=0.0.0.0:7777", nats1); err == nil {
		t.Error("a listen address on a port the container does not declare was accepted")
	}
}

// The operator's Secret volumes become files of their keys that the
// processes' --kek-file and --operator-tokens-file accept.
func TestPlanWritesSecretVolumes(t *testing.T) {
	p := shipped(t)
	h := testHost(t, p)
	want := map[string]string{"--kek-file": "a2V5\n", "--operator-tokens-file": "cluster:0123456789abcdef\n"}
	found := map[string]int{}
	for _, pod := range h.pods {
		args, _, err := h.process(pod)
		if err != nil {
			t.Fatalf("%s: %v", pod.Name, err)
		}
		for _, a := range args {
			flag, path, ok := strings.Cut(a, "=")
			if _, secret := want[flag]; !ok || !secret {
				continue
			}
			found[flag]++
			if !strings.HasPrefix(path, h.dir) {
				t.Errorf("%s: %s is not under the data dir", pod.Name, a)
			}
			b, err := secretfile.Read(path)
			if err != nil || string(b) != want[flag] {
				t.Errorf("%s: %s holds %q (%v), want %q", pod.Name, a, b, err, want[flag])
			}
		}
	}
	// Every auth, worker and gateway instance of the prod overlay (two or more each).
	if found["--kek-file"] < 4 || found["--operator-tokens-file"] < 2 {
		t.Errorf("secret files per flag %v, want --kek-file on every auth and worker, --operator-tokens-file on every gateway", found)
	}
}

// What the launcher cannot supply fails the start with the name of it.
func TestPlanRefusesWhatItCannotSupply(t *testing.T) {
	for name, edit := range map[string]func(w *planWorkload){
		"unknown Secret key": func(w *planWorkload) {
			w.Env = append(w.Env, planEnv{Name: "X", Secret: "streamgate-database", Key: "password"})
		},
		"unknown Secret volume": func(w *planWorkload) {
			w.Mounts = append(w.Mounts, planMount{Path: "/etc/extra", Secret: "someone-elses"})
		},
		"unplanned field": func(w *planWorkload) {
			w.Env = append(w.Env, planEnv{Name: "NODE", Field: "spec.nodeName"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			var p plan
			if err := json.Unmarshal(shippedPlan, &p); err != nil {
				t.Fatal(err)
			}
			edit(&p.Workloads[0])
			h := testHost(t, &p)
			if _, _, err := h.process(h.pods[0]); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
	if _, err := parsePlan([]byte(`{"source":"x","workloads":[{"name":"a","replicass":2}]}`)); err == nil {
		t.Error("a misspelt plan field was accepted")
	}
}

func TestKubeExpand(t *testing.T) {
	vars := []envVar{{"A", "1"}, {"B", "x$(A)"}}
	for in, want := range map[string]string{
		"$(A)":        "1",
		"$(A)$(A)":    "11",
		"$$(A)":       "$(A)",
		"$(C)":        "$(C)",
		"$(A":         "$(A",
		"--a=$(B)/z":  "--a=x$(A)/z",
		"plain $ end": "plain $ end",
	} {
		if got := kubeExpand(in, vars); got != want {
			t.Errorf("kubeExpand(%q) = %q, want %q", in, got, want)
		}
	}
}

// The caller's tokens reach the gateways' tokens file a line each.
func TestClusterOperatorTokensAsAFile(t *testing.T) {
	t.Setenv(operatortokens.EnvTokens, "alice:0123456789abcdef,ci:fedcba9876543210")
	value, _, err := clusterOperatorTokens()
	if err != nil {
		t.Fatal(err)
	}
	s, err := operatortokens.Parse([]byte(value))
	if err != nil || s.Len() != 2 {
		t.Fatalf("the file %q holds %v tokens (%v), want alice and ci", value, s, err)
	}
	t.Setenv(operatortokens.EnvTokens, "alice")
	if _, _, err := clusterOperatorTokens(); err == nil {
		t.Error("a malformed $" + operatortokens.EnvTokens + " was accepted")
	}
}

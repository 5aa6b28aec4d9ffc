package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/streamgate/streamgate/node"
)

// shippedPlan is deploy/k8s/overlays/prod rendered by
// deploy/k8s/check/cmd/localplan (`make cluster-plan`); a test there fails
// when it no longer matches the overlay. `streamgate cluster` runs it, so
// the cluster test runs the configuration that ships.
//
//go:embed clusterplan.json
var shippedPlan []byte

// plan mirrors deploy/k8s/check.Plan (its JSON is the contract).
type plan struct {
	Source    string         `json:"source"`
	Workloads []planWorkload `json:"workloads"`
	Services  []planService  `json:"services"`
}

type planWorkload struct {
	Kind        string      `json:"kind"`
	Name        string      `json:"name"`
	Replicas    int         `json:"replicas"`
	ServiceName string      `json:"service_name"`
	Container   string      `json:"container"`
	Args        []string    `json:"args"`
	Env         []planEnv   `json:"env"`
	Ports       []planPort  `json:"ports"`
	Mounts      []planMount `json:"mounts"`
}

type planEnv struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	ConfigMap string `json:"config_map"`
	Secret    string `json:"secret"`
	Key       string `json:"key"`
	Field     string `json:"field"`
}

type planPort struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

type planMount struct {
	Path     string `json:"path"`
	EmptyDir bool   `json:"empty_dir"`
	Secret   string `json:"secret"`
	Claim    string `json:"claim"`
	ReadOnly bool   `json:"read_only"`
}

type planService struct {
	Name      string   `json:"name"`
	Headless  bool     `json:"headless"`
	Workloads []string `json:"workloads"`
	Ports     []struct {
		Port       int `json:"port"`
		TargetPort int `json:"target_port"`
	} `json:"ports"`
}

func parsePlan(data []byte) (*plan, error) {
	var p plan
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("cluster plan: %w", err)
	}
	if len(p.Workloads) == 0 {
		return nil, errors.New("cluster plan: no workloads")
	}
	return &p, nil
}

// planPod is one pod of the plan: a StatefulSet's pods are <name>-<i> as
// in Kubernetes, a Deployment's <name>-a, -b, ... (the cluster's names).
type planPod struct {
	Name  string
	Index int
	W     *planWorkload
}

// kind is how the launcher treats the pod's process: etcd, nats or service.
func (p planPod) kind() (kind, service string) {
	args := p.W.Args
	switch {
	case len(args) >= 2 && args[0] == "embedded":
		return args[1], ""
	case len(args) >= 1 && args[0] == "serve":
		return "service", args[len(args)-1]
	}
	return "", ""
}

// pods lists the plan's pods; instances, when > 0, replaces the replicas
// of every Deployment (StatefulSets keep theirs: a quorum is part of the
// design).
func (p *plan) pods(instances int) []planPod {
	var out []planPod
	for i := range p.Workloads {
		w := &p.Workloads[i]
		n := w.Replicas
		if w.Kind == "Deployment" && instances > 0 {
			n = instances
		}
		for j := range n {
			name := fmt.Sprintf("%s-%d", w.Name, j)
			if w.Kind == "Deployment" {
				name = fmt.Sprintf("%s-%c", w.Name, 'a'+j)
			}
			out = append(out, planPod{Name: name, Index: j, W: w})
		}
	}
	return out
}

// planHost is what the plan's pods find on this machine in place of the
// cluster's: loopback ports for their declared ports, directories for
// their volumes, the local engines' values for the operator's Secrets and
// for the ConfigMap keys the operator changes per site.
type planHost struct {
	dir     string
	tlsDir  string
	ports   map[string]string // "<pod>/<port>" -> 127.0.0.1:N
	secrets map[string]string // "<secret>/<key>" -> value
	config  map[string]string // ConfigMap key -> value, over the overlay's
	pods    []planPod
	plan    *plan
}

// siteConfig are the ConfigMap keys the prod overlay marks for the
// operator to change; locally they take this machine's values.
var siteConfig = []string{"public-url", "allowed-origin", "trusted-proxy", "blob-url", "otlp-endpoint"}

// allocatePorts gives every declared port of every pod a loopback port,
// kept in <dir>/ports.json: etcd members remember their peers' addresses,
// so a restart must find them where they were.
func (h *planHost) allocatePorts() error {
	path := filepath.Join(h.dir, "ports.json")
	h.ports = map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &h.ports); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	taken := map[string]bool{}
	for _, a := range h.ports {
		taken[a] = true
	}
	for _, pod := range h.pods {
		for _, port := range pod.W.Ports {
			key := pod.Name + "/" + strconv.Itoa(port.Port)
			if h.ports[key] != "" {
				continue
			}
			a, err := reservedPort(taken)
			if err != nil {
				return err
			}
			h.ports[key], taken[a] = a, true
		}
	}
	return writeJSON(path, h.ports)
}

// reservedPort finds a free loopback port below the kernel's ephemeral
// range when it can: a port the kernel handed out for a listen on :0 may
// be handed out again, as the local port of some outgoing connection,
// before the process that is to listen on it starts (with some twenty
// processes connecting to each other, that happened). Ports taken by this
// plan are skipped.
func reservedPort(taken map[string]bool) (string, error) {
	lo, hi := 20000, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			hi, _ = strconv.Atoi(f[0])
		}
	}
	for try := 0; hi-lo > 1000 && try < 200; try++ {
		a := "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo))
		if taken[a] {
			continue
		}
		if l, err := net.Listen("tcp", a); err == nil {
			l.Close()
			return a, nil
		}
	}
	// No room below the ephemeral range (or /proc unreadable): the kernel's pick.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// addr is the local address of a pod's declared port.
func (h *planHost) addr(pod string, port int) (string, error) {
	if a := h.ports[pod+"/"+strconv.Itoa(port)]; a != "" {
		return a, nil
	}
	return "", fmt.Errorf("%s listens on port %d, which its container does not declare", pod, port)
}

// process resolves a pod into the command line and environment of its
// process: env as the kubelet builds it, $(VAR) expanded, then in-cluster
// host names, listen addresses and mount paths replaced by this machine's.
func (h *planHost) process(pod planPod) (args, env []string, err error) {
	podDir := filepath.Join(h.dir, "pods", pod.Name)
	mounts, err := h.mounts(pod, podDir)
	if err != nil {
		return nil, nil, err
	}
	var vars []envVar
	set := func(name, value string) {
		vars = slices.DeleteFunc(vars, func(v envVar) bool { return v.name == name })
		vars = append(vars, envVar{name, value})
	}
	for _, e := range pod.W.Env {
		switch {
		case e.Secret != "":
			v, ok := h.secrets[e.Secret+"/"+e.Key]
			if !ok {
				return nil, nil, fmt.Errorf("%s: env %s wants key %s of Secret %s, which this launcher cannot supply", pod.Name, e.Name, e.Key, e.Secret)
			}
			set(e.Name, v)
		case e.ConfigMap != "":
			v := e.Value
			if local, ok := h.config[e.Key]; ok {
				v = local
			}
			set(e.Name, v)
		case e.Field != "":
			v, err := fieldValue(e.Field, pod.Name)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: env %s: %w", pod.Name, e.Name, err)
			}
			set(e.Name, v)
		default:
			set(e.Name, kubeExpand(e.Value, vars))
		}
	}
	local := func(s string) (string, error) {
		s, err := h.rewriteHosts(s, pod)
		if err != nil {
			return "", err
		}
		return rewritePaths(s, mounts), nil
	}
	for _, a := range pod.W.Args {
		a, err := local(kubeExpand(a, vars))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", pod.Name, err)
		}
		args = append(args, a)
	}
	// The image's environment: a PATH, and a HOME and TMPDIR of the pod's
	// own, so nothing of the user's (~/.aws, ~/.config) leaks in.
	env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + podDir, "TMPDIR=" + rewritePaths("/tmp", mounts)}
	for _, v := range vars {
		value, err := local(v.value)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: env %s: %w", pod.Name, v.name, err)
		}
		env = append(env, v.name+"="+value)
	}
	return args, env, nil
}

type envVar struct{ name, value string }

type mount struct{ path, local string }

// mounts maps each mount path of the pod to a local directory: emptyDirs
// and claims under the pod's directory, mesh certificate Secrets
// (streamgate-tls-<name>) to the certificates made for <name>, the
// operator's other Secrets to their keys written under the pod's
// directory.
func (h *planHost) mounts(pod planPod, podDir string) ([]mount, error) {
	var out []mount
	for _, m := range pod.W.Mounts {
		var local string
		switch {
		case m.EmptyDir:
			local = filepath.Join(podDir, "volumes", strings.ReplaceAll(strings.Trim(m.Path, "/"), "/", "-"))
		case m.Claim != "":
			local = filepath.Join(podDir, "claims", m.Claim)
		case m.Secret != "":
			if name, ok := strings.CutPrefix(m.Secret, "streamgate-tls-"); ok && slices.Contains(slices.Concat(node.Names, node.Engines), name) {
				local = filepath.Join(h.tlsDir, name)
				break
			}
			local = filepath.Join(podDir, "secrets", m.Secret)
			if err := h.writeSecret(m.Secret, local); err != nil {
				return nil, fmt.Errorf("%s mounts Secret %s at %s: %w", pod.Name, m.Secret, m.Path, err)
			}
		}
		if m.EmptyDir || m.Claim != "" {
			if err := os.MkdirAll(local, 0o750); err != nil {
				return nil, err
			}
		}
		out = append(out, mount{m.Path, local})
	}
	// Longest first: /var/lib/x/y before /var/lib/x.
	slices.SortFunc(out, func(a, b mount) int { return len(b.path) - len(a.path) })
	return out, nil
}

// writeSecret writes each key of the operator's Secret name that this
// launcher supplies into a file of dir, as a Secret volume holds them
// (mode 0600, the launcher's user: what secretfile accepts).
func (h *planHost) writeSecret(name, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	n := 0
	for k, v := range h.secrets {
		key, ok := strings.CutPrefix(k, name+"/")
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, key), []byte(v+"\n"), 0o600); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("this launcher cannot supply it")
	}
	return nil
}

// rewritePaths replaces a mount path at the start of s, or of the value of
// a --flag=value, by its local directory.
func rewritePaths(s string, mounts []mount) string {
	prefix, value := "", s
	if strings.HasPrefix(s, "-") {
		if i := strings.IndexByte(s, '='); i >= 0 {
			prefix, value = s[:i+1], s[i+1:]
		}
	}
	for _, m := range mounts {
		if value == m.path || strings.HasPrefix(value, m.path+"/") {
			return prefix + m.local + value[len(m.path):]
		}
	}
	return s
}

// fieldValue is a downward-API field of a pod on this machine.
func fieldValue(path, pod string) (string, error) {
	switch path {
	case "metadata.name":
		return pod, nil
	case "metadata.namespace":
		return "streamgate", nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	}
	return "", fmt.Errorf("downward-API field %s is not planned", path)
}

// kubeExpand is the kubelet's $(VAR) expansion: a defined $(NAME) becomes
// its value, $$ a $, anything else stays as written.
func kubeExpand(s string, vars []envVar) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i+1] == '(' {
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if j := slices.IndexFunc(vars, func(v envVar) bool { return v.name == name }); j >= 0 {
					b.WriteString(vars[j].value)
				} else {
					b.WriteString(s[i : i+3+end])
				}
				i += 2 + end
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var hostPort = regexp.MustCompile(`(?:([a-z][a-z0-9+.-]*)://)?([A-Za-z0-9][A-Za-z0-9._-]*):([0-9]+)`)

// rewriteHosts replaces the cluster's addresses in s by this machine's:
// a pod's own listen address (0.0.0.0:P) by its port P's loopback
// address, and a --port or --*-port flag naming a declared port P by that
// address's port; <pod>.<governing Service>[.<namespace>...]:P by that
// pod's; <Service>:P by every pod the Service selects (a URL becomes a
// comma-separated list of URLs, as the Service spreads connections); a
// bare 0.0.0.0 (a listen host) by 127.0.0.1. Other hosts stay.
func (h *planHost) rewriteHosts(s string, pod planPod) (string, error) {
	var errs []error
	s = hostPort.ReplaceAllStringFunc(s, func(m string) string {
		sub := hostPort.FindStringSubmatch(m)
		scheme, host, port := sub[1], sub[2], sub[3]
		p, _ := strconv.Atoi(port)
		withScheme := func(addrs ...string) string {
			for i := range addrs {
				if scheme != "" {
					addrs[i] = scheme + "://" + addrs[i]
				}
			}
			return strings.Join(addrs, ",")
		}
		if host == "0.0.0.0" {
			a, err := h.addr(pod.Name, p)
			if err != nil {
				errs = append(errs, err)
				return m
			}
			return withScheme(a)
		}
		labels := strings.Split(strings.TrimSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc"), ".")
		if len(labels) > 1 && labels[len(labels)-1] == "streamgate" {
			labels = labels[:len(labels)-1] // the namespace
		}
		switch len(labels) {
		case 2: // <pod>.<governing Service>
			for _, other := range h.pods {
				if other.Name == labels[0] && other.W.ServiceName == labels[1] {
					a, err := h.addr(other.Name, p)
					if err != nil {
						errs = append(errs, err)
						return m
					}
					return withScheme(a)
				}
			}
		case 1: // <Service>
			for _, svc := range h.plan.Services {
				if svc.Name != labels[0] {
					continue
				}
				target := 0
				for _, sp := range svc.Ports {
					if sp.Port == p {
						target = sp.TargetPort
					}
				}
				if target == 0 {
					errs = append(errs, fmt.Errorf("Service %s has no port %d", svc.Name, p))
					return m
				}
				var addrs []string
				for _, other := range h.pods {
					if slices.Contains(svc.Workloads, other.W.Name) {
						a, err := h.addr(other.Name, target)
						if err != nil {
							errs = append(errs, err)
							return m
						}
						addrs = append(addrs, a)
					}
				}
				return withScheme(addrs...)
			}
		}
		return m
	})
	if v, ok := strings.CutSuffix(s, "=0.0.0.0"); ok {
		s = v + "=127.0.0.1"
	}
	if name, value, ok := strings.Cut(s, "="); ok && strings.HasPrefix(name, "--") && (name == "--port" || strings.HasSuffix(name, "-port")) {
		if p, err := strconv.Atoi(value); err == nil && slices.ContainsFunc(pod.W.Ports, func(d planPort) bool { return d.Port == p }) {
			a, err := h.addr(pod.Name, p)
			if err != nil {
				errs = append(errs, err)
			} else {
				_, port, _ := net.SplitHostPort(a)
				s = name + "=" + port
			}
		}
	}
	return s, errors.Join(errs...)
}

// serviceAddr is the local address of pod behind the Service named: the
// loopback port of the Service's first port's target.
func (h *planHost) serviceAddr(service string, pod planPod) (string, error) {
	for _, svc := range h.plan.Services {
		if svc.Name == service && !svc.Headless && slices.Contains(svc.Workloads, pod.W.Name) && len(svc.Ports) > 0 {
			return h.addr(pod.Name, svc.Ports[0].TargetPort)
		}
	}
	return "", fmt.Errorf("no Service %s selects %s", service, pod.Name)
}

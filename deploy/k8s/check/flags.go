package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Invocation is how a container runs the streamgate binary: its args with
// --check inserted and $(VAR) expanded, and its environment.
type Invocation struct {
	Where string // Deployment/x container y
	Args  []string
	Env   []string // NAME=value
}

// IsStreamgateImage reports whether image is the streamgate image under
// any registry, path, tag or digest (kustomize's images: may rewrite all
// of those).
func IsStreamgateImage(image string) bool {
	name, _, _ := strings.Cut(image, "@")
	base := path.Base(name)
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base = base[:i]
	}
	return base == "streamgate"
}

// Invocations returns the --check invocation of every container (and init
// container) on the streamgate image.
func Invocations(objs []*Object) ([]Invocation, error) {
	var out []Invocation
	var errs []error
	for _, w := range Workloads(objs) {
		for _, c := range allContainers(&w.Template.Spec) {
			if !IsStreamgateImage(c.Image) {
				continue
			}
			where := fmt.Sprintf("%s %s", w.Obj, c)
			if len(c.Command) > 0 {
				errs = append(errs, fmt.Errorf("%s: sets command %q; the image's entrypoint is the binary, give args only", where, c.Command))
				continue
			}
			env := containerEnv(objs, w.Obj, c.Container)
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = Expand(a, env)
			}
			args, err := withCheck(args)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			inv := Invocation{Where: where, Args: args}
			for _, kv := range env {
				inv.Env = append(inv.Env, kv.name+"="+kv.value)
			}
			out = append(out, inv)
		}
	}
	return out, errors.Join(errs...)
}

// withCheck inserts --check after `serve` or `embedded etcd|nats`.
func withCheck(args []string) ([]string, error) {
	switch {
	case len(args) >= 1 && args[0] == "serve":
		return slices.Insert(slices.Clone(args), 1, "--check"), nil
	case len(args) >= 2 && args[0] == "embedded" && (args[1] == "etcd" || args[1] == "nats"):
		return slices.Insert(slices.Clone(args), 2, "--check"), nil
	}
	return nil, fmt.Errorf("args %q run neither `serve` nor `embedded etcd|nats`, which --check covers", args)
}

type envVar struct{ name, value string }

// placeholderPodIP stands for status.podIP, so a flag that wants a host
// gets one.
const placeholderPodIP = "10.0.0.1"

// placeholders stand for values the overlay does not hold (an operator's
// Secret), in the form the binary parses, so --check judges the manifest
// and not the stand-in. Other variables get "placeholder-<NAME>".
var placeholders = map[string]string{
	"STREAMGATE_CHAINS":       "1=https://chain.placeholder.invalid",
	"STREAMGATE_DATABASE_URL": "postgres://user:password@database.placeholder.invalid:5432/streamgate",
	"STREAMGATE_REDIS_URL":    "redis://redis.placeholder.invalid:6379/0",
	"STREAMGATE_BLOB_URL":     "s3://placeholder/media?endpoint=https://s3.placeholder.invalid&region=us-east-1",
}

func placeholder(name string) string {
	if v, ok := placeholders[name]; ok {
		return v
	}
	return "placeholder-" + name
}

// fieldValue stands for a downward-API field of a pod of workload.
func fieldValue(path, workload, namespace string) string {
	switch path {
	case "metadata.name":
		return workload + "-0"
	case "metadata.namespace":
		if namespace == "" {
			return "default"
		}
		return namespace
	case "spec.nodeName":
		return "node-0"
	case "spec.serviceAccountName":
		return "default"
	}
	return placeholderPodIP // status.podIP, status.hostIP and their plurals
}

// keyValue is the value of key in the rendered ConfigMap or Secret named,
// or ok false when the overlay does not hold it.
func keyValue(objs []*Object, kind, namespace, name, key string) (string, bool) {
	o := find(objs, kind, namespace, name)
	if o == nil {
		return "", false
	}
	switch v := o.Typed.(type) {
	case *corev1.ConfigMap:
		d, ok := v.Data[key]
		return d, ok
	case *corev1.Secret:
		if d, ok := v.StringData[key]; ok {
			return d, true
		}
		d, ok := v.Data[key]
		return string(d), ok
	}
	return "", false
}

// keys is the keys of the rendered ConfigMap or Secret named.
func keys(objs []*Object, kind, namespace, name string) []string {
	var ks []string
	if o := find(objs, kind, namespace, name); o != nil {
		switch v := o.Typed.(type) {
		case *corev1.ConfigMap:
			for k := range v.Data {
				ks = append(ks, k)
			}
		case *corev1.Secret:
			for k := range v.Data {
				ks = append(ks, k)
			}
			for k := range v.StringData {
				ks = append(ks, k)
			}
		}
	}
	slices.Sort(ks)
	return ks
}

// containerEnv renders a container's environment as the kubelet does:
// envFrom first (prefix applied), then env, a later name replacing an
// earlier one, each literal value $(VAR)-expanded against the ones before
// it. Values come from the rendered ConfigMaps and Secrets; what the
// overlay lacks (operator Secrets) and downward-API fields get
// placeholders: --check validates names and forms, not credentials.
func containerEnv(objs []*Object, workload *Object, c *corev1.Container) []envVar {
	ns := workload.Namespace
	var env []envVar
	set := func(name, value string) {
		for i := range env {
			if env[i].name == name {
				env[i].value = value
				return
			}
		}
		env = append(env, envVar{name, value})
	}
	from := func(kind, name, key, envName string) {
		if v, ok := keyValue(objs, kind, ns, name, key); ok {
			set(envName, v)
		} else {
			set(envName, placeholder(envName))
		}
	}
	for _, ef := range c.EnvFrom {
		if r := ef.ConfigMapRef; r != nil {
			for _, k := range keys(objs, "ConfigMap", ns, r.Name) {
				from("ConfigMap", r.Name, k, ef.Prefix+k)
			}
		}
		if r := ef.SecretRef; r != nil {
			for _, k := range keys(objs, "Secret", ns, r.Name) {
				from("Secret", r.Name, k, ef.Prefix+k)
			}
		}
	}
	for _, e := range c.Env {
		switch vf := e.ValueFrom; {
		case vf == nil:
			set(e.Name, Expand(e.Value, env))
		case vf.ConfigMapKeyRef != nil:
			from("ConfigMap", vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, e.Name)
		case vf.SecretKeyRef != nil:
			from("Secret", vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, e.Name)
		case vf.FieldRef != nil:
			set(e.Name, fieldValue(vf.FieldRef.FieldPath, workload.Name, ns))
		default:
			set(e.Name, placeholder(e.Name))
		}
	}
	return env
}

// Expand does the kubelet's $(VAR) expansion of s: $(NAME) of a defined
// variable becomes its value, $$ becomes $, and anything else, an
// undefined $(NAME) included, stays as written.
func Expand(s string, env []envVar) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				found := false
				for j := len(env) - 1; j >= 0; j-- {
					if env[j].name == name {
						b.WriteString(env[j].value)
						found = true
						break
					}
				}
				if !found {
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

// RunCheck runs the binary with inv's args and only inv's environment (the
// test's own STREAMGATE_ variables must not leak in), failing with its
// output.
func RunCheck(ctx context.Context, bin string, inv Invocation) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, inv.Args...)
	cmd.Env = inv.Env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: streamgate %s: %v\n%s", inv.Where, strings.Join(inv.Args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

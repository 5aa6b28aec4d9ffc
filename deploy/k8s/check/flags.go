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
			env := containerEnv(objs, w.Obj.Namespace, c.Container)
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

// placeholderPodIP stands for status.podIP and other field references, so
// a flag that wants a host gets one.
const placeholderPodIP = "10.0.0.1"

// containerEnv renders a container's environment as the kubelet does:
// envFrom first (prefix applied), then env, a later name replacing an
// earlier one, each value $(VAR)-expanded against the ones before it.
// Values from Secrets and field references are placeholders: --check
// validates names and forms, not credentials.
func containerEnv(objs []*Object, namespace string, c *corev1.Container) []envVar {
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
	for _, ef := range c.EnvFrom {
		if r := ef.ConfigMapRef; r != nil {
			if o := find(objs, "ConfigMap", namespace, r.Name); o != nil {
				for k, v := range o.Typed.(*corev1.ConfigMap).Data {
					set(ef.Prefix+k, v)
				}
			}
		}
		if r := ef.SecretRef; r != nil {
			if o := find(objs, "Secret", namespace, r.Name); o != nil {
				s := o.Typed.(*corev1.Secret)
				for k := range s.Data {
					set(ef.Prefix+k, "placeholder-"+k)
				}
				for k := range s.StringData {
					set(ef.Prefix+k, "placeholder-"+k)
				}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, Expand(e.Value, env))
		case e.ValueFrom.ConfigMapKeyRef != nil:
			v := "placeholder-" + e.Name
			r := e.ValueFrom.ConfigMapKeyRef
			if o := find(objs, "ConfigMap", namespace, r.Name); o != nil {
				if d, ok := o.Typed.(*corev1.ConfigMap).Data[r.Key]; ok {
					v = d
				}
			}
			set(e.Name, v)
		case e.ValueFrom.FieldRef != nil:
			set(e.Name, placeholderPodIP)
		default:
			set(e.Name, "placeholder-"+e.Name)
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

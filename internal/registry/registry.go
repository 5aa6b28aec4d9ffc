// Package registry registers service instances in etcd and discovers them
// with a watch. Each instance is one key, <prefix><service>/<instance-id>,
// holding its Instance as JSON and bound to a lease the instance keeps alive:
// an instance that dies disappears by itself once its lease expires, and one
// that stops cleanly revokes its lease so it disappears at once.
package registry

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultPrefix is the etcd prefix all StreamGate instances register under.
const DefaultPrefix = "/streamgate/services/"

// Instance is one running instance of a service, as stored in etcd.
type Instance struct {
	// Service is the short service name, e.g. "upload".
	Service string `json:"service"`
	// ID is unique among the instances of the service.
	ID string `json:"id"`
	// Address is the host:port other instances dial (HTTP/2 cleartext).
	Address string `json:"address"`
	// Admin is the host:port of the admin listener of the instance's
	// process (internal/admin), shared by the services of that process:
	// the monitor scrapes http://<Admin>/metrics/<Service>. Empty for an
	// instance of a release before it.
	Admin string `json:"admin,omitempty"`
	// Protocols lists the RPC protocols served, e.g. ["connect","grpc","grpc-web"].
	Protocols []string `json:"protocols"`
	// Version is the build version of the instance.
	Version string `json:"version"`
	// StartTime is when the instance started.
	StartTime time.Time `json:"start_time"`
}

func (in Instance) validate() error {
	switch {
	case in.Service == "" || strings.Contains(in.Service, "/"):
		return fmt.Errorf("registry: invalid service name %q", in.Service)
	case in.ID == "":
		return errors.New("registry: instance ID is required")
	case in.Address == "":
		return errors.New("registry: instance address is required")
	}
	return nil
}

func (in Instance) clone() Instance {
	in.Protocols = append([]string(nil), in.Protocols...)
	return in
}

// Key is the etcd key of one instance: <prefix><service>/<id>. A prefix
// without a trailing slash gets one, so "/a" and "/a/" name the same tree.
func Key(prefix, service, id string) string {
	return normalizePrefix(prefix) + service + "/" + id
}

func normalizePrefix(prefix string) string {
	if prefix == "" {
		return DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// parseKey splits a key under prefix into service and instance ID.
func parseKey(prefix, key string) (service, id string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	service, id, found = strings.Cut(rest, "/")
	if !found || service == "" || id == "" {
		return "", "", false
	}
	return service, id, true
}

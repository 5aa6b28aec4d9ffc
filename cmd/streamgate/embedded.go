package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/streamgate/streamgate/internal/etcdserver"
	"github.com/streamgate/streamgate/internal/meshtls"
	"github.com/streamgate/streamgate/internal/natsserver"
	"github.com/streamgate/streamgate/node"
)

// runEmbedded runs one embedded etcd member or NATS server as its own
// process, so `streamgate cluster` can start three of each and a test can
// kill one with SIGKILL. Production runs the upstream etcd and nats-server
// instead; these are the same engines, linked in.
func runEmbedded(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "etcd" && args[0] != "nats") {
		fmt.Fprintln(stderr, "usage: streamgate embedded etcd|nats [flags]")
		return errUsage
	}
	fs := flag.NewFlagSet("embedded "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var m meshFlags
	fs.TextVar(&m.logLevel, "log-level", m.logLevel, "log level: DEBUG, INFO, WARN, ERROR")
	fs.BoolVar(&m.logJSON, "log-json", false, "log as JSON lines instead of text")
	dir := fs.String("data-dir", "", "data directory (required)")
	name := fs.String("name", "", "member (etcd) or server (NATS) name, unique in the cluster")
	client := fs.String("client-addr", "127.0.0.1:0", "etcd: client listen host:port")
	peer := fs.String("peer-addr", "127.0.0.1:0", "etcd: raft peer listen host:port (fixed in a cluster)")
	advClient := fs.String("advertise-client-addr", "", "etcd: client host:port others dial, when --client-addr is 0.0.0.0 (default --client-addr)")
	advPeer := fs.String("advertise-peer-addr", "", "etcd: peer host:port the other members dial, e.g. etcd-0.etcd-peer:2380 (default --peer-addr)")
	initial := fs.String("initial-cluster", "", "etcd: name=http(s)://peer-addr,... of every member; empty for a single node")
	tlsDir := fs.String("tls-dir", "", "`dir` of the server's certificate in the mesh layout (tls.crt, tls.key, ca.crt; naming etcd or nats): serve TLS 1.3 and require client certificates of that CA; NATS then gives each service a user that may publish only its own events")
	port := fs.Int("port", -1, "NATS: client port (-1: random)")
	clusterName := fs.String("cluster", "", "NATS: cluster name; empty for a single server")
	routePort := fs.Int("route-port", 0, "NATS: route listen port (fixed in a cluster)")
	routes := fs.String("routes", "", "NATS: nats-route://host:port,... of every server")
	trustDomain := fs.String("trust-domain", meshtls.DefaultTrustDomain, "NATS: mesh trust domain of the --tls-dir certificates")
	host := fs.String("host", "127.0.0.1", "NATS: client (and route) listen host; 0.0.0.0 in a pod")
	monitorPort := fs.Int("monitor-port", 0, "NATS: HTTP monitoring port (/varz, /jsz, /healthz: state, no message data) for KEDA and exporters; 0: off")
	check := fs.Bool("check", false, "check the flags and the environment without starting, then exit: for manifests in CI")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if *dir == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *check {
		return unknownEnv(os.Environ())
	}
	logger := m.logger(stderr).With("component", args[0], "name", *name)
	switch args[0] {
	case "etcd":
		srv, err := etcdserver.Start(ctx, etcdserver.Config{Dir: *dir, Name: *name, ClientAddr: *client, PeerAddr: *peer, InitialCluster: *initial, TLSDir: *tlsDir, AdvertiseClientAddr: *advClient, AdvertisePeerAddr: *advPeer}, logger)
		if err != nil {
			return err
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "etcd %s\nready\n", srv.Endpoint())
	case "nats":
		cfg := natsserver.Config{Dir: *dir, Host: *host, Port: *port, MonitorPort: *monitorPort}
		if *clusterName != "" {
			cfg.Cluster = &natsserver.ClusterConfig{Name: *clusterName, ServerName: *name, Port: *routePort, Routes: strings.Split(*routes, ",")}
		}
		if *tlsDir != "" {
			var err error
			if cfg.TLS, err = natsserver.MeshTLS(*tlsDir, *trustDomain, node.Names, logger); err != nil {
				return err
			}
		}
		srv, err := natsserver.Start(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		fmt.Fprintf(stdout, "nats %s\nready\n", srv.ClientURL())
	}
	<-ctx.Done()
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/streamgate/streamgate/internal/meshtls"
)

// runCerts makes the mesh's certificates for a deployment: a CA (init),
// then one certificate per service (issue), each in a directory of
// tls.crt, tls.key and ca.crt that `serve --mesh-tls-dir` reads, or that
// becomes a Kubernetes TLS Secret (kubectl create secret generic NAME
// --from-file=DIR).
func runCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, "usage: streamgate certs init --dir DIR [--trust-domain TD] [--days N]")
		fmt.Fprintln(stderr, "       streamgate certs issue --ca DIR --service NAME --out DIR [--dns NAME]... [--ip IP]... [--days N]")
	}
	if len(args) == 0 {
		usage()
		return errUsage
	}
	switch args[0] {
	case "init":
		return certsInit(args[1:], stdout, stderr)
	case "issue":
		return certsIssue(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage()
		return nil
	}
	usage()
	return errUsage
}

func certsInit(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("certs init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "`directory` to write the CA to (tls.crt, tls.key, ca.crt); required")
	td := fs.String("trust-domain", meshtls.DefaultTrustDomain, "trust domain of the mesh: certificates it issues name spiffe://<trust-domain>/svc/<service>")
	days := fs.Int("days", 3650, "validity in days")
	force := fs.Bool("force", false, "replace a CA already in --dir")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" || fs.NArg() != 0 || *days < 1 {
		fs.Usage()
		return errUsage
	}
	if _, err := meshtls.LoadCA(*dir); err == nil && !*force {
		return fmt.Errorf("%s already holds a CA (--force replaces it, and every certificate it issued stops verifying)", *dir)
	}
	ca, err := meshtls.NewCA(*td, time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := ca.WriteDir(*dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CA for trust domain %s in %s (expires %s)\n", ca.TrustDomain, *dir, ca.Cert.NotAfter.Format(time.DateOnly))
	return nil
}

func certsIssue(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("certs issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	caDir := fs.String("ca", "", "`directory` of the CA made by certs init; required")
	service := fs.String("service", "", "`name` of the service the certificate is for; required")
	out := fs.String("out", "", "`directory` to write tls.crt, tls.key and ca.crt to; required")
	var dns, ips stringsFlag
	fs.Var(&dns, "dns", "DNS `name` to add as a SAN (repeatable; the mesh checks only the service URI)")
	fs.Var(&ips, "ip", "IP `address` to add as a SAN (repeatable)")
	days := fs.Int("days", 365, "validity in days (at most the CA's)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *caDir == "" || *service == "" || *out == "" || fs.NArg() != 0 || *days < 1 {
		fs.Usage()
		return errUsage
	}
	var addrs []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("--ip %q: not an IP address", s)
		}
		addrs = append(addrs, ip)
	}
	ca, err := meshtls.LoadCA(*caDir)
	if err != nil {
		return err
	}
	if err := ca.Issue(*out, meshtls.IssueOptions{Service: *service, DNSNames: dns, IPs: addrs, ValidFor: time.Duration(*days) * 24 * time.Hour}); err != nil {
		return err
	}
	// Read back as serve will, so a bad result shows here.
	src, err := meshtls.Load(meshtls.Options{Dir: *out, Service: *service, TrustDomain: ca.TrustDomain})
	if err != nil {
		return errors.Join(errors.New("the issued certificate does not load"), err)
	}
	fmt.Fprintf(stdout, "%s in %s (expires %s)\n", meshtls.ServiceURI(ca.TrustDomain, *service), filepath.Clean(*out), src.Certificate().NotAfter.Format(time.DateOnly))
	return nil
}

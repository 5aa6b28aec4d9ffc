package worker

import (
	"fmt"
	"net/netip"
	"syscall"

	"code.dny.dev/ssrf"
)

// The webhook address filter. A webhook may be delivered only to a public
// address: none in the IANA IPv4 and IPv6 Special-Purpose Address
// Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry/,
// https://www.iana.org/assignments/iana-ipv6-special-registry/), nor
// multicast, nor IPv6 outside global unicast (2000::/3). The registries
// come from code.dny.dev/ssrf, whose prefix tables are generated from
// IANA's published CSVs and kept in sync by its maintainer: a maintained
// list, not a hand list. webhooks_addr_test.go holds every registry row
// and checks that each is refused, so an upgrade that dropped one fails.
//
// The filter runs twice: on the addresses the URL's host resolves to
// when the webhook is created (checkURL), and on the address actually
// dialed at delivery (dialControl), so a name that resolves to a public
// address at creation and a private one later (DNS rebinding) is still
// refused.

// specialPurpose refuses every IANA special-purpose block; any port and
// network, the port being the URL's business.
var specialPurpose = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// publicAddr reports whether a webhook may be delivered to a.
func publicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false // a zone only qualifies link-local (non-public) addresses
	}
	// An IPv4-mapped IPv6 address (::ffff:0:0/96, a registry row) is
	// judged as the IPv4 address it maps, which is what a dial reaches
	// (and how the resolver hands back A records).
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	return specialPurpose.SafeAddr(a) == nil
}

// dialControl is the delivery dialer's check of the address it is about
// to connect to, after name resolution. Outside dev mode only public
// addresses pass; in dev mode loopback does too (http:// to loopback is
// how a developer receives webhooks), but still nothing else that is
// special-purpose.
func dialControl(devMode bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("refused address %s", address)
		}
		a := ap.Addr()
		if devMode && a.Zone() == "" && a.Unmap().IsLoopback() {
			return nil
		}
		if !publicAddr(a) {
			return fmt.Errorf("refused address %s: not a public address", address)
		}
		return nil
	}
}

package worker

import (
	"net/netip"
	"testing"
)

// The rows of the IANA Special-Purpose Address Registries, each of which a
// webhook must not reach:
// https://www.iana.org/assignments/iana-ipv4-special-registry/ and
// https://www.iana.org/assignments/iana-ipv6-special-registry/ (RFC 6890
// and the RFCs each row cites), with multicast besides. The filter itself
// takes its tables from code.dny.dev/ssrf, generated from the same
// registries; this list checks it, row by row.
var (
	ipv4SpecialRegistry = []string{
		"0.0.0.0/8",          // "This network" (RFC 791)
		"0.0.0.0/32",         // "This host on this network" (RFC 1122)
		"10.0.0.0/8",         // Private-Use (RFC 1918)
		"100.64.0.0/10",      // Shared Address Space (RFC 6598)
		"127.0.0.0/8",        // Loopback (RFC 1122)
		"169.254.0.0/16",     // Link Local (RFC 3927)
		"172.16.0.0/12",      // Private-Use (RFC 1918)
		"192.0.0.0/24",       // IETF Protocol Assignments (RFC 6890)
		"192.0.0.0/29",       // IPv4 Service Continuity Prefix (RFC 7335)
		"192.0.0.8/32",       // IPv4 dummy address (RFC 7600)
		"192.0.0.9/32",       // Port Control Protocol Anycast (RFC 7723)
		"192.0.0.10/32",      // Traversal Using Relays around NAT Anycast (RFC 8155)
		"192.0.0.170/32",     // NAT64/DNS64 Discovery (RFC 7050)
		"192.0.0.171/32",     // NAT64/DNS64 Discovery (RFC 7050)
		"192.0.2.0/24",       // Documentation (TEST-NET-1) (RFC 5737)
		"192.31.196.0/24",    // AS112-v4 (RFC 7535)
		"192.52.193.0/24",    // AMT (RFC 7450)
		"192.88.99.0/24",     // Deprecated (6to4 Relay Anycast) (RFC 7526)
		"192.88.99.2/32",     // 6a44-relay anycast address (RFC 6751)
		"192.168.0.0/16",     // Private-Use (RFC 1918)
		"192.175.48.0/24",    // Direct Delegation AS112 Service (RFC 7534)
		"198.18.0.0/15",      // Benchmarking (RFC 2544)
		"198.51.100.0/24",    // Documentation (TEST-NET-2) (RFC 5737)
		"203.0.113.0/24",     // Documentation (TEST-NET-3) (RFC 5737)
		"240.0.0.0/4",        // Reserved (RFC 1112)
		"255.255.255.255/32", // Limited Broadcast (RFC 919)
		"224.0.0.0/4",        // multicast (not in the registry)
	}
	ipv6SpecialRegistry = []string{
		"::1/128",           // Loopback Address (RFC 4291)
		"::/128",            // Unspecified Address (RFC 4291)
		"::ffff:0:0/96",     // IPv4-mapped Address (RFC 4291)
		"64:ff9b::/96",      // IPv4-IPv6 Translat. (RFC 6052)
		"64:ff9b:1::/48",    // IPv4-IPv6 Translat. (RFC 8215)
		"100::/64",          // Discard-Only Address Block (RFC 6666)
		"100:0:0:1::/64",    // Dummy IPv6 Prefix (RFC 9780)
		"2001::/23",         // IETF Protocol Assignments (RFC 2928)
		"2001::/32",         // TEREDO (RFC 4380)
		"2001:1::1/128",     // Port Control Protocol Anycast (RFC 7723)
		"2001:1::2/128",     // Traversal Using Relays around NAT Anycast (RFC 8155)
		"2001:1::3/128",     // DNS-SD Service Registration Protocol Anycast (RFC 9665)
		"2001:2::/48",       // Benchmarking (RFC 5180)
		"2001:3::/32",       // AMT (RFC 7450)
		"2001:4:112::/48",   // AS112-v6 (RFC 7535)
		"2001:10::/28",      // Deprecated (previously ORCHID) (RFC 4843)
		"2001:20::/28",      // ORCHIDv2 (RFC 7343)
		"2001:30::/28",      // Drone Remote ID Protocol Entity Tags (DETs) Prefix (RFC 9374)
		"2001:db8::/32",     // Documentation (RFC 3849)
		"2002::/16",         // 6to4 (RFC 3056)
		"2620:4f:8000::/48", // Direct Delegation AS112 Service (RFC 7534)
		"3fff::/20",         // Documentation (RFC 9637)
		"5f00::/16",         // Segment Routing (SRv6) SIDs (RFC 9602)
		"fc00::/7",          // Unique-Local (RFC 4193)
		"fe80::/10",         // Link-Local Unicast (RFC 4291)
		"ff00::/8",          // multicast (not in the registry)
	}
)

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestAddressFilterRefusesEveryRegistryRow: the first and last address of
// every special-purpose block is refused at creation (checkURL, with the
// address as the URL's host, in and out of dev mode) and at dial time
// (dialControl, again in both modes); public addresses pass.
func TestAddressFilterRefusesEveryRegistryRow(t *testing.T) {
	for _, row := range append(append([]string{}, ipv4SpecialRegistry...), ipv6SpecialRegistry...) {
		p := netip.MustParsePrefix(row)
		for _, a := range []netip.Addr{p.Masked().Addr(), lastAddr(p)} {
			if publicAddr(a) {
				t.Errorf("%s (registry row %s) passes as public", a, row)
			}
			for _, dev := range []bool{false, true} {
				if dev && a.Unmap().IsLoopback() {
					continue // dev mode delivers to loopback on purpose
				}
				s := &Service{cfg: Config{DevMode: dev}}
				u := "https://" + netip.AddrPortFrom(a, 443).String() + "/hook"
				if err := s.checkURL(t.Context(), u); err == nil {
					t.Errorf("dev=%v: webhook to %s (registry row %s) accepted", dev, u, row)
				}
				if err := dialControl(dev)("tcp", netip.AddrPortFrom(a, 443).String(), nil); err == nil {
					t.Errorf("dev=%v: dial to %s (registry row %s) allowed", dev, a, row)
				}
			}
		}
	}
	for _, a := range []string{"93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"} {
		ap := netip.AddrPortFrom(netip.MustParseAddr(a), 443)
		if err := dialControl(false)("tcp", ap.String(), nil); err != nil {
			t.Errorf("public %s refused at dial: %v", a, err)
		}
		if err := (&Service{}).checkURL(t.Context(), "https://"+ap.String()+"/hook"); err != nil {
			t.Errorf("public %s refused at creation: %v", a, err)
		}
	}
	// Dev mode: loopback stays reachable, a zoned link-local address does not.
	for _, a := range []string{"127.0.0.1:8080", "[::1]:8080"} {
		if err := dialControl(true)("tcp", a, nil); err != nil {
			t.Errorf("dev mode: dial to %s refused: %v", a, err)
		}
		if err := dialControl(false)("tcp", a, nil); err == nil {
			t.Errorf("outside dev mode: dial to %s allowed", a)
		}
	}
	if err := dialControl(true)("tcp", "[fe80::1%eth0]:443", nil); err == nil {
		t.Error("dev mode: dial to a zoned link-local address allowed")
	}
}

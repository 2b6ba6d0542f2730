package plugin

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// parseResolvConf turns a resolv.conf into CNI DNS settings, as host-local does for its resolvConf field:
// nameserver, domain, search and options lines; everything else is ignored.
func parseResolvConf(b []byte) types.DNS {
	var dns types.DNS
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			dns.Nameservers = append(dns.Nameservers, f[1])
		case "domain":
			dns.Domain = f[1]
		case "search":
			dns.Search = append(dns.Search, f[1:]...)
		case "options":
			dns.Options = append(dns.Options, f[1:]...)
		}
	}
	return dns
}

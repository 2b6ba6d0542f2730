package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vflab/vflab/ipam"
)

// Store kinds.
const (
	StoreNode    = "node"    // on disk, host-local's layout (ipam/nodestore)
	StoreCluster = "cluster" // on etcd (ipam/clusterstore)
)

// DefaultTimeout bounds one plugin invocation's store work when "timeout" is not set.
const DefaultTimeout = 30 * time.Second

// Config is everything one plugin invocation needs.
type Config struct {
	CNIVersion string
	Network    ipam.Network // validated, defaults filled
	Routes     []*types.Route
	DNS        types.DNS
	ResolvConf string // host-local's resolvConf: a resolv.conf to turn into DNS
	Store      string // StoreNode or StoreCluster
	DataDir    string // node store directory ("" means its default)
	Etcd       Etcd
	Timeout    time.Duration
	// IPs are the static requests from CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips, in that order.
	IPs []netip.Addr
	// Pod comes from CNI_ARGS K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID.
	Pod ipam.PodRef
}

// Etcd is how to reach the cluster store (whereabouts' field names).
type Etcd struct {
	Endpoints          []string
	CertFile, KeyFile  string
	CAFile             string
	Username, Password string
}

type netConf struct {
	CNIVersion    string    `json:"cniVersion"`
	Name          string    `json:"name"`
	IPAM          *ipamConf `json:"ipam"`
	RuntimeConfig struct {
		IPs      []string      `json:"ips"`
		IPRanges [][]rangeConf `json:"ipRanges"`
	} `json:"runtimeConfig"`
	Args *struct {
		CNI *struct {
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
}

// rangeConf is host-local's range, plus vflab's "exclude".
type rangeConf struct {
	Subnet     string   `json:"subnet"`
	RangeStart string   `json:"rangeStart"`
	RangeEnd   string   `json:"rangeEnd"`
	Gateway    string   `json:"gateway"`
	Exclude    []string `json:"exclude"`
}

// wRange is one of whereabouts' ipRanges.
type wRange struct {
	Range      string   `json:"range"`
	RangeStart string   `json:"range_start"`
	RangeEnd   string   `json:"range_end"`
	Exclude    []string `json:"exclude"`
	Gateway    string   `json:"gateway"`
}

type ipamConf struct {
	Type       string         `json:"type"`
	Routes     []*types.Route `json:"routes"`
	DNS        *types.DNS     `json:"dns"`
	DataDir    string         `json:"dataDir"`
	ResolvConf string         `json:"resolvConf"`
	// host-local
	Ranges [][]rangeConf `json:"ranges"`
	rangeConf
	// whereabouts
	Range          string          `json:"range"`
	WRangeStart    string          `json:"range_start"`
	WRangeEnd      string          `json:"range_end"`
	WExclude       []string        `json:"exclude"`
	IPRanges       []wRange        `json:"ipRanges"`
	NetworkName    string          `json:"network_name"`
	EtcdEndpoints  json.RawMessage `json:"etcd_endpoints"`
	EtcdCertFile   string          `json:"etcd_cert_file"`
	EtcdKeyFile    string          `json:"etcd_key_file"`
	EtcdCACertFile string          `json:"etcd_ca_cert_file"`
	EtcdUsername   string          `json:"etcd_username"`
	EtcdPassword   string          `json:"etcd_password"`
	// vflab
	Store   string `json:"store"`
	Policy  string `json:"policy"`
	Timeout string `json:"timeout"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ipam.ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Parse reads a CNI network configuration (the plugin's stdin) and the CNI_ARGS string.
func Parse(stdin []byte, cniArgs string) (*Config, error) {
	var n netConf
	if err := json.Unmarshal(stdin, &n); err != nil {
		return nil, invalid("network configuration: %v", err)
	}
	if n.IPAM == nil {
		return nil, invalid("ipam: missing")
	}
	in := n.IPAM
	c := &Config{CNIVersion: n.CNIVersion, Routes: in.Routes, DataDir: in.DataDir, ResolvConf: in.ResolvConf, Timeout: DefaultTimeout}
	if in.DNS != nil {
		c.DNS = *in.DNS
	}
	for i, r := range in.Routes {
		if r == nil || r.Dst.IP == nil {
			return nil, invalid("ipam.routes[%d].dst: missing", i)
		}
	}

	c.Network.Name = n.Name
	if in.NetworkName != "" {
		c.Network.Name = in.NetworkName
	}
	if c.Network.Name == "" {
		return nil, invalid("name: missing (and no ipam.network_name)")
	}
	switch p := ipam.Policy(in.Policy); p {
	case "", ipam.RoundRobin, ipam.LowestFree:
		c.Network.Policy = p
	default:
		return nil, invalid("ipam.policy: %q is neither %q nor %q", in.Policy, ipam.RoundRobin, ipam.LowestFree)
	}
	if in.Timeout != "" {
		d, err := time.ParseDuration(in.Timeout)
		if err != nil || d <= 0 {
			return nil, invalid("ipam.timeout: %q is not a positive duration", in.Timeout)
		}
		c.Timeout = d
	}

	// Range sets, in host-local's order (runtimeConfig.ipRanges, legacy top-level range, ranges), then
	// whereabouts' (range, ipRanges).
	add := func(set ipam.RangeSet, sources []string) {
		c.Network.RangeSets = append(c.Network.RangeSets, set)
		c.Network.Sources = append(c.Network.Sources, sources)
	}
	hostLocalSets := func(sets [][]rangeConf, field string) error {
		for i, set := range sets {
			var rs ipam.RangeSet
			var src []string
			for j, rc := range set {
				f := fmt.Sprintf("%s[%d][%d]", field, i, j)
				r, err := rc.parse(f)
				if err != nil {
					return err
				}
				rs = append(rs, r)
				src = append(src, f)
			}
			if len(set) == 0 {
				return invalid("%s[%d]: empty range set", field, i)
			}
			add(rs, src)
		}
		return nil
	}
	if err := hostLocalSets(n.RuntimeConfig.IPRanges, "runtimeConfig.ipRanges"); err != nil {
		return nil, err
	}
	if in.Subnet != "" {
		if in.Range == "" {
			in.Exclude = in.WExclude // "exclude" is one JSON field shared by both formats
		}
		r, err := in.parse("ipam")
		if err != nil {
			return nil, err
		}
		add(ipam.RangeSet{r}, []string{"ipam"})
	} else if in.RangeStart != "" || in.RangeEnd != "" || (in.Gateway != "" && in.Range == "") {
		return nil, invalid("ipam.subnet: missing (rangeStart, rangeEnd or gateway given at the top level)")
	}
	if err := hostLocalSets(in.Ranges, "ipam.ranges"); err != nil {
		return nil, err
	}
	if in.Range != "" {
		r, err := wRange{Range: in.Range, RangeStart: in.WRangeStart, RangeEnd: in.WRangeEnd, Exclude: in.WExclude,
			Gateway: in.Gateway}.parse("ipam")
		if err != nil {
			return nil, err
		}
		add(ipam.RangeSet{r}, []string{"ipam"})
	} else if in.WRangeStart != "" || in.WRangeEnd != "" || (len(in.WExclude) > 0 && len(in.Ranges) == 0 && in.Subnet == "") {
		return nil, invalid("ipam.range: missing (range_start, range_end or exclude given at the top level)")
	}
	for i, wr := range in.IPRanges {
		f := fmt.Sprintf("ipam.ipRanges[%d]", i)
		r, err := wr.parse(f)
		if err != nil {
			return nil, err
		}
		add(ipam.RangeSet{r}, []string{f})
	}
	if len(c.Network.RangeSets) == 0 {
		return nil, invalid("ipam: no range (set ranges, subnet, range or ipRanges)")
	}
	if err := c.Network.Validate(); err != nil {
		return nil, err
	}

	// Store.
	eps, err := endpoints(in.EtcdEndpoints)
	if err != nil {
		return nil, err
	}
	c.Etcd = Etcd{Endpoints: eps, CertFile: in.EtcdCertFile, KeyFile: in.EtcdKeyFile, CAFile: in.EtcdCACertFile,
		Username: in.EtcdUsername, Password: in.EtcdPassword}
	switch in.Store {
	case "":
		c.Store = StoreNode
		if len(eps) > 0 {
			c.Store = StoreCluster
		}
	case StoreNode:
		c.Store = StoreNode
	case StoreCluster:
		if len(eps) == 0 {
			return nil, invalid("ipam.etcd_endpoints: missing (store is %q)", StoreCluster)
		}
		c.Store = StoreCluster
	default:
		return nil, invalid("ipam.store: %q is neither %q nor %q", in.Store, StoreNode, StoreCluster)
	}
	if (c.Etcd.CertFile == "") != (c.Etcd.KeyFile == "") {
		return nil, invalid("ipam.etcd_cert_file and ipam.etcd_key_file: set both or neither")
	}

	// Requests.
	args, err := parseCNIArgs(cniArgs)
	if err != nil {
		return nil, err
	}
	c.Pod = ipam.PodRef{Namespace: args["K8S_POD_NAMESPACE"], Name: args["K8S_POD_NAME"], UID: args["K8S_POD_UID"]}
	if v := args["IP"]; v != "" {
		for _, s := range strings.Split(v, ",") {
			a, err := parseIPMaybeCIDR(s)
			if err != nil {
				return nil, invalid("CNI_ARGS IP: %q is not an IP address", s)
			}
			c.IPs = append(c.IPs, a)
		}
	}
	if n.Args != nil && n.Args.CNI != nil {
		for i, s := range n.Args.CNI.IPs {
			a, err := parseIPMaybeCIDR(s)
			if err != nil {
				return nil, invalid("args.cni.ips[%d]: %q is not an IP address", i, s)
			}
			c.IPs = append(c.IPs, a)
		}
	}
	for i, s := range n.RuntimeConfig.IPs {
		a, err := parseIPMaybeCIDR(s)
		if err != nil {
			return nil, invalid("runtimeConfig.ips[%d]: %q is not an IP address", i, s)
		}
		c.IPs = append(c.IPs, a)
	}
	return c, nil
}

// endpoints accepts whereabouts' comma-separated string or a JSON list.
func endpoints(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []string
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		list = strings.Split(one, ",")
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("ipam.etcd_endpoints: %s is neither a string nor a list of strings", raw)
	}
	var out []string
	for i, e := range list {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			return nil, invalid("ipam.etcd_endpoints[%d]: %q is not a URL (want http:// or https://)", i, e)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseCNIArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, invalid("CNI_ARGS: %q is not KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseIPMaybeCIDR(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, err
		}
		return p.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(s)
	if err == nil && a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone", s)
	}
	return a.Unmap(), err
}

func parseAddr(field, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, invalid("%s: %q is not an IP address", field, s)
	}
	return a.Unmap(), nil
}

func parseCIDR(field, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, invalid("%s: %q is not a CIDR", field, s)
	}
	return p, nil
}

func (rc rangeConf) parse(field string) (ipam.Range, error) {
	var r ipam.Range
	var err error
	if rc.Subnet == "" {
		return r, invalid("%s.subnet: missing", field)
	}
	if r.Subnet, err = parseCIDR(field+".subnet", rc.Subnet); err != nil {
		return r, err
	}
	if r.Start, err = parseAddr(field+".rangeStart", rc.RangeStart); err != nil {
		return r, err
	}
	if r.End, err = parseAddr(field+".rangeEnd", rc.RangeEnd); err != nil {
		return r, err
	}
	if r.Gateway, err = parseAddr(field+".gateway", rc.Gateway); err != nil {
		return r, err
	}
	if !r.Gateway.IsValid() && r.Subnet.IsValid() && r.Subnet.Masked() == r.Subnet {
		r.Gateway = r.Subnet.Addr().Next() // host-local's default: never handed out
	}
	if r.Exclude, err = parseExcludes(field+".exclude", rc.Exclude); err != nil {
		return r, err
	}
	return r, nil
}

func (wr wRange) parse(field string) (ipam.Range, error) {
	var r ipam.Range
	s := strings.TrimSpace(wr.Range)
	if s == "" {
		return r, invalid("%s.range: missing", field)
	}
	// "A-B/NN": start A, end B, subnet A/NN.
	if lo, rest, ok := strings.Cut(s, "-"); ok {
		hi, bitsS, ok := strings.Cut(rest, "/")
		if !ok {
			return r, invalid("%s.range: %q is neither a CIDR nor A-B/NN", field, wr.Range)
		}
		start, err := parseAddr(field+".range", lo)
		if err != nil {
			return r, err
		}
		end, err := parseAddr(field+".range", hi)
		if err != nil {
			return r, err
		}
		p, err := parseCIDR(field+".range", start.String()+"/"+bitsS)
		if err != nil {
			return r, invalid("%s.range: %q is neither a CIDR nor A-B/NN", field, wr.Range)
		}
		r.Subnet, r.Start, r.End = p.Masked(), start, end
	} else {
		p, err := parseCIDR(field+".range", s)
		if err != nil {
			return r, err
		}
		// whereabouts accepts host bits in the range ("10.0.0.5/24"): the subnet is the network and the
		// range starts at the address given (its GetIPRange).
		r.Subnet = p.Masked()
		if p.Addr() != r.Subnet.Addr() {
			r.Start = p.Addr()
		}
	}
	if !r.End.IsValid() && r.Subnet.Addr().Is6() {
		// whereabouts never hands out the all-ones address, in IPv6 either.
		r.End = lastOf(r.Subnet).Prev()
	}
	var err error
	if a, err := parseAddr(field+".range_start", wr.RangeStart); err != nil {
		return r, err
	} else if a.IsValid() {
		r.Start = a
	}
	if a, err := parseAddr(field+".range_end", wr.RangeEnd); err != nil {
		return r, err
	} else if a.IsValid() {
		r.End = a
	}
	if r.Gateway, err = parseAddr(field+".gateway", wr.Gateway); err != nil {
		return r, err
	}
	if r.Exclude, err = parseExcludes(field+".exclude", wr.Exclude); err != nil {
		return r, err
	}
	return r, nil
}

// parseExcludes reads CIDRs, single addresses and "A-B" spans.
func parseExcludes(field string, in []string) ([]ipam.Exclusion, error) {
	var out []ipam.Exclusion
	for i, s := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		s = strings.TrimSpace(s)
		switch {
		case strings.Contains(s, "/"):
			p, err := parseCIDR(f, s)
			if err != nil {
				return nil, err
			}
			out = append(out, ipam.ExclusionFromPrefix(p))
		case strings.Contains(s, "-"):
			lo, hi, _ := strings.Cut(s, "-")
			a, err := parseAddr(f, lo)
			if err != nil {
				return nil, err
			}
			b, err := parseAddr(f, hi)
			if err != nil {
				return nil, err
			}
			if !a.IsValid() || !b.IsValid() || b.Less(a) || a.Is4() != b.Is4() {
				return nil, invalid("%s: %q is not an ascending A-B span", f, s)
			}
			out = append(out, ipam.Exclusion{From: a, To: b})
		default:
			a, err := parseAddr(f, s)
			if err != nil {
				return nil, err
			}
			if !a.IsValid() {
				return nil, invalid("%s: empty", f)
			}
			out = append(out, ipam.Exclusion{From: a, To: a})
		}
	}
	return out, nil
}

// lastOf is the highest address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultPrefix is the upstream default of --resource-prefix.
const DefaultPrefix = "intel.com"

// DeviceType is a pool's device type; it decides the PCI class a device must have.
type DeviceType string

const (
	// NetDevice is a network PCI function (class 0x02), the upstream default.
	NetDevice DeviceType = "netDevice"
	// Accelerator is a processing accelerator (class 0x12).
	Accelerator DeviceType = "accelerator"
)

// Policy is how GetPreferredAllocation chooses among a pool's free devices.
type Policy string

const (
	// Pack fills the fewest PFs first (the default): jobs leave whole rails free for others.
	Pack Policy = "pack"
	// Spread takes one VF per PF (rail) before a second one on any: what multi-rail jobs want.
	Spread Policy = "spread"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid device plugin config")

// Config is a validated config file.
type Config struct {
	Resources []Resource
}

// Resource is one pool: a resource name under a prefix and the selectors that choose its devices.
type Resource struct {
	Name             string
	Prefix           string
	DeviceType       DeviceType
	ExcludeTopology  bool
	Selectors        []Selector // applied in order; a device joins the first pool it matches
	AdditionalInfo   map[string]map[string]string
	AllocationPolicy Policy
}

// FullName is the extended resource name, "<prefix>/<name>".
func (r Resource) FullName() string { return r.Prefix + "/" + r.Name }

// Selector narrows the devices of a pool; every non-empty field must match (upstream order: vendors,
// devices, drivers, pciAddresses, acpiIndexes, pfNames, rootDevices, linkTypes, ddpProfiles, pKeys,
// isRdma, vdpaType). NeedVhostNet adds devices to the response, it selects nothing.
type Selector struct {
	Vendors      []string  // lower-case hex without 0x
	Devices      []string  // lower-case hex without 0x
	Drivers      []string  // driver names
	PCIAddresses []string  // full BDFs
	ACPIIndexes  []string  // <bdf>/acpi_index values
	PFNames      []PFRange // PF netdev names with optional VF ranges
	RootDevices  []PFRange // PF BDFs with optional VF ranges
	LinkTypes    []string  // "ether", "infiniband"
	DDPProfiles  []string
	PKeys        []string // e.g. "0x7fff"
	IsRdma       bool
	NeedVhostNet bool
	VdpaType     string
}

// PFRange is one pfNames or rootDevices entry: "ens1f0" or "ens1f0#0-3,5".
type PFRange struct {
	PF    string
	Spans []Span // nil: every VF of the PF
}

// Span is an inclusive range of VF indexes.
type Span struct{ First, Last int }

// Contains reports whether VF index vf is selected (vf < 0, a PF itself, only without ranges).
func (r PFRange) Contains(vf int) bool {
	if r.Spans == nil {
		return true
	}
	for _, s := range r.Spans {
		if vf >= s.First && vf <= s.Last {
			return true
		}
	}
	return false
}

func (r PFRange) overlaps(o PFRange) bool {
	if r.Spans == nil || o.Spans == nil {
		return true
	}
	for _, a := range r.Spans {
		for _, b := range o.Spans {
			if a.First <= b.Last && b.First <= a.Last {
				return true
			}
		}
	}
	return false
}

var (
	resourceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	hexIDRE        = regexp.MustCompile(`^[0-9a-f]{1,4}$`)
	bdfRE          = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$`)
	pkeyRE         = regexp.MustCompile(`^0x[0-9a-f]{1,4}$`)
)

var resourceFields = []string{"resourceName", "resourcePrefix", "deviceType", "excludeTopology", "selectors",
	"additionalInfo", "allocationPolicy"}

// selectorFields lists every selector key and the device types it applies to.
var selectorFields = map[string][]DeviceType{
	"vendors": {NetDevice, Accelerator}, "devices": {NetDevice, Accelerator}, "drivers": {NetDevice, Accelerator},
	"pciAddresses": {NetDevice, Accelerator}, "acpiIndexes": {NetDevice, Accelerator},
	"pfNames": {NetDevice}, "rootDevices": {NetDevice}, "linkTypes": {NetDevice}, "ddpProfiles": {NetDevice},
	"pKeys": {NetDevice}, "isRdma": {NetDevice}, "needVhostNet": {NetDevice}, "vdpaType": {NetDevice},
}

// Parse decodes and validates a config file. defaultPrefix (--resource-prefix) applies to pools without
// resourcePrefix. Nothing partial is returned: either every pool is valid or the error names the first
// offending field, e.g. `resourceList[1].selectors[0].pfNames[2]`.
func Parse(data []byte, defaultPrefix string) (*Config, error) {
	if defaultPrefix == "" {
		defaultPrefix = DefaultPrefix
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, invalid("", "malformed JSON: %s", jsonErr(data, err))
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if k != "resourceList" {
			return nil, invalid(k, "unknown field")
		}
	}
	raw, ok := top["resourceList"]
	if !ok {
		return nil, invalid("resourceList", "missing")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("resourceList", "must be a list: %s", jsonErr(nil, err))
	}
	if len(list) == 0 {
		return nil, invalid("resourceList", "empty: no pool to serve")
	}
	cfg := &Config{}
	seen := map[string]int{}
	for i, r := range list {
		path := fmt.Sprintf("resourceList[%d]", i)
		res, err := parseResource(path, r, defaultPrefix)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[res.FullName()]; dup {
			return nil, invalid(path+".resourceName", "%q duplicates resourceList[%d] (same prefix and name)", res.FullName(), j)
		}
		seen[res.FullName()] = i
		cfg.Resources = append(cfg.Resources, res)
	}
	if err := checkOverlaps(cfg.Resources); err != nil {
		return nil, err
	}
	return cfg, nil
}

func parseResource(path string, raw json.RawMessage, defaultPrefix string) (Resource, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Resource{}, invalid(path, "must be an object")
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(resourceFields, k) {
			return Resource{}, invalid(path+"."+k, "unknown field (known: %s)", strings.Join(resourceFields, ", "))
		}
	}
	res := Resource{Prefix: defaultPrefix, DeviceType: NetDevice, AllocationPolicy: Pack}
	if err := str(fields, "resourceName", path, &res.Name); err != nil {
		return res, err
	}
	if res.Name == "" {
		return res, invalid(path+".resourceName", "missing")
	}
	if !resourceNameRE.MatchString(res.Name) {
		return res, invalid(path+".resourceName", "%q must match %s", res.Name, resourceNameRE)
	}
	if _, ok := fields["resourcePrefix"]; ok {
		if err := str(fields, "resourcePrefix", path, &res.Prefix); err != nil {
			return res, err
		}
		if res.Prefix == "" {
			res.Prefix = defaultPrefix
		}
	}
	if errs := validation.IsQualifiedName(res.FullName()); len(errs) > 0 {
		return res, invalid(path+".resourcePrefix", "%q is not a valid extended resource name: %s", res.FullName(), strings.Join(errs, "; "))
	}
	var dt string
	if err := str(fields, "deviceType", path, &dt); err != nil {
		return res, err
	}
	switch DeviceType(dt) {
	case "":
	case NetDevice, Accelerator:
		res.DeviceType = DeviceType(dt)
	case "auxNetDevice":
		return res, invalid(path+".deviceType", "%q is not supported by vflab (netDevice, accelerator)", dt)
	default:
		return res, invalid(path+".deviceType", "unknown %q (netDevice, accelerator)", dt)
	}
	if v, ok := fields["excludeTopology"]; ok {
		if err := json.Unmarshal(v, &res.ExcludeTopology); err != nil {
			return res, invalid(path+".excludeTopology", "must be a boolean")
		}
	}
	if v, ok := fields["additionalInfo"]; ok {
		if err := json.Unmarshal(v, &res.AdditionalInfo); err != nil {
			return res, invalid(path+".additionalInfo", "must map a PCI address or \"*\" to string pairs")
		}
	}
	var pol string
	if err := str(fields, "allocationPolicy", path, &pol); err != nil {
		return res, err
	}
	switch Policy(pol) {
	case "":
	case Pack, Spread:
		res.AllocationPolicy = Policy(pol)
	default:
		return res, invalid(path+".allocationPolicy", "unknown %q (pack, spread)", pol)
	}
	sels, err := parseSelectors(path+".selectors", fields["selectors"], res.DeviceType)
	if err != nil {
		return res, err
	}
	res.Selectors = sels
	return res, nil
}

// parseSelectors accepts one object or an ordered list of objects (absent: one empty selector, which
// selects every device of the device type, as upstream).
func parseSelectors(path string, raw json.RawMessage, dt DeviceType) ([]Selector, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return []Selector{{}}, nil
	}
	var objs []json.RawMessage
	switch raw[0] {
	case '{':
		objs = []json.RawMessage{raw}
	case '[':
		if err := json.Unmarshal(raw, &objs); err != nil {
			return nil, invalid(path, "must be an object or a list of objects")
		}
		if len(objs) == 0 {
			return nil, invalid(path, "empty list")
		}
	default:
		return nil, invalid(path, "must be an object or a list of objects")
	}
	out := make([]Selector, 0, len(objs))
	for i, o := range objs {
		p := path
		if raw[0] == '[' {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		s, err := parseSelector(p, o, dt)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSelector(path string, raw json.RawMessage, dt DeviceType) (Selector, error) {
	var s Selector
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return s, invalid(path, "must be an object")
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		types, ok := selectorFields[k]
		if !ok {
			return s, invalid(path+"."+k, "unknown selector")
		}
		if !slices.Contains(types, dt) {
			return s, invalid(path+"."+k, "selector does not apply to deviceType %s", dt)
		}
	}
	lists := []struct {
		key   string
		dst   *[]string
		check func(string) error
	}{
		{"vendors", &s.Vendors, hexID},
		{"devices", &s.Devices, hexID},
		{"drivers", &s.Drivers, nonEmpty},
		{"pciAddresses", &s.PCIAddresses, bdf},
		{"acpiIndexes", &s.ACPIIndexes, nonEmpty},
		{"linkTypes", &s.LinkTypes, linkType},
		{"ddpProfiles", &s.DDPProfiles, nonEmpty},
		{"pKeys", &s.PKeys, pkey},
	}
	for _, l := range lists {
		v, ok := fields[l.key]
		if !ok {
			continue
		}
		var vals []string
		if err := json.Unmarshal(v, &vals); err != nil {
			return s, invalid(path+"."+l.key, "must be a list of strings")
		}
		for i, val := range vals {
			norm := strings.ToLower(strings.TrimSpace(val))
			if l.key == "drivers" || l.key == "acpiIndexes" || l.key == "ddpProfiles" {
				norm = strings.TrimSpace(val)
			}
			if err := l.check(norm); err != nil {
				return s, invalid(fmt.Sprintf("%s.%s[%d]", path, l.key, i), "%q: %v", val, err)
			}
			*l.dst = append(*l.dst, norm)
		}
	}
	var err error
	if s.PFNames, err = pfRanges(path+".pfNames", fields["pfNames"], false); err != nil {
		return s, err
	}
	if s.RootDevices, err = pfRanges(path+".rootDevices", fields["rootDevices"], true); err != nil {
		return s, err
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"isRdma", &s.IsRdma}, {"needVhostNet", &s.NeedVhostNet}} {
		if v, ok := fields[b.key]; ok {
			if err := json.Unmarshal(v, b.dst); err != nil {
				return s, invalid(path+"."+b.key, "must be a boolean")
			}
		}
	}
	if v, ok := fields["vdpaType"]; ok {
		if err := json.Unmarshal(v, &s.VdpaType); err != nil {
			return s, invalid(path+".vdpaType", "must be a string")
		}
		if s.VdpaType != "" && s.VdpaType != "vhost" && s.VdpaType != "virtio" {
			return s, invalid(path+".vdpaType", "unknown %q (vhost, virtio)", s.VdpaType)
		}
		if s.VdpaType != "" && s.IsRdma {
			return s, invalid(path+".vdpaType", "cannot be combined with isRdma")
		}
	}
	return s, nil
}

// pfRanges parses pfNames / rootDevices entries "<pf>[#<i>|<a>-<b>,...]".
func pfRanges(path string, raw json.RawMessage, isBDF bool) ([]PFRange, error) {
	if raw == nil {
		return nil, nil
	}
	var vals []string
	if err := json.Unmarshal(raw, &vals); err != nil {
		return nil, invalid(path, "must be a list of strings")
	}
	var out []PFRange
	seen := map[string]int{}
	for i, v := range vals {
		p := fmt.Sprintf("%s[%d]", path, i)
		r, err := ParsePFRange(v)
		if err != nil {
			return nil, invalid(p, "%q: %v", v, err)
		}
		if isBDF {
			r.PF = strings.ToLower(r.PF)
			if err := bdf(r.PF); err != nil {
				return nil, invalid(p, "%q: %v", v, err)
			}
		}
		key := strings.ToLower(r.PF)
		if j, dup := seen[key]; dup {
			return nil, invalid(p, "%q names PF %s again (entry %d): upstream uses only the first entry; write one entry with a comma list of ranges", v, r.PF, j)
		}
		seen[key] = i
		out = append(out, r)
	}
	return out, nil
}

// ParsePFRange parses one pfNames/rootDevices entry: a PF name or address, optionally followed by '#'
// and a comma list of 0-based VF indexes and inclusive ranges, e.g. "ens1f0#0-3,5".
func ParsePFRange(s string) (PFRange, error) {
	name, ranges, hasRange := strings.Cut(strings.TrimSpace(s), "#")
	if name == "" {
		return PFRange{}, errors.New("empty PF")
	}
	r := PFRange{PF: name}
	if !hasRange {
		return r, nil
	}
	if ranges == "" {
		return PFRange{}, errors.New("empty VF range after '#'")
	}
	r.Spans = []Span{}
	for part := range strings.SplitSeq(ranges, ",") {
		lo, hi, isSpan := strings.Cut(part, "-")
		first, err := vfIndex(lo)
		if err != nil {
			return PFRange{}, err
		}
		last := first
		if isSpan {
			if last, err = vfIndex(hi); err != nil {
				return PFRange{}, err
			}
		}
		if first > last {
			return PFRange{}, fmt.Errorf("range %q: start after end", part)
		}
		r.Spans = append(r.Spans, Span{first, last})
	}
	return r, nil
}

func vfIndex(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("VF index %q is not a number in 0..65535", s)
	}
	return n, nil
}

// checkOverlaps refuses pools that name the same device explicitly: same PCI address, or the same PF with
// intersecting VF ranges. Pools that overlap only through broad selectors (vendor, driver) follow the
// upstream rule: the first pool wins.
func checkOverlaps(rs []Resource) error {
	type claim struct {
		pool  int
		path  string
		r     PFRange
		isBDF bool
	}
	var pfClaims []claim
	addrs := map[string]claim{}
	for i, r := range rs {
		for si, s := range r.Selectors {
			sp := fmt.Sprintf("resourceList[%d].selectors[%d]", i, si)
			for ai, a := range s.PCIAddresses {
				if c, ok := addrs[a]; ok && c.pool != i {
					return invalid(fmt.Sprintf("%s.pciAddresses[%d]", sp, ai), "%s is already in pool %s (%s): pools overlap",
						a, rs[c.pool].FullName(), c.path)
				}
				addrs[a] = claim{pool: i, path: fmt.Sprintf("%s.pciAddresses[%d]", sp, ai)}
			}
			for _, group := range []struct {
				key   string
				rs    []PFRange
				isBDF bool
			}{{"pfNames", s.PFNames, false}, {"rootDevices", s.RootDevices, true}} {
				for ri, pr := range group.rs {
					p := fmt.Sprintf("%s.%s[%d]", sp, group.key, ri)
					for _, c := range pfClaims {
						if c.pool == i || c.isBDF != group.isBDF || !strings.EqualFold(c.r.PF, pr.PF) || !c.r.overlaps(pr) {
							continue
						}
						return invalid(p, "VFs of %s are already in pool %s (%s): pools overlap", pr.PF, rs[c.pool].FullName(), c.path)
					}
					pfClaims = append(pfClaims, claim{pool: i, path: p, r: pr, isBDF: group.isBDF})
				}
			}
		}
	}
	return nil
}

func str(fields map[string]json.RawMessage, key, path string, dst *string) error {
	v, ok := fields[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return invalid(path+"."+key, "must be a string")
	}
	return nil
}

func hexID(s string) error {
	if !hexIDRE.MatchString(s) {
		return errors.New("want a hex ID without 0x, e.g. 15b3")
	}
	return nil
}

func bdf(s string) error {
	if !bdfRE.MatchString(s) {
		return errors.New("want a full PCI address dddd:bb:dd.f, e.g. 0000:3b:00.2")
	}
	return nil
}

func pkey(s string) error {
	if !pkeyRE.MatchString(s) {
		return errors.New("want a hex P_Key with 0x, e.g. 0x7fff")
	}
	return nil
}

func linkType(s string) error {
	if s != "ether" && s != "infiniband" {
		return errors.New("want ether or infiniband")
	}
	return nil
}

func nonEmpty(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field == "" {
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, msg)
}

// jsonErr adds the line and column of a syntax error.
func jsonErr(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) && data != nil {
		line, col := 1, 1
		for _, c := range data[:min(int(se.Offset), len(data))] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d column %d: %v", line, col, err)
	}
	return err.Error()
}

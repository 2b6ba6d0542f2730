package fakesysfs_test

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// capturesDir holds text extracts of real machines' sysfs (shared/fixtures/real-sysfs/extracts).
const capturesDir = "../../shared/fixtures/real-sysfs/extracts"

// sysEntry is one entry of a sysfs tree: a directory, a link (with its target) or a file (with its
// content when it could be read).
type sysEntry struct {
	kind     byte // 'D', 'L' or 'F'
	target   string
	content  string
	readable bool
}

// sysTree is a sysfs tree keyed by path relative to the root ("sys/devices/...").
type sysTree struct {
	name     string
	entries  map[string]sysEntry
	children map[string][]string // dir -> sorted child names
}

func newSysTree(name string) *sysTree {
	return &sysTree{name: name, entries: map[string]sysEntry{}, children: map[string][]string{}}
}

func (t *sysTree) add(p string, e sysEntry) {
	t.entries[p] = e
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	t.children[dir] = append(t.children[dir], base)
}

func (t *sysTree) sortChildren() {
	for _, c := range t.children {
		sort.Strings(c)
	}
}

// file returns the content of a readable file.
func (t *sysTree) file(p string) (string, bool) {
	e, ok := t.entries[p]
	return e.content, ok && e.kind == 'F' && e.readable
}

// parseCapture reads an extract: `D <dir>`, `L <link> -> <target>`, `F <file> (N bytes)` followed by
// the content's lines prefixed with `  |`; binary files are marked `(N bytes, binary, omitted)`.
func parseCapture(name string, r io.Reader) (*sysTree, error) {
	t := newSysTree(name)
	fileRE := regexp.MustCompile(`^F (\S+) \((\d+) bytes(, binary, omitted)?\)$`)
	var (
		cur   string
		size  int
		lines []string
	)
	flush := func() error {
		if cur == "" {
			return nil
		}
		content := ""
		if size > 0 {
			content = strings.Join(lines, "\n") + "\n"
		}
		if len(content) != size {
			return fmt.Errorf("%s: %d bytes announced, %d parsed", cur, size, len(content))
		}
		t.add(cur, sysEntry{kind: 'F', content: content, readable: true})
		cur, lines = "", nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "  |"):
			if cur == "" {
				return nil, fmt.Errorf("content line outside a file: %q", line)
			}
			lines = append(lines, strings.TrimPrefix(line, "  |"))
		default:
			if err := flush(); err != nil {
				return nil, err
			}
			switch {
			case strings.HasPrefix(line, "D "):
				t.add(line[2:], sysEntry{kind: 'D'})
			case strings.HasPrefix(line, "L "):
				link, target, ok := strings.Cut(line[2:], " -> ")
				if !ok {
					return nil, fmt.Errorf("bad link line %q", line)
				}
				t.add(link, sysEntry{kind: 'L', target: target})
			case fileRE.MatchString(line):
				m := fileRE.FindStringSubmatch(line)
				if m[3] != "" {
					t.add(m[1], sysEntry{kind: 'F'}) // binary, omitted
					continue
				}
				cur = m[1]
				size, _ = strconv.Atoi(m[2])
			default:
				return nil, fmt.Errorf("unknown line %q", line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	t.sortChildren()
	return t, nil
}

// fakeTree dumps the /sys of a kernel rendered from a preset.
func fakeTree(t *testing.T, preset string) *sysTree {
	t.Helper()
	node, err := topology.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	k, err := fakesysfs.New(node)
	if err != nil {
		t.Fatalf("New(%s) = %v", preset, err)
	}
	tree := newSysTree("fake " + preset)
	err = afero.Walk(k, "/sys", func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "/")
		if rel == "sys" {
			return nil
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := k.ReadlinkIfPossible(p)
			if err != nil {
				return err
			}
			tree.add(rel, sysEntry{kind: 'L', target: target})
		case info.IsDir():
			tree.add(rel, sysEntry{kind: 'D'})
		default:
			e := sysEntry{kind: 'F'}
			if info.Mode().Perm()&0o444 != 0 {
				if data, err := afero.ReadFile(k, p); err == nil {
					e.content, e.readable = string(data), true
				}
			}
			tree.add(rel, e)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", preset, err)
	}
	tree.sortChildren()
	return tree
}

func loadCaptures(t *testing.T) []*sysTree {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.txt"))
	if len(files) == 0 {
		t.Skipf("no real sysfs captures in %s (they live next to the repository, in shared/fixtures)", capturesDir)
	}
	var trees []*sysTree
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := parseCapture(filepath.Base(f), r)
		_ = r.Close() // read-only
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		trees = append(trees, tree)
	}
	return trees
}

var (
	bdfName = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
	hex4    = regexp.MustCompile(`^0x[0-9a-f]{4}\n$`)
	decimal = regexp.MustCompile(`^[0-9]+\n$`)
	guid    = regexp.MustCompile(`^[0-9a-f]{4}(:[0-9a-f]{4}){3}\n$`)
)

// Attribute formats, per kind of directory. Each must hold for every occurrence in the real captures
// (checked: a wrong regexp fails the test) and for every occurrence in the fake.
var (
	pciFormats = map[string]*regexp.Regexp{
		"vendor": hex4, "device": hex4, "subsystem_vendor": hex4, "subsystem_device": hex4,
		"class":                    regexp.MustCompile(`^0x[0-9a-f]{6}\n$`),
		"revision":                 regexp.MustCompile(`^0x[0-9a-f]{2}\n$`),
		"modalias":                 regexp.MustCompile(`^pci:v[0-9A-F]{8}d[0-9A-F]{8}sv[0-9A-F]{8}sd[0-9A-F]{8}bc[0-9A-F]{2}sc[0-9A-F]{2}i[0-9A-F]{2}\n$`),
		"numa_node":                regexp.MustCompile(`^-?[0-9]+\n$`),
		"local_cpulist":            regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*\n$`),
		"local_cpus":               regexp.MustCompile(`^[0-9a-f]{1,8}(,[0-9a-f]{8})*\n$`),
		"irq":                      decimal,
		"driver_override":          regexp.MustCompile(`^(\(null\)|[a-z0-9_-]+)\n$`),
		"broken_parity_status":     regexp.MustCompile(`^[01]\n$`),
		"d3cold_allowed":           regexp.MustCompile(`^[01]\n$`),
		"consistent_dma_mask_bits": decimal, "dma_mask_bits": decimal,
		"current_link_speed": regexp.MustCompile(`^[0-9.]+ GT/s( PCIe)?\n$`), "max_link_speed": regexp.MustCompile(`^[0-9.]+ GT/s( PCIe)?\n$`),
		"current_link_width": decimal, "max_link_width": decimal,
		"resource":       regexp.MustCompile(`^(0x[0-9a-f]{16} 0x[0-9a-f]{16} 0x[0-9a-f]{16}\n){13,}$`),
		"sriov_totalvfs": decimal, "sriov_numvfs": decimal, "sriov_offset": decimal, "sriov_stride": decimal,
		"sriov_vf_device":         regexp.MustCompile(`^[0-9a-f]{1,4}\n$`),
		"sriov_drivers_autoprobe": regexp.MustCompile(`^[01]\n$`),
		"sriov_vf_total_msix":     decimal,
	}
	ibDeviceFormats = map[string]*regexp.Regexp{
		"node_type": regexp.MustCompile(`^[0-9]: (CA|SWITCH|ROUTER|RNIC)\n$`),
		"node_guid": guid, "sys_image_guid": guid,
		"fw_ver":   regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\n$`),
		"hca_type": regexp.MustCompile(`^MT[0-9]+\n$`),
		"hw_rev":   regexp.MustCompile(`^[0-9a-f]+\n$`),
		"board_id": regexp.MustCompile(`^[A-Za-z0-9_]{1,16}\n$`),
	}
	ibPortFormats = map[string]*regexp.Regexp{
		"state":          regexp.MustCompile(`^[0-5]: (NOP|DOWN|INIT|ARMED|ACTIVE|ACTIVE_DEFER)\n$`),
		"phys_state":     regexp.MustCompile(`^[1-7]: (Sleep|Polling|Disabled|PortConfigurationTraining|LinkUp|LinkErrorRecovery|Phy Test)\n$`),
		"rate":           regexp.MustCompile(`^[0-9]+(\.5)? Gb/sec \([0-9]+X( ?(SDR|DDR|QDR|FDR10|FDR|EDR|HDR|NDR|XDR))?\)\n$`),
		"lid":            regexp.MustCompile(`^0x[0-9a-f]+\n$`),
		"sm_lid":         regexp.MustCompile(`^0x[0-9a-f]+\n$`),
		"lid_mask_count": decimal, "sm_sl": decimal,
		"cap_mask":   regexp.MustCompile(`^0x[0-9a-f]{8}\n$`),
		"link_layer": regexp.MustCompile(`^(InfiniBand|Ethernet)\n$`),
	}
	netFormats = map[string]*regexp.Regexp{
		"type":      regexp.MustCompile(`^(1|32)\n$`),
		"addr_len":  regexp.MustCompile(`^(6|20)\n$`),
		"address":   regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}(([:][0-9a-f]{2}){14})?\n$`),
		"broadcast": regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}(([:][0-9a-f]{2}){14})?\n$`),
		"mtu":       decimal, "ifindex": decimal, "iflink": decimal, "tx_queue_len": decimal,
		"carrier":          regexp.MustCompile(`^[01]\n$`),
		"operstate":        regexp.MustCompile(`^(up|down|unknown|dormant|testing|notpresent|lowerlayerdown)\n$`),
		"dev_id":           regexp.MustCompile(`^0x[0-9a-f]+\n$`),
		"dev_port":         decimal,
		"flags":            regexp.MustCompile(`^0x[0-9a-f]+\n$`),
		"addr_assign_type": decimal,
		"pkey":             hex4,
		"mode":             regexp.MustCompile(`^(datagram|connected)\n$`),
		"umcast":           regexp.MustCompile(`^[01]\n$`),
	}
	charDevFormats = map[string]*regexp.Regexp{
		"dev":         regexp.MustCompile(`^[0-9]+:[0-9]+\n$`),
		"ibdev":       regexp.MustCompile(`^[a-z0-9_]+\n$`),
		"port":        regexp.MustCompile(`^[1-9][0-9]*\n$`),
		"abi_version": decimal,
	}
)

// classified are the directories of a tree, by kind.
type classified struct {
	pci, ibDevices, ibPorts, netdevs, charDevs []string
}

func classify(t *sysTree) classified {
	var c classified
	for p, e := range t.entries {
		if e.kind != 'D' || !strings.HasPrefix(p, "sys/devices/") {
			continue
		}
		base := path.Base(p)
		parent := path.Base(path.Dir(p))
		switch {
		case bdfName.MatchString(base) && t.entries[p+"/vendor"].kind == 'F':
			c.pci = append(c.pci, p)
		case parent == "infiniband" && t.entries[p+"/node_guid"].kind == 'F':
			c.ibDevices = append(c.ibDevices, p)
		case parent == "ports" && t.entries[p+"/link_layer"].kind == 'F':
			c.ibPorts = append(c.ibPorts, p)
		case parent == "net" && t.entries[p+"/type"].kind == 'F':
			c.netdevs = append(c.netdevs, p)
		case (parent == "infiniband_mad" || parent == "infiniband_verbs") && t.entries[p+"/ibdev"].kind == 'F':
			c.charDevs = append(c.charDevs, p)
		}
	}
	for _, s := range []*[]string{&c.pci, &c.ibDevices, &c.ibPorts, &c.netdevs, &c.charDevs} {
		sort.Strings(*s)
	}
	return c
}

// depth is the number of components of p below sys/ (the number of "../" a link in p needs to reach /sys).
func depth(p string) int { return strings.Count(strings.TrimPrefix(p, "sys/"), "/") + 1 }

// formatProblems checks every attribute with a known format in dirs.
func formatProblems(t *sysTree, dirs []string, formats map[string]*regexp.Regexp) (problems []string, checked int) {
	for _, dir := range dirs {
		for _, name := range t.children[dir] {
			re, ok := formats[name]
			if !ok {
				continue
			}
			content, ok := t.file(dir + "/" + name)
			if !ok {
				continue
			}
			checked++
			if !re.MatchString(content) {
				problems = append(problems, fmt.Sprintf("%s/%s = %q does not match %s", dir, name, content, re))
			}
		}
	}
	return problems, checked
}

// linkProblems checks the shapes of the relative links the kernel creates.
func linkProblems(t *sysTree, c classified) (problems []string, checked int) {
	up := func(n int) string { return strings.Repeat("../", n) }
	check := func(link string, want *regexp.Regexp) {
		e, ok := t.entries[link]
		if !ok || e.kind != 'L' {
			return
		}
		checked++
		if !want.MatchString(e.target) {
			problems = append(problems, fmt.Sprintf("%s -> %s does not match %s", link, e.target, want))
		}
	}
	for _, dir := range c.pci {
		d := depth(dir)
		check(dir+"/driver", regexp.MustCompile(`^`+regexp.QuoteMeta(up(d))+`bus/pci/drivers/[a-z0-9_-]+$`))
		check(dir+"/subsystem", regexp.MustCompile(`^`+regexp.QuoteMeta(up(d))+`bus/pci$`))
		check(dir+"/iommu_group", regexp.MustCompile(`^`+regexp.QuoteMeta(up(d))+`kernel/iommu_groups/[0-9]+$`))
		check(dir+"/physfn", regexp.MustCompile(`^\.\./[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`))
		for _, name := range t.children[dir] {
			if strings.HasPrefix(name, "virtfn") {
				check(dir+"/"+name, regexp.MustCompile(`^\.\./[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`))
				// The target is a sibling that exists, and points back.
				target := path.Join(path.Dir(dir), path.Base(t.entries[dir+"/"+name].target))
				if back := t.entries[target+"/physfn"]; back.kind != 'L' || back.target != "../"+path.Base(dir) {
					problems = append(problems, fmt.Sprintf("%s/%s: %s has no physfn -> ../%s", dir, name, target, path.Base(dir)))
				}
			}
		}
		bdf := path.Base(dir)
		if e, ok := t.entries["sys/bus/pci/devices/"+bdf]; ok {
			checked++
			if want := "../../../" + strings.TrimPrefix(dir, "sys/"); e.target != want {
				problems = append(problems, fmt.Sprintf("sys/bus/pci/devices/%s -> %s, want %s", bdf, e.target, want))
			}
		}
	}
	classDir := func(dirs []string, class string) {
		for _, dir := range dirs {
			d := depth(dir)
			bdf := path.Base(path.Dir(path.Dir(dir)))
			check(dir+"/device", regexp.MustCompile(`^\.\./\.\./\.\./`+regexp.QuoteMeta(bdf)+`$`))
			check(dir+"/subsystem", regexp.MustCompile(`^`+regexp.QuoteMeta(up(d))+`class/`+class+`$`))
			if e, ok := t.entries["sys/class/"+class+"/"+path.Base(dir)]; ok {
				checked++
				if want := "../../" + strings.TrimPrefix(dir, "sys/"); e.target != want {
					problems = append(problems, fmt.Sprintf("sys/class/%s/%s -> %s, want %s", class, path.Base(dir), e.target, want))
				}
			}
		}
	}
	classDir(c.netdevs, "net")
	classDir(c.ibDevices, "infiniband")
	var mad, verbs []string
	for _, dir := range c.charDevs {
		if path.Base(path.Dir(dir)) == "infiniband_mad" {
			mad = append(mad, dir)
		} else {
			verbs = append(verbs, dir)
		}
	}
	classDir(mad, "infiniband_mad")
	classDir(verbs, "infiniband_verbs")
	return problems, checked
}

// consistencyProblems checks that uevent and modalias agree with the other attributes of a PCI function.
func consistencyProblems(t *sysTree, c classified) (problems []string, checked int) {
	hexOf := func(dir, name string) (uint64, bool) {
		s, ok := t.file(dir + "/" + name)
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseUint(strings.TrimSpace(s), 0, 32)
		return v, err == nil
	}
	for _, dir := range c.pci {
		vendor, ok1 := hexOf(dir, "vendor")
		device, ok2 := hexOf(dir, "device")
		class, ok3 := hexOf(dir, "class")
		subV, ok4 := hexOf(dir, "subsystem_vendor")
		subD, ok5 := hexOf(dir, "subsystem_device")
		modalias, ok6 := t.file(dir + "/modalias")
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 {
			checked++
			want := fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n", vendor, device, subV, subD, class>>16, (class>>8)&0xff, class&0xff)
			if modalias != want {
				problems = append(problems, fmt.Sprintf("%s/modalias = %q, its attributes say %q", dir, modalias, want))
			}
		}
		uevent, ok := t.file(dir + "/uevent")
		if !ok || !ok1 || !ok2 || !ok3 {
			continue
		}
		checked++
		want := map[string]string{
			"PCI_CLASS":     fmt.Sprintf("%X", class),
			"PCI_ID":        fmt.Sprintf("%04X:%04X", vendor, device),
			"PCI_SLOT_NAME": path.Base(dir),
		}
		if ok4 && ok5 {
			want["PCI_SUBSYS_ID"] = fmt.Sprintf("%04X:%04X", subV, subD)
		}
		if ok6 {
			want["MODALIAS"] = strings.TrimSuffix(modalias, "\n")
		}
		if drv, ok := t.entries[dir+"/driver"]; ok {
			want["DRIVER"] = path.Base(drv.target)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSuffix(uevent, "\n"), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				problems = append(problems, fmt.Sprintf("%s/uevent: line %q is not KEY=value", dir, line))
				continue
			}
			got[k] = v
		}
		for k, v := range want {
			if got[k] != v {
				problems = append(problems, fmt.Sprintf("%s/uevent: %s=%q, want %q", dir, k, got[k], v))
			}
		}
	}
	return problems, checked
}

// nameSet returns the names of a directory's children.
func nameSet(t *sysTree, dir string) map[string]bool {
	out := map[string]bool{}
	for _, n := range t.children[dir] {
		out[n] = true
	}
	return out
}

// TestCaptureFormats checks the fake's trees against formats that the real captures satisfy: every
// attribute format, link shape and uevent/modalias consistency rule is first run on the captures (so a
// rule that real kernels break fails here), then on every preset.
func TestCaptureFormats(t *testing.T) {
	t.Parallel()
	real := loadCaptures(t)
	type check struct {
		name string
		run  func(*sysTree, classified) ([]string, int)
	}
	checks := []check{
		{"pci attributes", func(t *sysTree, c classified) ([]string, int) { return formatProblems(t, c.pci, pciFormats) }},
		{"infiniband device attributes", func(t *sysTree, c classified) ([]string, int) {
			return formatProblems(t, c.ibDevices, ibDeviceFormats)
		}},
		{"infiniband port attributes", func(t *sysTree, c classified) ([]string, int) {
			p, n := formatProblems(t, c.ibPorts, ibPortFormats)
			for _, port := range c.ibPorts { // gids/N and pkeys/N
				for _, sub := range []struct {
					dir string
					re  *regexp.Regexp
				}{{"gids", regexp.MustCompile(`^[0-9a-f]{4}(:[0-9a-f]{4}){7}\n$`)}, {"pkeys", hex4}} {
					for _, name := range t.children[port+"/"+sub.dir] {
						if s, ok := t.file(port + "/" + sub.dir + "/" + name); ok {
							n++
							if !sub.re.MatchString(s) {
								p = append(p, fmt.Sprintf("%s/%s/%s = %q does not match %s", port, sub.dir, name, s, sub.re))
							}
						}
					}
				}
			}
			return p, n
		}},
		{"net attributes", func(t *sysTree, c classified) ([]string, int) { return formatProblems(t, c.netdevs, netFormats) }},
		{"char device attributes", func(t *sysTree, c classified) ([]string, int) { return formatProblems(t, c.charDevs, charDevFormats) }},
		{"link shapes", linkProblems},
		{"uevent and modalias", consistencyProblems},
	}
	realChecked := map[string]int{}
	for _, tree := range real {
		c := classify(tree)
		for _, ch := range checks {
			problems, n := ch.run(tree, c)
			realChecked[ch.name] += n
			for _, p := range problems {
				t.Errorf("the rule %q does not hold on the real capture %s (fix the rule): %s", ch.name, tree.name, p)
			}
		}
	}
	for _, ch := range checks {
		if realChecked[ch.name] == 0 {
			t.Errorf("rule %q checked nothing in the real captures", ch.name)
		}
		t.Logf("rule %q: %d checks hold on the real captures", ch.name, realChecked[ch.name])
	}
	for _, preset := range topology.Presets() {
		tree := fakeTree(t, preset)
		c := classify(tree)
		if len(c.pci) == 0 || len(c.netdevs) == 0 || len(c.ibDevices) == 0 || len(c.ibPorts) == 0 || len(c.charDevs) == 0 {
			t.Errorf("%s: classified %d PCI functions, %d netdevs, %d RDMA devices, %d ports, %d char devices; want some of each",
				preset, len(c.pci), len(c.netdevs), len(c.ibDevices), len(c.ibPorts), len(c.charDevs))
		}
		for _, ch := range checks {
			problems, n := ch.run(tree, c)
			if n == 0 {
				t.Errorf("%s: rule %q checked nothing in the fake tree", preset, ch.name)
			}
			t.Logf("%s: rule %q: %d checks", preset, ch.name, n)
			for i, p := range problems {
				if i == 10 {
					t.Errorf("%s: %s: ... %d more", preset, ch.name, len(problems)-10)
					break
				}
				t.Errorf("%s: %s: %s", preset, ch.name, p)
			}
		}
	}
}

// notRendered are entries real devices have that the fake deliberately leaves out, with the reason.
var notRendered = map[string]string{
	"ptp":        "PTP clocks are not part of the SR-IOV/RDMA story",
	"pools":      "dmapool statistics: driver internals",
	"statistics": "netdev counters: the sandbox's real links carry traffic, not the fake tree",
	"queues":     "netdev queues: likewise",
	"power":      "runtime PM: not simulated",
	"features":   "net-sysfs of the 2013 capture's kernel; current kernels have no /sys/class/net/<if>/features",
}

// knownGaps are entries the fake should render but does not yet, per device kind: reported, and kept
// here so the rest of the test guards against regressions. An entry the fake gains fails the test
// until it is removed from this list.
var knownGaps = map[string]map[string]bool{}

// TestCaptureNames checks that the fake renders the entries real devices of the same kind have: the
// mlx5 PF of the ConnectX-4 capture, the SR-IOV PF and VF of the I350 capture, and the RDMA device,
// ports, IPoIB netdev and umad/issm/uverbs devices of the ConnectX-3 capture.
func TestCaptureNames(t *testing.T) {
	t.Parallel()
	real := loadCaptures(t)
	// want[kind] = names real devices of that kind have.
	want := map[string]map[string]string{} // kind -> name -> where seen
	addNames := func(kind string, tree *sysTree, dir string, keep func(string) bool) {
		if want[kind] == nil {
			want[kind] = map[string]string{}
		}
		for n := range nameSet(tree, dir) {
			if keep == nil || keep(n) {
				want[kind][n] = tree.name + ":" + dir
			}
		}
	}
	for _, tree := range real {
		c := classify(tree)
		for _, dir := range c.pci {
			vendor, _ := tree.file(dir + "/vendor")
			drv := path.Base(tree.entries[dir+"/driver"].target)
			switch {
			case drv == "mlx5_core":
				addNames("mlx5 PF", tree, dir, nil)
			case tree.entries[dir+"/sriov_totalvfs"].kind == 'F':
				addNames("SR-IOV PF", tree, dir, func(n string) bool {
					return strings.HasPrefix(n, "sriov_") || strings.HasPrefix(n, "virtfn") && n == "virtfn0"
				})
			case tree.entries[dir+"/physfn"].kind == 'L':
				addNames("VF", tree, dir, nil)
			case vendor == "0x15b3\n":
				addNames("RDMA PF", tree, dir, func(n string) bool { return strings.HasPrefix(n, "infiniband") || n == "net" })
			}
		}
		for _, dir := range c.ibDevices {
			addNames("RDMA device", tree, dir, func(n string) bool { return n != path.Base(dir) }) // <dev>/<dev> is the old infiniband_cm class dir
		}
		for _, dir := range c.ibPorts {
			addNames("RDMA port", tree, dir, nil)
		}
		for _, dir := range c.netdevs {
			if ty, _ := tree.file(dir + "/type"); ty == "32\n" {
				addNames("IPoIB netdev", tree, dir, nil)
			}
		}
		for _, dir := range c.charDevs {
			addNames(strings.TrimRight(path.Base(dir), "0123456789")+" device", tree, dir, nil)
		}
	}
	if len(want) < 8 {
		t.Fatalf("found only %d device kinds in the real captures: %v", len(want), want)
	}
	for _, preset := range topology.Presets() {
		tree := fakeTree(t, preset)
		c := classify(tree)
		have := map[string][]string{} // kind -> fake dirs of that kind
		for _, dir := range c.pci {
			if tree.entries[dir+"/physfn"].kind == 'L' {
				have["VF"] = append(have["VF"], dir)
				continue
			}
			have["mlx5 PF"] = append(have["mlx5 PF"], dir)
			have["RDMA PF"] = append(have["RDMA PF"], dir)
			if tree.entries[dir+"/sriov_totalvfs"].kind == 'F' {
				have["SR-IOV PF"] = append(have["SR-IOV PF"], dir)
			}
		}
		have["RDMA device"] = c.ibDevices
		have["RDMA port"] = c.ibPorts
		for _, dir := range c.netdevs {
			if ty, _ := tree.file(dir + "/type"); ty == "32\n" {
				have["IPoIB netdev"] = append(have["IPoIB netdev"], dir)
			}
		}
		for _, dir := range c.charDevs {
			kind := strings.TrimRight(path.Base(dir), "0123456789") + " device"
			have[kind] = append(have[kind], dir)
		}
		for kind, names := range want {
			dirs := have[kind]
			if len(dirs) == 0 {
				t.Errorf("%s: no %s in the fake tree", preset, kind)
				continue
			}
			for _, dir := range dirs {
				fake := nameSet(tree, dir)
				var missing []string
				for n, seen := range names {
					switch {
					case fake[n] && knownGaps[kind][n]:
						t.Errorf("%s: %s %s now has %s: remove it from knownGaps", preset, kind, dir, n)
					case !fake[n] && notRendered[n] == "" && !knownGaps[kind][n]:
						missing = append(missing, n+" (real: "+seen+")")
					}
				}
				sort.Strings(missing)
				if len(missing) > 0 {
					t.Errorf("%s: %s %s lacks %d entries real ones have: %s", preset, kind, dir, len(missing), strings.Join(missing, ", "))
				}
			}
		}
	}
}

// TestParseCapture pins the extract parser on a small sample.
func TestParseCapture(t *testing.T) {
	t.Parallel()
	in := `# format: D <dir> | L <link> -> <target> | F <file> (N bytes) then content lines prefixed '  |'
D sys/devices/pci0000:00/0000:00:01.0
F sys/devices/pci0000:00/0000:00:01.0/uevent (20 bytes)
  |DRIVER=x
  |PCI_ID=1:2
F sys/devices/pci0000:00/0000:00:01.0/msi_bus (0 bytes)
  |
F sys/devices/pci0000:00/0000:00:01.0/config (64 bytes, binary, omitted)
L sys/devices/pci0000:00/0000:00:01.0/driver -> ../../../bus/pci/drivers/x
`
	tree, err := parseCapture("sample", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	dir := "sys/devices/pci0000:00/0000:00:01.0"
	if s, ok := tree.file(dir + "/uevent"); !ok || s != "DRIVER=x\nPCI_ID=1:2\n" {
		t.Errorf("uevent = %q, %v", s, ok)
	}
	if s, ok := tree.file(dir + "/msi_bus"); !ok || s != "" {
		t.Errorf("msi_bus = %q, %v", s, ok)
	}
	if _, ok := tree.file(dir + "/config"); ok {
		t.Error("an omitted binary file reads as content")
	}
	if e := tree.entries[dir+"/driver"]; e.kind != 'L' || e.target != "../../../bus/pci/drivers/x" {
		t.Errorf("driver = %+v", e)
	}
	if got := strings.Join(tree.children[dir], " "); got != "config driver msi_bus uevent" {
		t.Errorf("children = %q", got)
	}
	if _, err := parseCapture("bad", strings.NewReader("F a (3 bytes)\n  |abcd\n")); err == nil {
		t.Error("a size mismatch parsed")
	}
}

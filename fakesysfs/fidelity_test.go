package fakesysfs_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vflab/vflab/fakesysfs"
	"github.com/vflab/vflab/fakesysfs/topology"
)

// TestFidelity materialises every preset on disk, bind-mounts its sys over /sys in a private mount
// namespace and asks real tools what they see: lspci (pciutils) must list every PF and VF with its IDs
// and class, and decode the SR-IOV capability; ibstat (infiniband-diags, through libibumad) must show
// every RDMA device with its type, firmware, GUIDs and port state, rate and link layer. The host's
// /sys is never touched: the bind mount exists only inside the namespace, which dies with the command.
func TestFidelity(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fidelity: needs a mount namespace; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("fidelity: needs root for a private mount namespace (unshare -m)")
	}
	for _, tool := range []string{"unshare", "mount", "lspci", "ibstat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("fidelity: %s not installed (apt-get install util-linux pciutils infiniband-diags)", tool)
		}
	}
	if err := exec.Command("unshare", "--mount", "--propagation", "private", "true").Run(); err != nil {
		t.Skipf("fidelity: cannot create a mount namespace here: %v", err)
	}
	for _, name := range topology.Presets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			node, err := topology.Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(t.TempDir(), "root")
			k, err := fakesysfs.Create(root, node)
			if err != nil {
				t.Fatalf("Create(%s) = %v", name, err)
			}
			out := runInNamespace(t, root)
			want := expectFunctions(t, k.Node())
			checkLspciList(t, out["lspci -D -nn"], want)
			checkLspciVerbose(t, out["lspci -D -nn -vvv"], want)
			cas := map[string]string{} // mlx5_N -> BDF, as the tree links them (rdmamap's way)
			entries, err := os.ReadDir(filepath.Join(root, "sys/class/infiniband"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				target, err := os.Readlink(filepath.Join(root, "sys/class/infiniband", e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				cas[e.Name()] = path.Base(path.Dir(path.Dir(target)))
			}
			checkIbstat(t, out["ibstat"], want, cas)
		})
	}
}

// runInNamespace runs the tools with root/sys bind-mounted over /sys in a private mount namespace and
// returns each command's output.
func runInNamespace(t *testing.T, root string) map[string]string {
	t.Helper()
	cmds := []string{"lspci -D -nn", "lspci -D -nn -vvv", "ibstat"}
	const sep = "=====vflab-fidelity====="
	// lspci gets -A linux-sysfs so that it never falls back to /proc/bus/pci (the host's devices).
	// stderr goes apart: lspci warns when libkmod finds no modules for the running kernel.
	script := `set -e; mount --bind "$1/sys" /sys; shift
for c in "$@"; do echo "` + sep + `"; case "$c" in lspci*) $c -A linux-sysfs;; *) $c;; esac; done`
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", root}, cmds...)
	var stdout, stderr strings.Builder
	cmd := exec.Command("unshare", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("stderr of the tools:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("unshare ... %v: %v\n%s%s", cmds, err, stdout.String(), stderr.String())
	}
	raw := stdout.String()
	parts := strings.Split(raw, sep+"\n")
	if len(parts) != len(cmds)+1 {
		t.Fatalf("tool output has %d parts, want %d:\n%s", len(parts)-1, len(cmds), raw)
	}
	out := map[string]string{}
	for i, c := range cmds {
		out[c] = parts[i+1]
	}
	return out
}

// function is what the description says a PCI function looks like to the tools.
type function struct {
	bdf              string
	pf               bool
	device           uint16
	class            string // lspci's class text with its code
	model            topology.Model
	nic              topology.NIC
	port             topology.Port
	totalVFs, numVFs int
	offset, stride   int
	vfDevice         uint16
	numa             int
}

// expectFunctions lists every PF and enabled VF of a node (with defaults filled in), independently of
// the fake kernel's rendering.
func expectFunctions(t *testing.T, n topology.Node) []function {
	t.Helper()
	var out []function
	for _, nic := range n.NICs {
		m := topology.Models[nic.Model]
		for p, port := range nic.Ports {
			class := "Ethernet controller [0200]"
			if port.LinkLayer == topology.InfiniBand {
				class = "Infiniband controller [0207]"
			}
			pfBDF := topology.PFAddress(nic, p)
			offset, stride := topology.VFOffsetStride(nic, p)
			pf := function{bdf: pfBDF, pf: true, device: m.PFDevice, class: class, model: m, nic: nic, port: port,
				totalVFs: port.TotalVFs, numVFs: port.NumVFs, offset: offset, stride: stride, vfDevice: m.VFDevice, numa: nic.NUMANode}
			out = append(out, pf)
			var dom, bus, dev, fn int
			if _, err := fmt.Sscanf(pfBDF, "%04x:%02x:%02x.%1x", &dom, &bus, &dev, &fn); err != nil {
				t.Fatalf("PF address %q: %v", pfBDF, err)
			}
			rid := bus<<8 | dev<<3 | fn
			for v := range port.NumVFs {
				r := rid + offset + stride*v
				out = append(out, function{
					bdf: fmt.Sprintf("%04x:%02x:%02x.%x", dom, r>>8, (r&0xff)>>3, r&7), device: m.VFDevice, class: class,
					model: m, nic: nic, port: port, numa: nic.NUMANode,
				})
			}
		}
	}
	return out
}

// checkLspciList checks `lspci -D -nn`: one line per function, with class code and [15b3:dddd].
func checkLspciList(t *testing.T, out string, want []function) {
	t.Helper()
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		bdf, _, _ := strings.Cut(l, " ")
		lines[bdf] = l
	}
	mellanox := 0
	for _, l := range lines {
		if strings.Contains(l, "[15b3:") {
			mellanox++
		}
	}
	if mellanox != len(want) {
		t.Errorf("lspci -D -nn lists %d Mellanox functions, the description has %d:\n%s", mellanox, len(want), out)
	}
	for _, f := range want {
		l, ok := lines[f.bdf]
		if !ok {
			t.Errorf("lspci -D -nn does not list %s", f.bdf)
			continue
		}
		re := regexp.MustCompile(`^` + regexp.QuoteMeta(f.bdf+" "+f.class+": ") + `Mellanox Technologies .*\[15b3:` + fmt.Sprintf("%04x", f.device) + `\]( \(rev [0-9a-f]{2}\))?$`)
		if !re.MatchString(l) {
			t.Errorf("lspci -D -nn:\n  got  %s\n  want %s", l, re)
		}
	}
}

// checkLspciVerbose checks each function's `lspci -vvv` block: driver, NUMA node, and on PFs the
// SR-IOV capability with the description's VF numbers.
func checkLspciVerbose(t *testing.T, out string, want []function) {
	t.Helper()
	blocks := map[string]string{}
	for _, b := range strings.Split(out, "\n\n") {
		b = strings.TrimLeft(b, "\n") + "\n"
		bdf, _, _ := strings.Cut(b, " ")
		blocks[bdf] = b
	}
	for _, f := range want {
		b, ok := blocks[f.bdf]
		if !ok {
			t.Errorf("lspci -vvv shows no block for %s", f.bdf)
			continue
		}
		must := []string{"\tKernel driver in use: mlx5_core\n"}
		if f.numa >= 0 {
			must = append(must, fmt.Sprintf("\tNUMA node: %d\n", f.numa))
		}
		if f.pf && f.totalVFs > 0 {
			must = append(must,
				"Single Root I/O Virtualization (SR-IOV)\n",
				fmt.Sprintf("\t\tInitial VFs: %d, Total VFs: %d, Number of VFs: %d,", f.totalVFs, f.totalVFs, f.numVFs),
				fmt.Sprintf("\t\tVF offset: %d, stride: %d, Device ID: %04x\n", f.offset, f.stride, f.vfDevice),
			)
		}
		if !f.pf && strings.Contains(b, "(SR-IOV)") {
			t.Errorf("lspci -vvv -s %s: a VF shows an SR-IOV capability", f.bdf)
		}
		for _, m := range must {
			if !strings.Contains(b, m) {
				t.Errorf("lspci -vvv -s %s does not show %q:\n%s", f.bdf, strings.TrimSpace(m), b)
			}
		}
	}
}

// ca is one `CA '...'` block of ibstat.
type ca struct {
	fields map[string]string            // "CA type" -> "MT4129"
	ports  map[string]map[string]string // "1" -> "State" -> "Active"
}

func parseIbstat(out string) map[string]ca {
	cas := map[string]ca{}
	var cur ca
	var port map[string]string
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "CA '"):
			cur = ca{fields: map[string]string{}, ports: map[string]map[string]string{}}
			cas[strings.TrimSuffix(strings.TrimPrefix(line, "CA '"), "'")] = cur
			port = nil
		case cur.fields == nil || trimmed == "":
		case strings.HasPrefix(trimmed, "Port ") && strings.HasSuffix(trimmed, ":"):
			port = map[string]string{}
			cur.ports[strings.TrimSuffix(strings.TrimPrefix(trimmed, "Port "), ":")] = port
		default:
			k, v, _ := strings.Cut(trimmed, ": ")
			if port != nil && strings.HasPrefix(line, "\t\t") {
				port[k] = v
			} else {
				cur.fields[k] = v
			}
		}
	}
	return cas
}

// checkIbstat checks that ibstat shows one CA per function and, for each, what the description says.
func checkIbstat(t *testing.T, out string, want []function, cas map[string]string) {
	t.Helper()
	got := parseIbstat(out)
	if len(got) != len(want) {
		t.Errorf("ibstat shows %d CAs, the description has %d functions:\n%s", len(got), len(want), out)
	}
	byBDF := map[string]string{}
	for name, bdf := range cas {
		byBDF[bdf] = name
	}
	hexGUID := func(g string) string {
		hw, err := topology.ParseGUID(g)
		if err != nil {
			return "bad GUID " + g
		}
		return "0x" + strings.ReplaceAll(hw.String(), ":", "")
	}
	for _, f := range want {
		name, ok := byBDF[f.bdf]
		if !ok {
			t.Errorf("no RDMA device of %s in /sys/class/infiniband", f.bdf)
			continue
		}
		c, ok := got[name]
		if !ok {
			t.Errorf("ibstat does not show CA %s (%s)", name, f.bdf)
			continue
		}
		fw := f.nic.FirmwareVersion
		wantCA := map[string]string{"Number of ports": "1", "Firmware version": fw}
		wantPort := map[string]string{"Link layer": string(f.port.LinkLayer)}
		if f.pf {
			wantCA["CA type"] = f.model.HCAType
			wantCA["Node GUID"] = hexGUID(f.port.NodeGUID)
			gbps, _, _ := strings.Cut(f.port.Rate, " ")
			wantPort["Rate"] = gbps
			if f.port.State == "ACTIVE" {
				wantPort["State"], wantPort["Physical state"] = "Active", "LinkUp"
			} else {
				wantPort["State"] = "Down"
			}
			if f.port.LinkLayer == topology.InfiniBand {
				wantPort["Port GUID"] = hexGUID(f.port.NodeGUID) // mlx5: the port GUID is the node GUID
			} else {
				mac, _ := net.ParseMAC(f.port.MAC)
				wantPort["Port GUID"] = fmt.Sprintf("0x%02x%02x%02xfffe%02x%02x%02x", mac[0]^2, mac[1], mac[2], mac[3], mac[4], mac[5])
				wantPort["Base lid"], wantPort["SM lid"] = "0", "0"
			}
		} else {
			wantCA["CA type"] = f.model.VFHCAType
			if f.port.LinkLayer == topology.InfiniBand {
				// An IB VF has a zero GUID and a down port until a GUID is set and the VF rebound.
				wantCA["Node GUID"] = "0x0000000000000000"
				wantPort["State"] = "Down"
			}
		}
		for k, v := range wantCA {
			if c.fields[k] != v {
				t.Errorf("ibstat %s (%s): %s: %q, want %q", name, f.bdf, k, c.fields[k], v)
			}
		}
		p, ok := c.ports["1"]
		if !ok {
			t.Errorf("ibstat %s (%s) shows no Port 1", name, f.bdf)
			continue
		}
		for k, v := range wantPort {
			if p[k] != v {
				t.Errorf("ibstat %s (%s) port 1: %s: %q, want %q", name, f.bdf, k, p[k], v)
			}
		}
		if f.pf && f.port.LinkLayer == topology.InfiniBand && f.port.State == "ACTIVE" {
			for _, k := range []string{"Base lid", "SM lid"} {
				if n, err := strconv.ParseUint(p[k], 10, 16); err != nil || n == 0 || n >= 0xc000 {
					t.Errorf("ibstat %s (%s) port 1: %s %q is not a unicast LID of an active port", name, f.bdf, k, p[k])
				}
			}
		}
	}
}

package nodestore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vflab/vflab/ipam"
)

// The crash and concurrency tests re-exec the test binary as CNI-like child processes.
const (
	envChild = "VFLAB_NODESTORE_CHILD" // "crash" or "concurrent"
	envDir   = "VFLAB_NODESTORE_DIR"
	envID    = "VFLAB_NODESTORE_ID"
	envOps   = "VFLAB_NODESTORE_OPS"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func processNetwork() *ipam.Network {
	return &ipam.Network{Name: "proc", RangeSets: []ipam.RangeSet{
		{{Subnet: netip.MustParsePrefix("10.9.0.0/25")}},
		{{Subnet: netip.MustParsePrefix("fd09::/64")}},
	}}
}

// child runs ADD/DEL operations and acknowledges each finished one on stdout:
// "A <containerID> <addr>,<addr>" or "D <containerID>".
func child(mode string) int {
	ctx := context.Background()
	s := New(os.Getenv(envDir), nil)
	n := processNetwork()
	id := os.Getenv(envID)
	ops, _ := strconv.Atoi(os.Getenv(envOps))
	seed, _ := strconv.ParseUint(strings.TrimLeft(id, "abcdefghijklmnopqrstuvwxyz-"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 7))
	var live []string
	fmt.Println("ready")
	for i := 0; ops == 0 || i < ops; i++ {
		if len(live) > 0 && (rng.IntN(3) == 0 || len(live) >= 20) {
			k := rng.IntN(len(live))
			owner := live[k]
			if _, err := ipam.Del(ctx, s, n.Name, ipam.Owner{ContainerID: owner, IfName: "eth0"}); err != nil {
				fmt.Fprintln(os.Stderr, "del:", err)
				return 1
			}
			live = slices.Delete(live, k, k+1)
			fmt.Printf("D %s\n", owner)
			continue
		}
		owner := fmt.Sprintf("%s-%d", id, i)
		got, err := ipam.Add(ctx, s, n, ipam.Request{Owner: ipam.Owner{ContainerID: owner, IfName: "eth0"}, Now: time.Now()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "add:", err)
			return 1
		}
		live = append(live, owner)
		fmt.Printf("A %s %s,%s\n", owner, got[0].Addr, got[1].Addr)
	}
	_ = mode
	return 0
}

// startChild starts a child; lines receives its acknowledgements until it exits.
func startChild(t *testing.T, mode, dir, id string, ops int) (*exec.Cmd, func() []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+mode, envDir+"="+dir, envID+"="+id, envOps+"="+strconv.Itoa(ops))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child %s did not start: %q", id, sc.Text())
	}
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}()
	return cmd, func() []string { <-done; return lines }
}

// apply folds acknowledgements into model (containerID → "v4,v6").
func apply(model map[string]string, lines []string) {
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "A":
			model[f[1]] = f[2]
		case len(f) == 2 && f[0] == "D":
			delete(model, f[1])
		}
	}
}

// stateOf reads the store (healing the cache if needed) and checks it against the files.
func stateOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "proc")); os.IsNotExist(err) {
		return map[string]string{}
	}
	all, err := New(dir, nil).List(context.Background(), "proc")
	if err != nil {
		t.Fatal(err)
	}
	netDir := filepath.Join(dir, "proc")
	files, err := rebuild(netDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files.byAddr) != len(all) {
		t.Fatalf("cache has %d reservations, files %d", len(all), len(files.byAddr))
	}
	byOwner := map[string][]string{}
	for _, r := range all {
		if f, ok := files.byAddr[r.Addr]; !ok || f.Owner != r.Owner {
			t.Fatalf("cache says %s is %s, files say %v", r.Addr, r.Owner, f.Owner)
		}
		byOwner[r.Owner.ContainerID] = append(byOwner[r.Owner.ContainerID], r.Addr.String())
	}
	entries, _ := os.ReadDir(netDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) || e.Name() == dirtyName {
			t.Fatalf("%s left behind after a load", e.Name())
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Size() == 0 && e.Name() != lockName {
			t.Fatalf("empty file %s", e.Name())
		}
	}
	checkUsage(t, dir, "proc")
	out := map[string]string{}
	for o, as := range byOwner {
		if len(as) != 2 {
			t.Fatalf("owner %s holds %v: a half-written ADD", o, as)
		}
		slices.SortFunc(as, func(a, b string) int { return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b)) })
		out[o] = as[0] + "," + as[1]
	}
	return out
}

// diffOwners lists owners whose state differs between a and b.
func diffOwners(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// TestKillMidWrite SIGKILLs a writer at random points, many times over one data directory. After every kill
// the store must equal the acknowledged history except for the one operation in flight (done entirely or
// not at all), the cache must equal the files, and no partial record may remain.
func TestKillMidWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	const rounds = 40
	interrupted := 0
	for round := range rounds {
		cmd, wait := startChild(t, "crash", dir, fmt.Sprintf("r%d", round), 0)
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		lines := wait()
		_ = cmd.Wait()
		apply(model, lines)
		if _, err := os.Stat(filepath.Join(dir, "proc", dirtyName)); err == nil {
			interrupted++
		}
		got := stateOf(t, dir)
		if d := diffOwners(model, got); len(d) > 1 {
			t.Fatalf("round %d: store differs from the acknowledged history in %d owners %v (at most the one in flight may)", round, len(d), d)
		}
		model = got // the store is the truth for the next round
	}
	t.Logf("%d of %d kills interrupted a change in flight", interrupted, rounds)
	if interrupted == 0 {
		t.Fatal("no kill landed inside a change: the test did not exercise recovery")
	}
}

// TestConcurrentProcesses runs CNI-like processes against one network at once: no address is held twice,
// every acknowledged reservation is there, and the cache equals the files.
func TestConcurrentProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const procs, ops = 4, 30
	var mu sync.Mutex
	var all [][]string
	var wg sync.WaitGroup
	for p := range procs {
		cmd, wait := startChild(t, "concurrent", dir, fmt.Sprintf("p%d", p), ops)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines := wait()
			if err := cmd.Wait(); err != nil {
				t.Errorf("child p%d: %v", p, err)
			}
			mu.Lock()
			all = append(all, lines)
			mu.Unlock()
		}()
	}
	wg.Wait()
	model := map[string]string{}
	acks := 0
	for _, lines := range all {
		apply(model, lines)
		acks += len(lines)
	}
	if acks != procs*ops {
		t.Fatalf("%d acknowledgements, want %d", acks, procs*ops)
	}
	got := stateOf(t, dir)
	if d := diffOwners(model, got); len(d) != 0 {
		t.Fatalf("store differs from the acknowledged history in %v", d)
	}
	seen := map[string]string{}
	for o, as := range got {
		for _, a := range strings.Split(as, ",") {
			if prev, dup := seen[a]; dup {
				t.Fatalf("%s held by %s and %s", a, prev, o)
			}
			seen[a] = o
		}
	}
}

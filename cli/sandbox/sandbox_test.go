package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	sbx "github.com/vflab/vflab/sandbox"
)

// TestMain lets the test binary stand in for the vflab binary: `up` starts its background forwarder as
// `<self> sandbox forwarder ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "sandbox" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		cmd := NewCommand(slog.New(slog.DiscardHandler))
		cmd.SetArgs(os.Args[2:])
		err := cmd.ExecuteContext(ctx)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand(slog.New(slog.DiscardHandler))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestUpFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--preset", "laptop"}, "--state is required"},
		{[]string{"up", "--state", "x"}, "at least one of the flags"},
		{[]string{"up", "--preset", "laptop", "--file", "f.yaml", "--state", "x"}, "none of the others can be"},
		{[]string{"up", "--preset", "nope", "--state", "x"}, `unknown preset "nope"`},
		{[]string{"up", "--preset", "laptop", "--nodes", "0", "--state", "x"}, "--nodes 0"},
		{[]string{"up", "--file", "/nonexistent.yaml", "--state", "x"}, "neither a cluster"},
		{[]string{"down"}, "--state is required"},
	} {
		_, err := run(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tt.args, err, tt.want)
		}
	}
}

// TestUpDown builds a cluster with `vflab sandbox up`, which returns leaving a background forwarder, and
// removes it with `vflab sandbox down`; gc in between leaves the live run alone.
func TestUpDown(t *testing.T) {
	if os.Geteuid() != 0 || testing.Short() {
		t.Skip("vflab sandbox up needs root (network namespaces); the sandbox package's suite covers the rootless way")
	}
	dir, err := os.MkdirTemp("/dev/shm", "vflab-cli-sandbox-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	name := fmt.Sprintf("cli%d", os.Getpid())
	t.Cleanup(func() { _ = sbx.Down(dir) })
	out, err := run(t, "up", "--preset", "laptop", "--nodes", "2", "--state", dir, "--name", name)
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	for _, want := range []string{"laptop-0", "vflab-" + name + "-laptop-1", "ib0 (InfiniBand, forwarder)", "eth0 (Ethernet, bridge in vflab-" + name + "-fab-eth0)", "ip netns exec vflab-" + name + "-laptop-0 env VFLAB_ROOT=" + dir + "/nodes/laptop-0/root"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	st, err := sbx.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Forwarder == nil || !st.Forwarder.Alive() || st.Owner != *st.Forwarder {
		t.Fatalf("forwarder %+v, owner %+v: want a live forwarder owning the run", st.Forwarder, st.Owner)
	}
	if out, err := run(t, "gc", "--prefix", "vflab-"+name+"-"); err != nil || strings.Contains(out, name) {
		t.Errorf("gc removed a live run: %v\n%s", err, out)
	}
	namespaces := func() []string {
		entries, _ := os.ReadDir("/run/netns")
		var names []string
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "vflab-"+name+"-") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	if got := namespaces(); len(got) != 3 {
		t.Errorf("namespaces after up = %v, want 2 nodes + 1 fabric", got)
	}
	if out, err := run(t, "down", "--state", dir); err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	if got := namespaces(); len(got) != 0 {
		t.Errorf("namespaces left after down: %v", got)
	}
	if st.Forwarder.Alive() {
		t.Errorf("forwarder %d still runs after down", st.Forwarder.PID)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), "vflab-"+name+"-") {
		t.Error("namespace mounts left after down")
	}
	if _, err := os.Stat(dir + "/sandbox.json"); err == nil {
		t.Error("state file left after down")
	}
}

package sandbox

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vflab/vflab/fakesysfs/topology"
)

// Environment of the re-executed test binary (see TestMain).
const (
	envForwarder = "VFLAB_SANDBOX_TEST_FORWARDER" // state dir: run a forwarder
	envOwner     = "VFLAB_SANDBOX_TEST_OWNER"     // "pid:starttime" the forwarder watches
	envCluster   = "VFLAB_SANDBOX_TEST_CLUSTER"   // marks processes of one spec's cluster (leak check)
	envVFSet     = "VFLAB_SANDBOX_TEST_VFSET"     // node root: configure VFs through the PF, then exit
	envPF        = "VFLAB_SANDBOX_TEST_PF"        // the PF envVFSet configures
	envCrash     = "VFLAB_SANDBOX_TEST_CRASH"     // state dir: build a cluster and exit without Down
	envUnshared  = "VFLAB_SANDBOX_TEST_UNSHARED"  // set inside the user+net+mount namespace re-exec
)

// skipNetns is the one-line reason the netns suite does not run here, if any.
var skipNetns string

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envForwarder) != "":
		os.Exit(runForwarderChild())
	case os.Getenv(envVFSet) != "":
		os.Exit(runVFSetChild())
	case os.Getenv(envCrash) != "":
		os.Exit(runCrashChild())
	}
	flag.Parse()
	if os.Geteuid() != 0 && os.Getenv(envUnshared) == "" && !testing.Short() {
		// Without root, run the whole binary again as root of a new user namespace, with a network and a
		// mount namespace of its own and a private /run for the named namespaces.
		if err := unix.Access("/dev/net/tun", unix.R_OK|unix.W_OK); err != nil {
			skipNetns = "netns tests need root, or /dev/net/tun open to all (mode 0666) for InfiniBand links: " + err.Error()
		} else if _, err := exec.LookPath("unshare"); err != nil {
			skipNetns = "netns tests need root or unshare(1): " + err.Error()
		} else if out, err := exec.Command("unshare", "--user", "--map-root-user", "--net", "--mount", "true").CombinedOutput(); err != nil {
			skipNetns = "netns tests need root or unprivileged user namespaces: " + strings.TrimSpace(string(out))
		} else {
			args := append([]string{"--user", "--map-root-user", "--net", "--mount", "--", "sh", "-c",
				`mount -t tmpfs tmpfs /run && exec "$@"`, "sh"}, os.Args...)
			cmd := exec.Command("unshare", args...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			cmd.Env = append(os.Environ(), envUnshared+"=1")
			if err := cmd.Run(); err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					os.Exit(ee.ExitCode())
				}
				fmt.Fprintln(os.Stderr, "sandbox tests: re-exec under unshare:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	if testing.Short() {
		skipNetns = "netns tests skipped with -short"
	}
	os.Exit(m.Run())
}

func TestSandbox(t *testing.T) {
	if skipNetns != "" {
		t.Skip(skipNetns)
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "sandbox", Label("netns"))
}

// runForwarderChild is the forwarder process of a spec (Options.ForwarderCommand).
func runForwarderChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var owner *Process
	if s := os.Getenv(envOwner); s != "" {
		p, err := parseProcess(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		owner = &p
	}
	if err := RunForwarder(ctx, os.Getenv(envForwarder), owner, nil); err != nil {
		fmt.Fprintln(os.Stderr, "forwarder:", err)
		return 1
	}
	return 0
}

func parseProcess(s string) (Process, error) {
	pid, start, ok := strings.Cut(s, ":")
	p, err1 := strconv.Atoi(pid)
	st, err2 := strconv.ParseUint(start, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Process{}, fmt.Errorf("bad process %q", s)
	}
	return Process{PID: p, StartTime: st}, nil
}

// forwarderCommand re-executes the test binary as the forwarder of the spec's cluster.
func forwarderCommand(cluster string) func(dir string, owner *Process) *exec.Cmd {
	return func(dir string, owner *Process) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envForwarder+"="+dir, envCluster+"="+cluster)
		if owner != nil {
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d:%d", envOwner, owner.PID, owner.StartTime))
		}
		return cmd
	}
}

// runVFSetChild configures VFs of a PF from a separate process (the cross-process VF config spec).
func runVFSetChild() int {
	k, nd, err := OpenNode(os.Getenv(envVFSet))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = nd.Close() }()
	c := NewVFConfig(k, nd)
	pf, err := c.LinkByName(os.Getenv(envPF))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = errors.Join(
		c.LinkSetVfVlanQosProto(pf, 0, 42, 3, 0x8100),
		c.LinkSetVfTrust(pf, 0, true),
		c.LinkSetVfRate(pf, 0, 10, 100),
		c.LinkSetVfState(pf, 0, netlink.VF_LINK_STATE_ENABLE),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// runCrashChild builds a one-node cluster and exits without removing it, as a crashed run would.
func runCrashChild() int {
	cluster := os.Getenv(envCluster)
	_, err := Up(context.Background(), cluster, []topology.Node{testNode("crash", 1)}, Options{StateDir: os.Getenv(envCrash)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

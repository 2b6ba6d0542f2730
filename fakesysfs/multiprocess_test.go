package fakesysfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"
)

// childEnv makes the test binary act as one more process of a node (see TestMain).
const childEnv = "FAKESYSFS_TEST_CHILD_ROOT"

// crashEnv makes the test binary a process that dies in the middle of enabling VFs (see TestCrash).
const crashEnv = "FAKESYSFS_TEST_CRASH_ROOT"

func TestMain(m *testing.M) {
	if root := os.Getenv(crashEnv); root != "" {
		k, err := Open(root, WithProbeDelay(100*time.Millisecond))
		if err == nil {
			fmt.Println("enabling")
			err = write(k, ethPF+"/sriov_numvfs", "8") // killed before it completes
		}
		fmt.Fprintln(os.Stderr, "not killed:", err)
		os.Exit(1)
	}
	if root := os.Getenv(childEnv); root != "" {
		if err := churn(root, "child", 10); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// churn opens the kernel at root and flips VFs and VF drivers, tolerating the errors concurrent
// writers legitimately cause (a VF vanishing under a bind, a driver already bound).
func churn(root, who string, rounds int) error {
	k, err := Open(root)
	if err != nil {
		return err
	}
	ok := func(err error) error {
		var pe *os.PathError
		if err == nil {
			return nil
		}
		if errors.As(err, &pe) {
			switch pe.Err {
			case syscall.ENODEV, syscall.EBUSY, syscall.ENOENT:
				return nil
			}
		}
		return fmt.Errorf("%s: %w", who, err)
	}
	for i := range rounds {
		steps := []struct{ path, value string }{
			{ethPF + "/sriov_numvfs", "0"},
			{ethPF + "/sriov_numvfs", "4"},
			{"/sys/bus/pci/drivers/mlx5_core/unbind", "0000:5e:00.2"},
			{"/sys/bus/pci/drivers/mlx5_core/bind", "0000:5e:00.2"},
			{ibPF + "/sriov_numvfs", strconv.Itoa(i % 2 * 3)},
		}
		for _, s := range steps {
			if err := ok(write(k, s.path, s.value)); err != nil {
				return err
			}
		}
		if err := k.UpdateVF("0000:3b:00.0", 0, func(v *VF) error { v.Vlan = i; return nil }); err != nil && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("%s: %w", who, err)
		}
	}
	return nil
}

// TestMultiProcess: two child processes and two goroutines (each with its own Open) write one on-disk
// kernel concurrently; afterwards the tree is consistent.
func TestMultiProcess(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	if _, err := Create(root, preset(t, "laptop")); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+root)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child %d: %v: %s", i, err, out)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := churn(root, fmt.Sprintf("goroutine %d", i), 10); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	k, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, k)
	// No temporary file is left behind.
	if names, _ := os.ReadDir(path.Join(root, tmpDir)); len(names) != 0 {
		t.Errorf("%d temporary files left", len(names))
	}
}

// TestCrash kills a process in the middle of enabling VFs (it holds the lock, half the VFs exist);
// the next writer finds the busy mark, repairs the tree, and goes on.
func TestCrash(t *testing.T) {
	t.Parallel()
	root := tempRoot(t)
	k, err := Create(root, preset(t, "laptop"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, k, ethPF+"/sriov_numvfs", "0")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+root)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 9)
	if _, err := io.ReadFull(stdout, buf); err != nil {
		t.Fatalf("child: %v", err)
	}
	// Wait until some VFs exist, then kill the writer.
	deadline := time.Now().Add(10 * time.Second)
	for !exists(k, ethPF+"/virtfn1") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !exists(k, ethPF+"/virtfn1") || read(t, k, ethPF+"/sriov_numvfs") != "0\n" {
		t.Fatalf("the child was not caught mid-change (numvfs %q)", read(t, k, ethPF+"/sriov_numvfs"))
	}
	// Any next change repairs first.
	mustWrite(t, k, ibPF+"/sriov_numvfs", "0")
	checkConsistent(t, k)
	if exists(k, ethPF+"/virtfn0") {
		t.Errorf("half-enabled VFs survive the repair")
	}
	mustWrite(t, k, ethPF+"/sriov_numvfs", "2")
	checkConsistent(t, k)
}

// checkConsistent checks the invariants every kernel state must keep.
func checkConsistent(t *testing.T, k *Kernel) {
	t.Helper()
	for _, dir := range []string{"/sys/bus/pci/devices", "/sys/class/net", "/sys/class/infiniband", "/sys/class/infiniband_verbs", "/sys/class/infiniband_mad", "/sys/bus/pci/drivers/mlx5_core"} {
		for _, name := range listDir(t, k, dir) {
			p := dir + "/" + name
			if _, err := k.Stat(p); err != nil {
				t.Errorf("dangling %s: %v", p, err)
			}
		}
	}
	for _, pf := range []string{ethPF, ibPF} {
		n, err := strconv.Atoi(strings.TrimSpace(read(t, k, pf+"/sriov_numvfs")))
		if err != nil {
			t.Fatal(err)
		}
		virtfns := 0
		for _, name := range listDir(t, k, pf) {
			if strings.HasPrefix(name, "virtfn") {
				virtfns++
				if _, err := k.Stat(pf + "/" + name + "/physfn"); err != nil {
					t.Errorf("%s/%s: %v", pf, name, err)
				}
			}
		}
		vfs, err := k.VFs(path.Base(pf))
		if err != nil {
			t.Fatal(err)
		}
		if virtfns != n || len(vfs) != n {
			t.Errorf("%s: sriov_numvfs %d, %d virtfn links, %d VF states", pf, n, virtfns, len(vfs))
		}
	}
	// Every netdev in the tree has its class link, and every RDMA device its char devices.
	specs, err := k.Netdevs()
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != len(listDir(t, k, "/sys/class/net")) {
		t.Errorf("%d netdevs in the tree, %d class links", len(specs), len(listDir(t, k, "/sys/class/net")))
	}
	verbs := listDir(t, k, "/sys/class/infiniband_verbs")
	devs := listDir(t, k, "/dev/infiniband")
	for _, v := range verbs {
		if v != "abi_version" && !contains(devs, v) {
			t.Errorf("no /dev/infiniband/%s", v)
		}
	}
	if len(verbs)-1 != len(listDir(t, k, "/sys/class/infiniband")) {
		t.Errorf("%d uverbs for %d RDMA devices", len(verbs)-1, len(listDir(t, k, "/sys/class/infiniband")))
	}
	if _, err := afero.ReadFile(k, "/sys/bus/pci/drivers_autoprobe"); err != nil {
		t.Error(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startIgnoringTERM starts a child that ignores SIGTERM and returns it once the signal is ignored. The
// child is reaped when it exits (no zombie) and killed at the end of the test.
func startIgnoringTERM(t *testing.T) (Process, <-chan struct{}) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh: " + err.Error())
	}
	cmd := exec.Command("sh", "-c", `trap "" TERM; exec sleep 30`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-reaped })
	// The trap is set once sh has exec'd sleep (ignored signals stay ignored across exec).
	comm := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(comm); err == nil && strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not exec sleep within 5 s")
		}
	}
	p, err := processOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return p, reaped
}

func TestStopProcessEscalates(t *testing.T) {
	t.Parallel()
	p, _ := startIgnoringTERM(t)
	const grace = 200 * time.Millisecond
	start := time.Now()
	if err := stopProcess(p, grace); err != nil {
		t.Fatalf("stopProcess: %v", err)
	}
	if took := time.Since(start); took < grace {
		t.Errorf("stopped after %v, before the %v SIGTERM grace: SIGTERM was not ignored", took, grace)
	}
	if p.Alive() {
		t.Error("process alive after stopProcess")
	}
}

func TestStopProcessGivesUp(t *testing.T) {
	t.Parallel()
	p, _ := startIgnoringTERM(t)
	var sent []syscall.Signal
	swallow := func(pid int, sig syscall.Signal) error {
		if pid != p.PID {
			t.Errorf("signal %v sent to %d, want %d", sig, pid, p.PID)
		}
		sent = append(sent, sig)
		return nil
	}
	const grace = 100 * time.Millisecond
	start := time.Now()
	err := stopProcessWith(p, grace, swallow)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(p.PID)) {
		t.Errorf("stopProcess of a process that never dies = %v, want an error naming pid %d", err, p.PID)
	}
	if took < 2*grace || took > 2*grace+2*time.Second {
		t.Errorf("gave up after %v, want about %v", took, 2*grace)
	}
	if len(sent) != 2 || sent[0] != syscall.SIGTERM || sent[1] != syscall.SIGKILL {
		t.Errorf("signals sent = %v, want [SIGTERM SIGKILL]", sent)
	}
}

func TestStopProcessSignalError(t *testing.T) {
	t.Parallel()
	p, _ := startIgnoringTERM(t)
	calls := 0
	refuse := func(int, syscall.Signal) error { calls++; return syscall.EPERM }
	err := stopProcessWith(p, time.Second, refuse)
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), strconv.Itoa(p.PID)) {
		t.Errorf("stopProcess with signals refused = %v, want EPERM naming pid %d", err, p.PID)
	}
	if calls != 1 {
		t.Errorf("%d signals tried after the first was refused, want 1", calls)
	}
}

func TestStopProcessGone(t *testing.T) {
	t.Parallel()
	never := func(pid int, sig syscall.Signal) error {
		t.Errorf("signal %v sent to %d, which is not running", sig, pid)
		return nil
	}
	for _, p := range []Process{{}, {PID: os.Getpid(), StartTime: 1}} {
		if err := stopProcessWith(p, time.Second, never); err != nil {
			t.Errorf("stopProcess(%+v) = %v, want nil", p, err)
		}
	}
}

package sriov

import (
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Every error the package returns wraps at most one of them.
var (
	// ErrNoDriver: the operation needs a driver that is not there (no PF driver bound when setting the
	// VF count, or the named driver is not loaded).
	ErrNoDriver = errors.New("no driver")
	// ErrVFCountBusy: the kernel refused to change the VF count (EBUSY), e.g. VFs are in use.
	ErrVFCountBusy = errors.New("vf count busy")
	// ErrVFNotFound: the PF has no VF with that index, or no such VF exists.
	ErrVFNotFound = errors.New("vf not found")
	// ErrDeviceGone: the device vanished (removed, VFs disabled) before or during the operation.
	ErrDeviceGone = errors.New("device gone")
	// ErrNotSRIOV: the function is not an SR-IOV PF (no sriov_totalvfs).
	ErrNotSRIOV = errors.New("not an sr-iov pf")
	// ErrTimeout: waiting for the kernel (VFs to appear or disappear, drivers to bind) took too long.
	ErrTimeout = errors.New("timeout")
)

// TimeoutError says what was being waited for when the bound ran out. It wraps ErrTimeout.
type TimeoutError struct {
	Op      string        // e.g. "enable 4 VFs on 0000:3b:00.0"
	Waited  time.Duration // the bound
	Pending string        // what was still missing, e.g. "virtfn3, driver of 0000:3b:00.5"
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: timed out after %s waiting for %s", e.Op, e.Waited, e.Pending)
}

// Unwrap makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Unwrap() error { return ErrTimeout }

package sriov

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vflab/vflab/drivers/internal/sysfs"
)

// SetNumVFs sets the VF count of the PF at pf to n and waits (bounded, see WithWait) until the kernel
// shows exactly n VFs: virtfn0..n-1 links, each VF's directory with its physfn link and, when the PF's
// sriov_drivers_autoprobe (and the bus's drivers_autoprobe) is on, each VF bound to a driver. Changing a non-zero count writes 0 first, as
// the kernel requires. Setting the current count changes nothing.
func (d *Driver) SetNumVFs(ctx context.Context, pf string, n int) error {
	dir := path.Join(PCIDevices, pf)
	op := fmt.Sprintf("set %d VFs on %s", n, pf)
	total, err := sysfs.ReadInt(d.fs, path.Join(dir, "sriov_totalvfs"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if !sysfs.Exists(d.fs, dir) {
				return fmt.Errorf("%s: %w", op, ErrDeviceGone)
			}
			return fmt.Errorf("%s: %w", op, ErrNotSRIOV)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if n < 0 || n > total {
		return fmt.Errorf("%s: numVFs %d out of range 0-%d (sriov_totalvfs)", op, n, total)
	}
	cur, err := sysfs.ReadInt(d.fs, path.Join(dir, "sriov_numvfs"))
	if err != nil {
		return fmt.Errorf("%s: %w", op, d.writeErr(pf, err))
	}
	if cur == n {
		return d.waitVFs(ctx, op, pf, n)
	}
	if cur != 0 && n != 0 {
		d.log.Info("disabling VFs before changing the count", "pf", pf, "from", cur, "to", n)
		if err := d.writeNumVFs(pf, 0); err != nil {
			return fmt.Errorf("%s: disable %d VFs first: %w", op, cur, err)
		}
		if err := d.waitVFs(ctx, op, pf, 0); err != nil {
			return err
		}
	}
	if err := d.writeNumVFs(pf, n); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	d.log.Info("sriov_numvfs written", "pf", pf, "numvfs", n)
	return d.waitVFs(ctx, op, pf, n)
}

func (d *Driver) writeNumVFs(pf string, n int) error {
	return d.writeErr(pf, sysfs.Write(d.fs, path.Join(PCIDevices, pf, "sriov_numvfs"), strconv.Itoa(n)))
}

// writeErr maps the kernel's errnos of sriov_numvfs and bind writes (sysfs.md §10) to the package errors.
func (d *Driver) writeErr(bdf string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist) && !sysfs.Exists(d.fs, path.Join(PCIDevices, bdf)):
		return fmt.Errorf("%w: %w", ErrDeviceGone, err)
	case errors.Is(err, syscall.ENODEV):
		if !sysfs.Exists(d.fs, path.Join(PCIDevices, bdf)) {
			return fmt.Errorf("%w: %w", ErrDeviceGone, err)
		}
		return err
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: %w", ErrVFCountBusy, err)
	case errors.Is(err, syscall.ENOENT):
		// sriov_numvfs: "no driver bound to device; cannot configure SR-IOV"
		return fmt.Errorf("%w bound to %s: %w", ErrNoDriver, bdf, err)
	}
	return err
}

// waitVFs polls until the PF shows exactly n ready VFs, within the driver's bound.
func (d *Driver) waitVFs(ctx context.Context, op, pf string, n int) error {
	ctx, cancel := context.WithTimeout(ctx, d.wait)
	defer cancel()
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		pending, err := d.vfsPending(pf, n)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return &TimeoutError{Op: op, Waited: d.wait, Pending: pending}
			}
			return fmt.Errorf("%s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// vfsPending describes what is still missing before pf has exactly n ready VFs ("" = ready).
func (d *Driver) vfsPending(pf string, n int) (string, error) {
	dir := path.Join(PCIDevices, pf)
	ls, err := sysfs.List(d.fs, dir)
	if err != nil {
		return "", gone(pf, err)
	}
	autoprobe := false
	have := 0
	for _, name := range ls {
		if _, ok := virtfnIndex(name); ok {
			have++
		}
		if name == "sriov_drivers_autoprobe" {
			ap, err := sysfs.ReadString(d.fs, path.Join(dir, name))
			if err != nil {
				return "", gone(pf, err)
			}
			autoprobe = ap == "1"
		}
	}
	if autoprobe {
		// VFs are probed only when the bus autoprobes too (sysfs.md §10.2).
		if bus, err := sysfs.ReadString(d.fs, "/sys/bus/pci/drivers_autoprobe"); err == nil && bus == "0" {
			autoprobe = false
		}
	}
	var missing []string
	if have > n {
		return fmt.Sprintf("%d VFs to go away (have %d)", have-n, have), nil
	}
	for i := 0; i < n; i++ {
		vf, ok, err := sysfs.LinkBase(d.fs, path.Join(dir, "virtfn"+strconv.Itoa(i)))
		if err != nil {
			return "", err
		}
		if !ok {
			missing = append(missing, "virtfn"+strconv.Itoa(i))
			continue
		}
		vdir := path.Join(PCIDevices, vf)
		if _, ok, err := sysfs.LinkBase(d.fs, path.Join(vdir, "physfn")); err != nil || !ok {
			missing = append(missing, "physfn of "+vf)
			continue
		}
		if autoprobe {
			if _, ok, err := sysfs.LinkBase(d.fs, path.Join(vdir, "driver")); err != nil || !ok {
				missing = append(missing, "driver of "+vf)
			}
		}
	}
	if len(missing) > 4 {
		missing = append(missing[:4], fmt.Sprintf("%d more", len(missing)-4))
	}
	return strings.Join(missing, ", "), nil
}

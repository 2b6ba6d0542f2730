package sriov

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/vflab/vflab/drivers/internal/sysfs"
)

// Driver names the SR-IOV flows bind to.
const (
	DriverMLX5 = "mlx5_core"
	DriverVFIO = "vfio-pci"
)

// CurrentDriver returns the driver bound to the function at bdf ("" when unbound).
func (d *Driver) CurrentDriver(bdf string) (string, error) {
	dir := path.Join(PCIDevices, bdf)
	if !sysfs.Exists(d.fs, dir) {
		return "", fmt.Errorf("driver of %s: %w", bdf, ErrDeviceGone)
	}
	drv, _, err := sysfs.LinkBase(d.fs, path.Join(dir, "driver"))
	if err != nil {
		return "", fmt.Errorf("driver of %s: %w", bdf, err)
	}
	return drv, nil
}

// Bind binds the function at bdf to driver the way the operator does: driver_override, unbind from the
// current driver, drivers_probe, then clear the override so later probes match by ID again. Binding to
// the driver already bound changes nothing; when the new driver refuses the device, it is bound back to
// its previous driver.
func (d *Driver) Bind(bdf, driver string) error {
	op := fmt.Sprintf("bind %s to %s", bdf, driver)
	if driver == "" || driver == "." || driver == ".." || strings.ContainsRune(driver, '/') {
		return fmt.Errorf("%s: bad driver name %q", op, driver)
	}
	cur, err := d.CurrentDriver(bdf)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if cur == driver {
		return nil
	}
	if !sysfs.Exists(d.fs, path.Join(PCIDrivers, driver)) {
		return fmt.Errorf("%s: driver %s not loaded: %w", op, driver, ErrNoDriver)
	}
	dir := path.Join(PCIDevices, bdf)
	if err := d.writeErr(bdf, sysfs.Write(d.fs, path.Join(dir, "driver_override"), driver)); err != nil {
		return fmt.Errorf("%s: set driver_override: %w", op, err)
	}
	err = d.bindOverridden(bdf, cur)
	if cerr := d.clearOverride(bdf); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		now, cerr := d.CurrentDriver(bdf)
		switch {
		case cerr != nil:
			return fmt.Errorf("%s: %w", op, cerr)
		case now != driver:
			err = fmt.Errorf("after the probe the device is bound to %q (%s refused it)", now, driver)
		}
	}
	if err != nil {
		// Leave the device where it was: back to its previous driver when the new one refused it.
		if now, _ := d.CurrentDriver(bdf); now == "" && cur != "" {
			if rerr := sysfs.Write(d.fs, path.Join(PCIDrivers, cur, "bind"), bdf); rerr != nil {
				d.log.Warn("could not rebind to the previous driver", "device", bdf, "driver", cur, "err", rerr)
				return fmt.Errorf("%s: %w (and rebinding to %s failed: %w)", op, err, cur, rerr)
			}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	d.log.Info("bound", "device", bdf, "driver", driver, "was", cur)
	return nil
}

func (d *Driver) bindOverridden(bdf, cur string) error {
	if cur != "" {
		if err := d.Unbind(bdf); err != nil {
			return err
		}
	}
	if err := d.writeErr(bdf, sysfs.Write(d.fs, DriversProbe, bdf)); err != nil {
		return fmt.Errorf("drivers_probe: %w", err)
	}
	return nil
}

func (d *Driver) clearOverride(bdf string) error {
	err := sysfs.Write(d.fs, path.Join(PCIDevices, bdf, "driver_override"), "\n")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear driver_override: %w", err)
	}
	return nil
}

// Unbind detaches the function at bdf from its driver; an unbound function is left alone.
func (d *Driver) Unbind(bdf string) error {
	cur, err := d.CurrentDriver(bdf)
	if err != nil {
		return fmt.Errorf("unbind %s: %w", bdf, err)
	}
	if cur == "" {
		return nil
	}
	if err := d.writeErr(bdf, sysfs.Write(d.fs, path.Join(PCIDrivers, cur, "unbind"), bdf)); err != nil {
		return fmt.Errorf("unbind %s from %s: %w", bdf, cur, err)
	}
	return nil
}

// Rebind unbinds the function at bdf and binds it to the same driver again (what makes a new VF GUID
// take effect). An unbound function is an error wrapping ErrNoDriver.
func (d *Driver) Rebind(bdf string) error {
	cur, err := d.CurrentDriver(bdf)
	if err != nil {
		return fmt.Errorf("rebind %s: %w", bdf, err)
	}
	if cur == "" {
		return fmt.Errorf("rebind %s: %w bound", bdf, ErrNoDriver)
	}
	if err := d.Unbind(bdf); err != nil {
		return fmt.Errorf("rebind %s: %w", bdf, err)
	}
	if err := d.writeErr(bdf, sysfs.Write(d.fs, path.Join(PCIDrivers, cur, "bind"), bdf)); err != nil {
		return fmt.Errorf("rebind %s to %s: %w", bdf, cur, err)
	}
	now, err := d.CurrentDriver(bdf)
	if err != nil {
		return fmt.Errorf("rebind %s: %w", bdf, err)
	}
	if now != cur {
		return fmt.Errorf("rebind %s: bound to %q after bind, want %s", bdf, now, cur)
	}
	return nil
}

package sriov

import (
	"log/slog"
	"time"

	"github.com/spf13/afero"

	"github.com/vflab/vflab/drivers"
)

// Driver performs SR-IOV discovery and operations on one machine. It holds no hidden state: every call
// reads the machine afresh, so a Driver is safe for concurrent use (operations on the same device must be
// serialised by the caller, as on a real host).
type Driver struct {
	fs   afero.Fs
	vfs  drivers.VFConfig
	log  *slog.Logger
	wait time.Duration
	poll time.Duration
}

// Option configures a Driver.
type Option interface{ apply(*Driver) }

type optionFunc func(*Driver)

func (f optionFunc) apply(d *Driver) { f(d) }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(d *Driver) { d.log = l }) }

// WithWait bounds how long SetNumVFs waits for the kernel (default 60 s; the operator uses 120 s, real VF
// creation takes from ~1.6 s for 4 VFs to ~65 s for 125).
func WithWait(bound, poll time.Duration) Option {
	return optionFunc(func(d *Driver) {
		d.wait = bound
		if poll > 0 {
			d.poll = poll
		}
	})
}

// New returns a Driver for the machine whose filesystem (rooted at "/") is fs and whose PF-side VF
// configuration is vfs. vfs may be nil for read-only use (discovery).
func New(fs afero.Fs, vfs drivers.VFConfig, opts ...Option) *Driver {
	d := &Driver{
		fs:   fs,
		vfs:  vfs,
		log:  slog.New(slog.DiscardHandler),
		wait: 60 * time.Second,
		poll: 20 * time.Millisecond,
	}
	for _, o := range opts {
		o.apply(d)
	}
	return d
}

// FS returns the filesystem the driver reads.
func (d *Driver) FS() afero.Fs { return d.fs }

package sys

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"unicode"

	"github.com/spf13/afero"
	"github.com/spf13/cobra"

	"github.com/vflab/vflab/host"
)

// RootEnv names the environment variable that gives --root its default, as for every simulated process.
const RootEnv = "VFLAB_ROOT"

// NewCommand returns `vflab sys` and its subcommands.
func NewCommand(logger *slog.Logger) *cobra.Command {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var root string
	cmd := &cobra.Command{
		Use:   "sys",
		Short: "Read and write a fake kernel's sysfs with the kernel's semantics",
		Long: `Read and write single entries of a node's fake kernel rendered with "vflab topology render" or
built by "vflab sandbox up" (DIR/nodes/<node>/root; there writes create and remove the node's real links
and netdevs moved into pods are hidden, as every process of the node sees it).
Writes go through the kernel's rules (sriov_numvfs, bind, unbind, driver_override, ...), so writing 8 to
sriov_numvfs creates eight VFs with their netdevs and RDMA devices, and a refused write prints the
kernel's error text and exits non-zero, as "echo 9 > sriov_numvfs" does on a real host.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&root, "root", os.Getenv(RootEnv), "directory the node was rendered into (default $"+RootEnv+")")
	// open opens the node as every process of it does (host.Open): a sandbox node's kernel is wired to
	// its real links, so writes create and remove them and netdevs sitting in pods are hidden.
	open := func() (afero.Fs, func(), error) {
		if root == "" {
			return nil, nil, fmt.Errorf("no kernel root: pass --root DIR or set %s", RootEnv)
		}
		m, err := host.Open(root)
		if err != nil {
			return nil, nil, err
		}
		return m.FS, func() {
			if err := m.Close(); err != nil {
				logger.Warn("close machine", "root", root, "err", err)
			}
		}, nil
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "cat PATH...",
			Short: "Print the content of attributes (like cat)",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				k, done, err := open()
				if err != nil {
					return err
				}
				defer done()
				var errs []error
				for _, p := range args {
					if err := cat(k, cmd.OutOrStdout(), abs(p)); err != nil {
						errs = append(errs, err)
					}
				}
				return errors.Join(errs...)
			},
		},
		newWriteCommand(open, logger),
		newLsCommand(open),
		&cobra.Command{
			Use:   "readlink PATH",
			Short: "Print a symlink's target, exactly as stored (relative, like the kernel's)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				k, done, err := open()
				if err != nil {
					return err
				}
				defer done()
				lr, ok := k.(afero.LinkReader)
				if !ok {
					return fmt.Errorf("%s: %s", abs(args[0]), kernelText(syscall.EINVAL))
				}
				target, err := lr.ReadlinkIfPossible(abs(args[0]))
				if err != nil {
					return fmt.Errorf("%s: %s", abs(args[0]), kernelText(err))
				}
				_, err = fmt.Fprintln(cmd.OutOrStdout(), target)
				return err
			},
		},
	)
	return cmd
}

func newLsCommand(open func() (afero.Fs, func(), error)) *cobra.Command {
	var long bool
	cmd := &cobra.Command{
		Use:   "ls [-l] PATH",
		Short: "List a directory, following links up to it (like ls PATH/)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			return list(k, cmd.OutOrStdout(), abs(args[0]), long)
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode and link targets")
	return cmd
}

func newWriteCommand(open func() (afero.Fs, func(), error), logger *slog.Logger) *cobra.Command {
	var noNewline bool
	cmd := &cobra.Command{
		Use:   "write PATH VALUE",
		Short: `Write VALUE to an attribute (like echo VALUE > PATH)`,
		Example: `  vflab sys write --root /tmp/laptop /sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs 8
  vflab sys write --root /tmp/laptop /sys/bus/pci/devices/0000:3b:00.2/driver_override vfio-pci`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			value := args[1]
			if !noNewline {
				value += "\n" // echo's newline, which the kernel's parsers accept
			}
			p := abs(args[0])
			logger.Debug("write", "path", p, "value", value)
			return write(k, p, value)
		},
	}
	cmd.Flags().BoolVarP(&noNewline, "no-newline", "n", false, "do not append a newline (like echo -n)")
	return cmd
}

// abs makes p absolute in the kernel's root.
func abs(p string) string { return path.Clean("/" + p) }

func cat(fsys afero.Fs, w io.Writer, p string) error {
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %s", p, kernelText(err))
	}
	defer func() { _ = f.Close() }() // read-only
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: %s", p, kernelText(syscall.EISDIR))
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %s", p, kernelText(err))
	}
	return nil
}

// write does what the shell does for `echo value > p`: open for writing (a missing file is not
// created: sysfs has no such files), one write, close; the kernel's refusal is the write's error.
func write(fsys afero.Fs, p, value string) error {
	f, err := fsys.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("%s: %s", p, kernelText(err))
	}
	if _, err := f.Write([]byte(value)); err != nil {
		_ = f.Close() // the write's error is the one the shell reports
		return fmt.Errorf("write error: %s", kernelText(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write error: %s", kernelText(err))
	}
	return nil
}

func list(fsys afero.Fs, w io.Writer, p string, long bool) error {
	entries, err := afero.ReadDir(fsys, p)
	if err != nil {
		return fmt.Errorf("%s: %s", p, kernelText(err))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var b strings.Builder
	for _, e := range entries {
		name := path.Base(e.Name())
		if !long {
			b.WriteString(name + "\n")
			continue
		}
		full := path.Join(p, name)
		fi := e
		if l, ok := fsys.(afero.Lstater); ok {
			if info, _, err := l.LstatIfPossible(full); err == nil {
				fi = info
			}
		}
		line := fmt.Sprintf("%s %s", fi.Mode(), name)
		if fi.Mode()&fs.ModeSymlink != 0 {
			if r, ok := fsys.(afero.LinkReader); ok {
				if target, err := r.ReadlinkIfPossible(full); err == nil {
					line += " -> " + target
				}
			}
		}
		b.WriteString(line + "\n")
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// kernelText is the C library's text for the errno behind err ("Numerical result out of range"), as
// cat and the shell print it; other errors print as they are.
func kernelText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s == "" {
			return err.Error()
		}
		r := []rune(s)
		r[0] = unicode.ToUpper(r[0])
		return string(r)
	}
	return err.Error()
}

package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// GCOptions configures GC.
type GCOptions struct {
	// Prefix restricts GC to the namespaces whose name starts with it (default NamespacePrefix, all of
	// vflab's); it must start with NamespacePrefix. Tests use it to stay within their own clusters.
	Prefix string
	Logger *slog.Logger
}

// GC removes the leftovers of runs whose owner process is dead (crashed tests, a killed `sandbox up`):
// their forwarder process, namespaces (with every link, bridge and TUN inside) and state files. It finds
// runs through the namespaces named vflab-*: each carries its state directory on its loopback's alias.
// A namespace whose run cannot be told (no mark, unreadable state) is removed too. Runs whose owner
// lives are left alone. It returns the names of the namespaces it removed.
//
// A namespace of a run being built is marked right after its creation; GC running in that instant
// could take it for a leftover.
func GC(opts GCOptions) ([]string, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = NamespacePrefix
	}
	if !strings.HasPrefix(prefix, NamespacePrefix) {
		return nil, fmt.Errorf("gc: prefix %q does not start with %q", prefix, NamespacePrefix)
	}
	names, err := listNamespaces(prefix)
	if err != nil {
		return nil, err
	}
	byDir := map[string][]string{}
	var orphans []string
	for _, name := range names {
		dir, err := namespaceStateDir(name)
		if err != nil || dir == "" {
			orphans = append(orphans, name)
			continue
		}
		byDir[dir] = append(byDir[dir], name)
	}
	var removed []string
	var errs error
	dirs := make([]string, 0, len(byDir))
	for dir := range byDir {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		st, err := ReadState(dir)
		if err != nil {
			orphans = append(orphans, byDir[dir]...)
			continue
		}
		if st.Owner.Alive() {
			continue
		}
		logger.Info("removing dead run", "cluster", st.Cluster, "state", dir, "owner", st.Owner.PID)
		if err := removeRun(dir, st, byDir[dir]); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		removed = append(removed, byDir[dir]...)
	}
	for _, name := range orphans {
		logger.Info("removing orphan namespace", "namespace", name)
		if err := deleteNamespace(name); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	sort.Strings(removed)
	return removed, errs
}

// namespaceStateDir reads the state directory a namespace of a run is marked with ("" if none).
func namespaceStateDir(name string) (string, error) {
	h, err := openNamespace(NamespacePath(name))
	if err != nil {
		return "", err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("namespace %s: %w", name, err)
	}
	dir, ok := strings.CutPrefix(lo.Attrs().Alias, stateAlias)
	if !ok || !filepath.IsAbs(dir) {
		return "", nil
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return "", nil
	}
	return dir, nil
}

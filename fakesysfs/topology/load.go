package topology

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxDescriptionSize bounds a YAML or JSON description read by Load and LoadCluster.
const MaxDescriptionSize = 1 << 20

// Load reads a node description (YAML or JSON), rejecting unknown and duplicate fields, and validates it.
func Load(r io.Reader) (Node, error) {
	var n Node
	if err := decodeStrict(r, &n); err != nil {
		return Node{}, err
	}
	if err := n.Validate(); err != nil {
		return Node{}, fmt.Errorf("invalid node %q: %w", n.Name, err)
	}
	return n, nil
}

// LoadFile is Load of the file at path.
func LoadFile(path string) (Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return Node{}, fmt.Errorf("load node: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	n, err := Load(f)
	if err != nil {
		return Node{}, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// LoadCluster reads a cluster description (YAML or JSON), rejecting unknown and duplicate fields, and
// validates it. Nodes given by file are read and checked by Cluster.Resolve.
func LoadCluster(r io.Reader) (Cluster, error) {
	var c Cluster
	if err := decodeStrict(r, &c); err != nil {
		return Cluster{}, err
	}
	if err := c.Validate(); err != nil {
		return Cluster{}, fmt.Errorf("invalid cluster %q: %w", c.Name, err)
	}
	return c, nil
}

// LoadClusterFile reads the cluster description at path and resolves its nodes; node files are relative
// to the description's directory.
func LoadClusterFile(path string) (Cluster, []Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return Cluster{}, nil, fmt.Errorf("load cluster: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	c, err := LoadCluster(f)
	if err != nil {
		return Cluster{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	nodes, err := c.Resolve(filepath.Dir(path))
	if err != nil {
		return Cluster{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nodes, nil
}

func decodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, MaxDescriptionSize+1))
	if err != nil {
		return fmt.Errorf("read description: %w", err)
	}
	if len(data) > MaxDescriptionSize {
		return fmt.Errorf("description exceeds %d bytes", MaxDescriptionSize)
	}
	// encoding/json matches field names case-insensitively, and UnmarshalStrict's
	// errors do not say where: check the field names first, exactly and with their path.
	var generic any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		return fmt.Errorf("parse description: %w", err)
	}
	if err := errors.Join(checkFields(generic, reflect.TypeOf(v).Elem(), "")...); err != nil {
		return fmt.Errorf("parse description: %w", err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		return fmt.Errorf("parse description: %w", err)
	}
	return nil
}

// checkFields reports every key of the decoded document v that is not exactly the JSON name of a field
// of t, with its path (nics[0].ports[1].numVfs).
func checkFields(v any, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs []error
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // a type mismatch, which UnmarshalStrict reports
		}
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			fields[name] = t.Field(i).Type
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				errs = append(errs, fmt.Errorf("unknown field %q", sub))
				continue
			}
			errs = append(errs, checkFields(obj[k], ft, sub)...)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			errs = append(errs, checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return errs
}

// Resolve expands the cluster into its nodes, in order: presets and files are loaded (files relative to
// baseDir), counts are expanded into Name-0 .. Name-(Count-1), and every node is named by the cluster.
// It checks what only the whole cluster shows: a fabric used with two link layers, and MACs or GUIDs
// given explicitly on more than one node (copies of a node with explicit addresses collide).
func (cl Cluster) Resolve(baseDir string) ([]Node, error) {
	if err := cl.Validate(); err != nil {
		return nil, fmt.Errorf("invalid cluster %q: %w", cl.Name, err)
	}
	var (
		nodes   []Node
		errs    []error
		fabrics = map[string]fabricUse{}
		addrs   = map[string]string{}
	)
	for i, cn := range cl.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		var base Node
		switch {
		case cn.Preset != "":
			base, _ = Preset(cn.Preset) // known: Validate checked it
		case cn.File != "":
			path := cn.File
			if !filepath.IsAbs(path) {
				path = filepath.Join(baseDir, path)
			}
			n, err := LoadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.file: %w", f, err))
				continue
			}
			base = n
		default:
			base = cloneNode(*cn.Node)
		}
		for _, name := range cn.names() {
			n := cloneNode(base)
			n.Name = name
			field := fmt.Sprintf("%s (node %s)", f, name)
			for ni, nic := range n.NICs {
				for pi, port := range nic.Ports {
					pf := fmt.Sprintf("%s.nics[%d].ports[%d]", field, ni, pi)
					fabric := port.Fabric
					if fabric == "" {
						fabric = defaultFabric(port.LinkLayer)
					}
					if use, ok := fabrics[fabric]; ok && use.layer != port.LinkLayer {
						errs = append(errs, fmt.Errorf("%s.fabric: %q is %s (%s) but this port is %s", pf, fabric, use.layer, use.field, port.LinkLayer))
					} else if !ok {
						fabrics[fabric] = fabricUse{layer: port.LinkLayer, field: pf}
					}
					if hw, err := net.ParseMAC(port.MAC); port.MAC != "" && err == nil {
						errs = append(errs, claimAddr(addrs, "MAC "+hw.String(), pf+".mac"))
					}
					if guid, err := ParseGUID(port.NodeGUID); port.NodeGUID != "" && err == nil {
						errs = append(errs, claimAddr(addrs, "GUID "+guid.String(), pf+".nodeGUID"))
					}
				}
			}
			nodes = append(nodes, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid cluster %q: %w", cl.Name, err)
	}
	return nodes, nil
}

func claimAddr(seen map[string]string, key, field string) error {
	if prev, ok := seen[key]; ok {
		return fmt.Errorf("%s: %s is also used by %s", field, key, prev)
	}
	seen[key] = field
	return nil
}

// cloneNode returns a deep copy of n.
func cloneNode(n Node) Node {
	out := n
	out.NICs = make([]NIC, len(n.NICs))
	for i, nic := range n.NICs {
		out.NICs[i] = nic
		out.NICs[i].Ports = append([]Port(nil), nic.Ports...)
	}
	return out
}

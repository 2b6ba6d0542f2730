package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/renameio/v2"
)

// The state directory of a cluster (the --state DIR of `vflab sandbox up`) is laid out as:
//
//	DIR/sandbox.json               State: cluster, owner process, forwarder, nodes, fabrics
//	DIR/forwarder.sock             the Forwarder's socket (attach/delete TUNs)
//	DIR/forwarder.log              the background forwarder's stderr
//	DIR/nodes/<node>/root/         the node's fake kernel (fakesysfs.Create / Open)
//	DIR/nodes/<node>/node.json     NodeInfo, so that OpenNode(root) finds the node's namespace
//
// The loopback of every namespace of the cluster carries the alias "vflab-state:<DIR>", so that GC can
// tell which run a namespace belongs to even when nothing else is left.
const (
	stateFile     = "sandbox.json"
	forwarderSock = "forwarder.sock"
	forwarderLog  = "forwarder.log"
	nodesDir      = "nodes"
	nodeFile      = "node.json"
	stateAlias    = "vflab-state:"
)

// State describes a running cluster; it is written by Up and read by Down, GC and the forwarder.
type State struct {
	// Cluster names every namespace (vflab-<cluster>-...) and link alias of the run.
	Cluster string `json:"cluster"`
	// Owner is the process whose life keeps the run: the process that called Up, or with a background
	// forwarder, that forwarder. GC removes runs whose owner is dead.
	Owner Process `json:"owner"`
	// Forwarder is the background forwarder process, if any.
	Forwarder *Process      `json:"forwarder,omitempty"`
	Nodes     []NodeState   `json:"nodes"`
	Fabrics   []FabricState `json:"fabrics"`
}

// NodeState is one simulated node of a run.
type NodeState struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"` // under /run/netns
	Root      string `json:"root"`      // fake kernel root
}

// FabricState is one fabric of a run.
type FabricState struct {
	Name      string `json:"name"`
	LinkLayer string `json:"linkLayer"`
	Namespace string `json:"namespace,omitempty"` // Ethernet: the bridge's namespace
}

// NodeInfo is DIR/nodes/<node>/node.json: what a process of the node needs to wire the sandbox.
type NodeInfo struct {
	Cluster   string `json:"cluster"`
	Node      string `json:"node"`
	Namespace string `json:"namespace"`
	StateDir  string `json:"stateDir"`
}

// Process identifies a process across pid reuse.
type Process struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // /proc/<pid>/stat field 22, clock ticks since boot
}

// nodeRoot is the fake kernel root of node in the state directory dir.
func nodeRoot(dir, node string) string { return filepath.Join(dir, nodesDir, node, "root") }

// ReadState reads DIR/sandbox.json.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("read sandbox state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read sandbox state %s: %w", dir, err)
	}
	return &st, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeState(dir string, st *State) error { return writeJSON(filepath.Join(dir, stateFile), st) }

// SelfProcess identifies the calling process.
func SelfProcess() (Process, error) { return processOf(os.Getpid()) }

// processOf identifies a live process.
func processOf(pid int) (Process, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return parseStat(pid, b)
}

// parseStat reads the process pid from its /proc/<pid>/stat line b. A zombie is an error wrapping
// os.ErrNotExist.
func parseStat(pid int, b []byte) (Process, error) {
	// The command name (field 2) may contain spaces and parentheses: fields follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Process{}, fmt.Errorf("process %d: malformed stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return Process{}, fmt.Errorf("process %d: malformed stat", pid)
	}
	if fields[0] == "Z" {
		return Process{}, fmt.Errorf("process %d: %w", pid, os.ErrNotExist)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return Process{}, fmt.Errorf("process %d: start time: %w", pid, err)
	}
	return Process{PID: pid, StartTime: st}, nil
}

// Alive reports whether p still runs (same pid and start time, not a zombie).
func (p Process) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	q, err := processOf(p.PID)
	return err == nil && q.StartTime == p.StartTime
}

package nodestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vflab/vflab/ipam"
)

const (
	lineBreak      = "\r\n" // host-local's separator between container ID and ifname
	lastIPPrefix   = "last_reserved_ip."
	lockName       = "lock"
	metaDir        = ".vflab-meta"
	indexName      = ".vflab-index"
	journalName    = ".vflab-journal"
	dirtyName      = ".vflab-dirty"
	tmpPrefix      = ".vflab-tmp-"
	indexHeader    = "vflab-index v1"
	fieldSeparator = "\t"
)

// reservationContent is host-local's file content for an owner.
func reservationContent(o ipam.Owner) string {
	return strings.TrimSpace(o.ContainerID) + lineBreak + o.IfName
}

// parseReservationContent reads host-local's formats: "<id>\r\n<ifname>", "<id>\n<ifname>", or "<id>" alone
// (files of host-local before it recorded interfaces).
func parseReservationContent(b []byte) (ipam.Owner, error) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ipam.Owner{}, errors.New("empty reservation file")
	}
	id, ifname, _ := strings.Cut(s, "\n")
	return ipam.Owner{ContainerID: strings.TrimSpace(id), IfName: strings.TrimSpace(ifname)}, nil
}

// meta is the sidecar of a reservation: what host-local's format cannot hold.
type meta struct {
	ContainerID string    `json:"containerID"`
	IfName      string    `json:"ifName"`
	Namespace   string    `json:"podNamespace,omitempty"`
	Name        string    `json:"podName,omitempty"`
	UID         string    `json:"podUID,omitempty"`
	Created     time.Time `json:"created"`
	RangeSet    int       `json:"rangeSet"`
}

func metaOf(r ipam.Reservation) meta {
	return meta{ContainerID: r.Owner.ContainerID, IfName: r.Owner.IfName, Namespace: r.Pod.Namespace,
		Name: r.Pod.Name, UID: r.Pod.UID, Created: r.Created.UTC(), RangeSet: r.RangeSet}
}

// validToken rejects strings that would break the line formats or host-local's file content.
func validToken(field, s string) error {
	if strings.ContainsAny(s, "\t\r\n") {
		return fmt.Errorf("%s %q contains a tab or line break", field, s)
	}
	return nil
}

func validOwner(o ipam.Owner) error {
	if strings.TrimSpace(o.ContainerID) == "" {
		return errors.New("empty container ID")
	}
	if strings.TrimSpace(o.ContainerID) != o.ContainerID || strings.TrimSpace(o.IfName) != o.IfName {
		return fmt.Errorf("container ID %q or ifname %q has surrounding white space", o.ContainerID, o.IfName)
	}
	if err := validToken("container ID", o.ContainerID); err != nil {
		return err
	}
	if err := validToken("ifname", o.IfName); err != nil {
		return err
	}
	return nil
}

// record encodes a reservation as one index/journal line (without the leading op or checksum).
func record(r ipam.Reservation) string {
	return strings.Join([]string{r.Addr.String(), r.Owner.ContainerID, r.Owner.IfName, r.Pod.Namespace,
		r.Pod.Name, r.Pod.UID, strconv.FormatInt(r.Created.UnixNano(), 10), strconv.Itoa(r.RangeSet)}, fieldSeparator)
}

func parseRecord(line string) (ipam.Reservation, error) {
	var fields [8]string
	rest := line
	for i := range fields {
		var ok bool
		fields[i], rest, ok = strings.Cut(rest, fieldSeparator)
		if ok != (i < len(fields)-1) {
			return ipam.Reservation{}, fmt.Errorf("want %d fields", len(fields))
		}
	}
	a, err := netip.ParseAddr(fields[0])
	if err != nil {
		return ipam.Reservation{}, err
	}
	ns, err := strconv.ParseInt(fields[6], 10, 64)
	if err != nil {
		return ipam.Reservation{}, err
	}
	set, err := strconv.Atoi(fields[7])
	if err != nil {
		return ipam.Reservation{}, err
	}
	return ipam.Reservation{Addr: a, Owner: ipam.Owner{ContainerID: fields[1], IfName: fields[2]},
		Pod: ipam.PodRef{Namespace: fields[3], Name: fields[4], UID: fields[5]}, Created: time.Unix(0, ns).UTC(), RangeSet: set}, nil
}

// checksummed appends "\t<crc32>" to a line.
func checksummed(line string) string {
	return line + fieldSeparator + strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(line))), 16)
}

// verifyBytes splits a checksummed line, available both as a string and as the bytes it was read from
// (so the checksum needs no copy), and checks it.
func verifyBytes(line string, raw []byte) (string, bool) {
	i := strings.LastIndex(line, fieldSeparator)
	if i < 0 || len(raw) != len(line) {
		return "", false
	}
	sum, err := strconv.ParseUint(line[i+1:], 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE(raw[:i]) {
		return "", false
	}
	return line[:i], true
}

// writeExclusive writes content to dir/name only if it does not exist: temp file, fsync, link. It returns
// os.ErrExist (wrapped) when the name is taken.
func writeExclusive(dir, name string, content []byte) error {
	tmp, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(content); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	return os.Link(tmp.Name(), filepath.Join(dir, name))
}

// syncDir fsyncs a directory so that links, renames and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func parseMeta(b []byte) (meta, error) {
	var m meta
	err := json.Unmarshal(b, &m)
	return m, err
}

func jsonMeta(m meta) ([]byte, error) { return json.Marshal(m) }

// replaceFile atomically replaces dir/name (temp file + rename) without fsync: for hints whose loss on
// power failure is harmless (round-robin cursors, reservation metadata checked against the owner).
func replaceFile(dir, name string, content []byte) error {
	tmp, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.Write(content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

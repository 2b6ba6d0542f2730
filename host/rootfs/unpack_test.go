package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeTar writes a plain tar archive of hdrs (regular files get content as their body).
func writeTar(t testing.TB, hdrs []*tar.Header, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "capture.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(content))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := errors.Join(tw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnpackStaysInside: an entry is refused when its name leaves the target directory or when it would
// be written through a symlink the archive placed there before, pointing outside (a hostile capture).
func TestUnpackStaysInside(t *testing.T) {
	t.Parallel()
	// Each case unpacks into base/target; the symlinks point to base/outside, absolutely or relatively.
	for _, tc := range []struct {
		name string
		hdrs func(outside string) []*tar.Header
	}{
		{"dot-dot name", func(string) []*tar.Header {
			return []*tar.Header{{Name: "../outside/pwned", Typeflag: tar.TypeReg, Mode: 0o644}}
		}},
		{"file through an absolute symlink", func(outside string) []*tar.Header {
			return []*tar.Header{
				{Name: "sys/esc", Typeflag: tar.TypeSymlink, Linkname: outside},
				{Name: "sys/esc/pwned", Typeflag: tar.TypeReg, Mode: 0o644},
			}
		}},
		{"file through a relative symlink", func(string) []*tar.Header {
			return []*tar.Header{
				{Name: "sys/esc", Typeflag: tar.TypeSymlink, Linkname: "../../outside"},
				{Name: "sys/esc/pwned", Typeflag: tar.TypeReg, Mode: 0o644},
			}
		}},
		{"directory through a symlink", func(outside string) []*tar.Header {
			return []*tar.Header{
				{Name: "sys/esc", Typeflag: tar.TypeSymlink, Linkname: outside},
				{Name: "sys/esc/pwned/", Typeflag: tar.TypeDir, Mode: 0o755},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			outside, dir := filepath.Join(base, "outside"), filepath.Join(base, "target")
			for _, d := range []string{outside, dir} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := Unpack(writeTar(t, tc.hdrs(outside), "x"), dir, nil); err == nil {
				t.Error("Unpack succeeded")
			}
			if _, err := os.Lstat(filepath.Join(outside, "pwned")); err == nil {
				t.Error("written outside the target directory")
			}
		})
	}
}

// TestUnpackInsideLinks: files and directories reached through symlinks that stay inside the target
// are written, and links keep their targets as stored (absolute ones too).
func TestUnpackInsideLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := Unpack(writeTar(t, []*tar.Header{
		{Name: "sys/devices/pci0000:00/0000:3b:00.0/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "sys/bus/pci/devices/0000:3b:00.0", Typeflag: tar.TypeSymlink, Linkname: "../../../devices/pci0000:00/0000:3b:00.0"},
		{Name: "sys/bus/pci/devices/0000:3b:00.0/vendor", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "sys/abs", Typeflag: tar.TypeSymlink, Linkname: "/sys/bus"},
	}, "0x15b3\n"), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "sys/devices/pci0000:00/0000:3b:00.0/vendor")); err != nil || string(b) != "0x15b3\n" {
		t.Errorf("vendor through the link: %q, %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "sys/abs")); err != nil || target != "/sys/bus" {
		t.Errorf("absolute link: %q, %v", target, err)
	}
}

// paxRecord is one record of a PAX extended header: "<length> key=value\n", length counting itself.
func paxRecord(k, v string) string {
	r := " " + k + "=" + v + "\n"
	n := len(r)
	for len(strconv.Itoa(n))+len(r) != n {
		n = len(strconv.Itoa(n)) + len(r)
	}
	return strconv.Itoa(n) + r
}

// writeSparseTar writes an archive (GNU sparse format 1.0, as GNU tar --sparse --format=pax writes it)
// of one entry, name, of realSize bytes whose last byte is 'x' and the rest a hole: about 2 KiB standing
// for realSize bytes once unpacked. archive/tar does not write sparse entries: the PAX header is written
// as a regular entry, then given its type (and checksum) by hand.
func writeSparseTar(t testing.TB, name string, realSize int64) string {
	t.Helper()
	sparseMap := fmt.Sprintf("1\n%d\n1\n", realSize-1) // one data fragment: 1 byte at realSize-1
	body := append([]byte(sparseMap), make([]byte, 512-len(sparseMap))...)
	body = append(body, 'x')
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(realSize, 10))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name, body string
	}{{"PaxHeaders.0/" + path.Base(name), recs}, {"GNUSparseFile.0/" + path.Base(name), string(body)}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), Format: tar.FormatUSTAR}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[156] = tar.TypeXHeader // the first header's type flag; its checksum (148:156) counts itself as spaces
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	p := filepath.Join(t.TempDir(), "sparse.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnpackSizeLimit: the regular files of an archive may add up to the limit and no more; the entry
// that would go past it is refused before it is written, by name, whatever it holds (a sparse entry of a
// tiny archive stands for gigabytes).
func TestUnpackSizeLimit(t *testing.T) {
	t.Parallel()
	three := func(string) []*tar.Header {
		return []*tar.Header{
			{Name: "sys/a", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "sys/b", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "sys/c", Typeflag: tar.TypeReg, Mode: 0o644},
		}
	}
	for _, tc := range []struct {
		name    string
		archive func(t *testing.T) string
		opts    []UnpackOption
		refused string // the entry refused, "" when the archive unpacks
	}{
		{"at the limit", func(t *testing.T) string { return writeTar(t, three(""), "12345") }, []UnpackOption{WithMaxSize(15)}, ""},
		{"past the limit", func(t *testing.T) string { return writeTar(t, three(""), "12345") }, []UnpackOption{WithMaxSize(14)}, "sys/c"},
		{"zero limit", func(t *testing.T) string { return writeTar(t, three(""), "1") }, []UnpackOption{WithMaxSize(0)}, "sys/a"},
		{"sparse within the limit", func(t *testing.T) string { return writeSparseTar(t, "sys/big", 4096) }, []UnpackOption{WithMaxSize(4096)}, ""},
		{"sparse past the default limit", func(t *testing.T) string { return writeSparseTar(t, "sys/big", 4<<30) }, nil, "sys/big"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			err := Unpack(tc.archive(t), dir, nil, tc.opts...)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("Unpack: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), strconv.Quote(tc.refused)) {
				t.Fatalf("Unpack = %v, want ErrTooLarge naming %q", err, tc.refused)
			}
			if _, err := os.Lstat(filepath.Join(dir, tc.refused)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused entry %s written (%v)", tc.refused, err)
			}
		})
	}
	t.Run("sparse content", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := Unpack(writeSparseTar(t, "sys/big", 4096), dir, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "sys/big"))
		if err != nil || len(b) != 4096 || b[4095] != 'x' {
			t.Errorf("sparse entry unpacked to %d bytes, %v", len(b), err)
		}
	})
	t.Run("negative limit", func(t *testing.T) {
		t.Parallel()
		if err := Unpack(writeTar(t, three(""), "1"), t.TempDir(), nil, WithMaxSize(-1)); err == nil {
			t.Error("Unpack with a negative limit succeeded")
		}
	})
}

// FuzzUnpack: a capture archive is outside input; whatever it holds, nothing lands outside the target.
func FuzzUnpack(f *testing.F) {
	for _, hdrs := range [][]*tar.Header{
		{{Name: "sys/class/net/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "sys/class/net/x", Typeflag: tar.TypeReg, Mode: 0o644}},
		{{Name: "sys/esc", Typeflag: tar.TypeSymlink, Linkname: "../../outside"}, {Name: "sys/esc/pwned", Typeflag: tar.TypeReg, Mode: 0o644}},
		{{Name: "../outside/pwned", Typeflag: tar.TypeReg, Mode: 0o644}},
	} {
		b, err := os.ReadFile(writeTar(f, hdrs, "x"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, archive []byte) {
		base := t.TempDir()
		outside, dir := filepath.Join(base, "outside"), filepath.Join(base, "target")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(base, "capture.tar")
		if err := os.WriteFile(p, archive, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = Unpack(p, dir, nil, WithMaxSize(1<<20))
		ents, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 3 {
			t.Errorf("%d entries next to the target, want outside, target and the archive", len(ents))
		}
		if left, err := os.ReadDir(outside); err != nil || len(left) != 0 {
			t.Errorf("written outside the target: %v, %v", left, err)
		}
	})
}

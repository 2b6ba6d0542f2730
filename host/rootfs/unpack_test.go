package rootfs

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
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
		_ = Unpack(p, dir, nil)
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

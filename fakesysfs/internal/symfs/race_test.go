package symfs

import (
	"fmt"
	"sync"
	"testing"
)

// TestMemFsListWhileChanging lists a directory through open handles while another goroutine adds,
// renames and removes its entries. Under -race it proves the entry list is changed under the lock that
// mem.File.Readdir takes (the kernel's readers list sysfs directories while writers enable VFs).
func TestMemFsListWhileChanging(t *testing.T) {
	t.Parallel()
	m := NewMemFs()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			name := fmt.Sprintf("/d/f%d", i)
			f, err := m.Create(name)
			if err != nil {
				t.Error(err)
				return
			}
			_ = f.Close()
			if err := m.Rename(name, name+"x"); err != nil {
				t.Error(err)
				return
			}
			if i%2 == 0 {
				if err := m.Remove(name + "x"); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	for range 200 {
		f, err := m.Open("/d")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Readdirnames(-1); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	wg.Wait()
	f, err := m.Open("/d")
	if err != nil {
		t.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 100 {
		t.Errorf("/d holds %d entries, want 100", len(names))
	}
}

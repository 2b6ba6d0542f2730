package plugin

import (
	"os"
	"strings"
	"testing"

	"github.com/vflab/vflab/ipam/config"
)

// TestReadmeExamples keeps README.md honest: every JSON block parses into a valid configuration.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```json\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d JSON examples, want at least 2", len(blocks))
	}
	for i, blk := range blocks {
		js, _, ok := strings.Cut(blk, "```")
		if !ok {
			t.Fatalf("example %d is not closed", i)
		}
		if _, err := config.Parse([]byte(js), ""); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
	}
}

package etcd_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vflab/vflab/cli/etcd"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func TestRunsUntilCancelledAndPrintsTheClientURL(t *testing.T) {
	url := freeURL(t)
	var out lockedBuffer
	cmd := etcd.NewCommand(slog.New(slog.DiscardHandler))
	cmd.SetArgs([]string{"--data-dir", t.TempDir(), "--listen-client", url})
	cmd.SetOut(&out)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), url) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no client URL printed; output %q", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("command ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pctx, pcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer pcancel()
	if _, err := cli.Put(pctx, "k", "v"); err != nil {
		t.Fatalf("put through the printed URL: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop after cancel")
	}
}

func TestDataDirIsRequired(t *testing.T) {
	cmd := etcd.NewCommand(slog.New(slog.DiscardHandler))
	cmd.SetArgs(nil)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "data-dir") {
		t.Fatalf("want an error naming --data-dir, got %v", err)
	}
}

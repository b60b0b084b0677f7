package testpeer

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// etcdStartTimeout bounds how long a member may take to serve clients
// (about a second on a quiet machine; a three-member cluster waits for its
// quorum).
const etcdStartTimeout = 60 * time.Second

// EtcdCluster is a real etcd cluster on loopback: each member a process of
// its own (the program in internal/testpeer/etcdpeer), in a temporary
// directory of the test, stopped when the test ends. Members can be killed
// and started again.
type EtcdCluster struct {
	t       testing.TB
	bin     string
	members []*etcdMember
	initial string
}

type etcdMember struct {
	name, dir         string
	clientURL, peer   string
	logPath           string
	mu                sync.Mutex
	cmd               *exec.Cmd
	exited            chan struct{}
	started, restarts int
}

// EtcdOption changes how the members start.
type EtcdOption func(*etcdOptions)

type etcdOptions struct {
	args []string
}

// WithEtcdArgs passes extra flags of etcdpeer to every member (for example
// "-quota-backend-bytes", "16777216").
func WithEtcdArgs(args ...string) EtcdOption {
	return func(o *etcdOptions) { o.args = append(o.args, args...) }
}

// Etcd starts an etcd cluster of n members (1 or 3, usually) on 127.0.0.1
// with free ports and waits until every member serves clients. The binary
// is built once per go.sum (see EtcdPeerBinary). Without a Go toolchain the
// test is skipped, except in CI, where it fails.
func Etcd(t testing.TB, n int, opts ...EtcdOption) *EtcdCluster {
	t.Helper()
	var o etcdOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := EtcdPeerBinary()
	if err != nil {
		if !InCI() {
			t.Skipf("etcd test peer: %v", err)
		}
		t.Fatalf("etcd test peer: %v", err)
	}
	c := &EtcdCluster{t: t, bin: bin}
	var initial []string
	root := t.TempDir()
	for i := range n {
		cp, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		pp, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		m := &etcdMember{
			name:      fmt.Sprintf("m%d", i),
			dir:       filepath.Join(root, fmt.Sprintf("m%d", i)),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", cp),
			peer:      fmt.Sprintf("http://127.0.0.1:%d", pp),
		}
		m.logPath = filepath.Join(root, m.name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.stopAll)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.start(m, "new", o.args) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Endpoints are the members' client URLs.
func (c *EtcdCluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.clientURL
	}
	return out
}

// Len is the number of members.
func (c *EtcdCluster) Len() int { return len(c.members) }

// Kill sends SIGKILL to member i and waits until it exited.
func (c *EtcdCluster) Kill(i int) {
	c.t.Helper()
	m := c.members[i]
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart starts member i again on its data directory (after Kill) and
// waits until it serves clients.
func (c *EtcdCluster) Restart(i int) {
	c.t.Helper()
	c.Kill(i)
	if err := c.start(c.members[i], "existing", nil); err != nil {
		c.t.Fatal(err)
	}
}

// Log returns the end of member i's log (for failure messages).
func (c *EtcdCluster) Log(i int) string { return tail(c.members[i].logPath) }

func (c *EtcdCluster) start(m *etcdMember, state string, extra []string) error {
	args := []string{
		"-name", m.name, "-dir", m.dir, "-client-url", m.clientURL, "-peer-url", m.peer,
		"-initial-cluster", c.initial, "-initial-cluster-state", state, "-lifetime", "45m",
	}
	args = append(args, extra...)
	logFile, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("etcd member %s: %w", m.name, err)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Stderr = logFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return fmt.Errorf("etcd member %s: %w", m.name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start etcd member %s: %w", m.name, err)
	}
	exited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if sc.Text() == "ready" {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); logFile.Close(); close(exited) }()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.started++
	m.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-exited:
		return fmt.Errorf("etcd member %s exited before it was ready; log:\n%s", m.name, tail(m.logPath))
	case <-time.After(etcdStartTimeout):
		return fmt.Errorf("etcd member %s not ready after %s; log:\n%s", m.name, etcdStartTimeout, tail(m.logPath))
	}
}

func (c *EtcdCluster) stopAll() {
	for _, m := range c.members {
		m.mu.Lock()
		cmd, exited := m.cmd, m.exited
		m.cmd = nil
		m.mu.Unlock()
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

var etcdBuild struct {
	once sync.Once
	path string
	err  error
}

// EtcdPeerBinary returns the etcd test peer program, building it when it
// is missing: $CHATBRIDGE_ETCDPEER when set, else
// $HOME/.cache/chatbridge/bin/etcdpeer-<hash of go.sum>, built with the Go
// toolchain from this module (internal/testpeer/etcdpeer). Test processes
// of several packages may ask at once: the build holds a file lock, and
// the binary is renamed into place when complete.
func EtcdPeerBinary() (string, error) {
	etcdBuild.once.Do(func() { etcdBuild.path, etcdBuild.err = buildEtcdPeer() })
	return etcdBuild.path, etcdBuild.err
}

func buildEtcdPeer() (string, error) {
	if p := os.Getenv("CHATBRIDGE_ETCDPEER"); p != "" {
		return p, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go toolchain to build it: %w", err)
	}
	modFile, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(modFile)))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("read go.sum: %w", err)
	}
	h := sha256.Sum256(sum)
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, ".cache", "chatbridge", "bin")
	path := filepath.Join(dir, "etcdpeer-"+hex.EncodeToString(h[:8]))
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		return path, nil // built by another test process meanwhile
	}
	tmp := path + ".tmp"
	cmd := exec.Command(goBin, "build", "-o", tmp, "./internal/testpeer/etcdpeer")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build etcdpeer: %w\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, nil
}

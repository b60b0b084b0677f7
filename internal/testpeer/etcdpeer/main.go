// Command etcdpeer runs one etcd member for chatbridge's tests, as a process
// of its own that a test can SIGKILL and start again. It is the etcd server
// built as a library (go.etcd.io/etcd/server/v3/embed): `go install` of the
// etcd binary is refused because etcd's go.mod has replace directives.
//
// It is built by internal/testpeer (and scripts/install-test-deps) and is
// never part of the chatbridge binary. It prints "ready" on stdout once the
// member serves clients, and exits when its parent process goes away, when
// it has run for -lifetime, or on SIGTERM/SIGINT.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	var (
		name      = flag.String("name", "m0", "member name")
		dir       = flag.String("dir", "", "data directory")
		client    = flag.String("client-url", "http://127.0.0.1:2379", "client URL to listen on and advertise")
		peer      = flag.String("peer-url", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
		cluster   = flag.String("initial-cluster", "", "name=peer-url,… (default: this member alone)")
		state     = flag.String("initial-cluster-state", "new", "new or existing")
		token     = flag.String("token", "chatbridge-test", "initial cluster token")
		quota     = flag.Int64("quota-backend-bytes", 0, "backend quota (0: etcd's default)")
		compactM  = flag.String("auto-compaction-mode", "", "periodic or revision (empty: off)")
		compactR  = flag.String("auto-compaction-retention", "", "auto compaction retention")
		lifetime  = flag.Duration("lifetime", 30*time.Minute, "exit after this long, whatever happens")
		logLevel  = flag.String("log-level", "error", "etcd's log level")
		noFsync   = flag.Bool("unsafe-no-fsync", false, "skip fsync (benchmarks of the client side only)")
		snapshots = flag.Uint64("snapshot-count", 0, "raft snapshot count (0: etcd's default)")
	)
	flag.Parse()
	if err := run(*name, *dir, *client, *peer, *cluster, *state, *token, *quota, *compactM, *compactR, *lifetime, *logLevel, *noFsync, *snapshots); err != nil {
		fmt.Fprintln(os.Stderr, "etcdpeer:", err)
		os.Exit(1)
	}
}

func run(name, dir, client, peer, cluster, state, token string, quota int64, compactMode, compactRetention string,
	lifetime time.Duration, logLevel string, noFsync bool, snapshots uint64) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	cu, err := url.Parse(client)
	if err != nil {
		return fmt.Errorf("-client-url: %w", err)
	}
	pu, err := url.Parse(peer)
	if err != nil {
		return fmt.Errorf("-peer-url: %w", err)
	}
	if cluster == "" {
		cluster = name + "=" + peer
	}
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cluster
	cfg.InitialClusterToken = token
	cfg.ClusterState = state
	cfg.LogLevel = logLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = noFsync
	if quota > 0 {
		cfg.QuotaBackendBytes = quota
	}
	if snapshots > 0 {
		cfg.SnapshotCount = snapshots
	}
	if compactMode != "" {
		cfg.AutoCompactionMode = compactMode
		cfg.AutoCompactionRetention = compactRetention
	}
	// A quick election on loopback: fail-over tests measure the client
	// side, not etcd's defaults for real networks.
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start member %s: %w", name, err)
	}
	defer e.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	parent := os.Getppid()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(lifetime)
	ready := e.Server.ReadyNotify()
	for {
		select {
		case <-ready:
			fmt.Println("ready")
			ready = nil
		case err := <-e.Err():
			return fmt.Errorf("member %s: %w", name, err)
		case <-e.Server.StopNotify():
			return fmt.Errorf("member %s stopped", name)
		case s := <-sig:
			fmt.Fprintln(os.Stderr, "etcdpeer: stopping on", strings.ToLower(s.String()))
			return nil
		case <-deadline:
			return fmt.Errorf("member %s: ran for -lifetime %s, exiting", name, lifetime)
		case <-tick.C:
			if os.Getppid() != parent {
				return fmt.Errorf("member %s: parent process gone, exiting", name)
			}
		}
	}
}

package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/config"
)

// storeCheck checks what opening [store] needs besides the file's rules:
// the etcd TLS files must be readable and hold certificates and a key.
func storeCheck(cfg config.Config) []error {
	if !cfg.Store.Etcd() {
		return nil
	}
	_, errs := etcdTLS(cfg.Store)
	return errs
}

// etcdTLS builds the client TLS configuration of [store] (nil when it sets
// no TLS file).
func etcdTLS(s config.Store) (*tls.Config, []error) {
	if s.CAFile == "" && s.CertFile == "" {
		return nil, nil
	}
	var errs []error
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("store.ca_file: %w", err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("store.ca_file: %s holds no PEM certificate", s.CAFile))
			}
			tc.RootCAs = pool
		}
	}
	if s.CertFile != "" && s.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("store.cert_file: %w", err))
		} else {
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	return tc, errs
}

// EtcdConfig is the etcd store's configuration for [store].
func EtcdConfig(cfg config.Config) (etcdstore.Config, error) {
	s := cfg.Store
	tc, errs := etcdTLS(s)
	if len(errs) > 0 {
		return etcdstore.Config{}, errors.Join(errs...)
	}
	node := s.Node
	if node == "" {
		node, _ = os.Hostname()
	}
	return etcdstore.Config{
		Endpoints: s.Endpoints, Prefix: s.Prefix, DialTimeout: s.DialTimeout.Duration(), TLS: tc,
		Username: s.Username, Password: s.Password.Reveal(),
		MaxTxnOps: s.MaxTxnOps, MaxRequestBytes: s.MaxRequestBytes, Node: node, LeaseTTL: s.LeaseTTL.Duration(),
	}, nil
}

// openStore opens the store [store] names: the bbolt file in the data
// directory, or the etcd cluster.
func openStore(cfg config.Config, log *slog.Logger, opts Options) (bridge.Store, error) {
	if cfg.Store.Etcd() {
		ec, err := EtcdConfig(cfg)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), ec.DialTimeout+5*time.Second)
		defer cancel()
		return etcdstore.Open(ctx, ec, log.With("component", "etcd"))
	}
	dbPath := filepath.Join(cfg.Server.DataDir, DBName)
	tighten(log, dbPath, 0o600)
	st, err := boltstore.Open(dbPath, boltstore.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, boltstore.ErrLocked) {
		return nil, fmt.Errorf("%s is in use: is another chatbridge serving this data directory? %w", dbPath, err)
	}
	return st, err
}

// etcdMaintenance compacts the etcd store's history from the node that
// leads the "maintenance" singleton ([store] compact_every, compact_keep).
type etcdMaintenance struct {
	a           *App
	st          *etcdstore.Store
	every, keep time.Duration
}

// Run maintains the store while this node leads maintenance, until ctx
// ends.
func (m *etcdMaintenance) Run(ctx context.Context) error {
	return m.a.Engine.Singleton(ctx, "maintenance", func(ctx context.Context) error {
		return m.st.Maintain(ctx, m.every, m.keep)
	})
}

// etcdCollector exports the etcd store's counters and database size.
type etcdCollector struct{ st *etcdstore.Store }

var (
	etcdOps  = prometheus.NewDesc("chatbridge_etcd_requests_total", "Round trips of the etcd store, by kind (read, commit), and its failed commits (conflict) and transactions applied through the redo log (large).", []string{"kind"}, nil)
	etcdSize = prometheus.NewDesc("chatbridge_etcd_db_bytes", "Size of the etcd members' database (largest member), total and in use.", []string{"part"}, nil)
	etcdUp   = prometheus.NewDesc("chatbridge_etcd_members_up", "etcd members that answered the scrape's status call.", nil, nil)
)

func (c etcdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- etcdOps
	ch <- etcdSize
	ch <- etcdUp
}

func (c etcdCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.st.Stats()
	for kind, n := range map[string]int64{"read": s.Reads.Load(), "commit": s.Commits.Load(), "conflict": s.Conflicts.Load(), "large": s.BigCommits.Load()} {
		ch <- prometheus.MustNewConstMetric(etcdOps, prometheus.CounterValue, float64(n), kind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, _ := c.st.Status(ctx)
	ch <- prometheus.MustNewConstMetric(etcdUp, prometheus.GaugeValue, float64(st.Members))
	if st.Members > 0 {
		ch <- prometheus.MustNewConstMetric(etcdSize, prometheus.GaugeValue, float64(st.DBSize), "total")
		ch <- prometheus.MustNewConstMetric(etcdSize, prometheus.GaugeValue, float64(st.DBSizeInUse), "in_use")
	}
}

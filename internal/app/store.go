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
		MaxTxnOps: s.MaxTxnOps, MaxRequestBytes: s.MaxRequestBytes, Node: node,
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
		ctx, cancel := context.WithTimeout(context.Background(), ec.DialTimeout+5*1e9)
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

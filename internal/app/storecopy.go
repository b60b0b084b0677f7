package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/dump"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/config"
)

// CopyReport is what CopyStore did.
type CopyReport struct {
	// From and To name the stores ("bolt:PATH", "etcd (endpoints, prefix P)").
	From, To string
	// Wiped: the target held data and was emptied first (force).
	Wiped bool
	// Records copied, and how long the copy took (the check after it not
	// included).
	Records int
	Took    time.Duration
	// Roles compare the source and the target, role by role.
	Roles []CopyRole
}

// CopyRole is one role's records in the source and the target.
type CopyRole struct {
	Role                     string
	Records, TargetRecords   int
	Checksum, TargetChecksum string
	Detail                   string // counts by kind
}

// copyEnd is an open source or target of CopyStore.
type copyEnd struct {
	store interface {
		dump.Store
		Close() error
	}
	name string
}

// openCopyEnd opens "bolt:PATH", "bolt" (the data directory's file) or
// "etcd" ([store]); a bolt source must exist.
func openCopyEnd(ctx context.Context, cfg config.Config, spec string, source bool) (copyEnd, error) {
	switch {
	case spec == "etcd":
		cfg.Store.Backend = "etcd"
		if err := Check(cfg); err != nil {
			return copyEnd{}, fmt.Errorf("etcd from [store]: %w", err)
		}
		ec, err := EtcdConfig(cfg)
		if err != nil {
			return copyEnd{}, err
		}
		octx, cancel := context.WithTimeout(ctx, ec.DialTimeout+5*time.Second)
		defer cancel()
		st, err := etcdstore.Open(octx, ec, nil)
		if err != nil {
			return copyEnd{}, err
		}
		return copyEnd{st, fmt.Sprintf("etcd (%s, prefix %s)", strings.Join(ec.Endpoints, ","), st.Prefix())}, nil
	case spec == "bolt" || strings.HasPrefix(spec, "bolt:"):
		file := strings.TrimPrefix(strings.TrimPrefix(spec, "bolt"), ":")
		if file == "" {
			file = filepath.Join(cfg.Server.DataDir, DBName)
		}
		if source {
			if _, err := os.Stat(file); err != nil {
				return copyEnd{}, fmt.Errorf("source %s: %w", file, err)
			}
		}
		st, err := boltstore.Open(file, boltstore.Options{Timeout: 500 * time.Millisecond})
		if errors.Is(err, boltstore.ErrLocked) {
			return copyEnd{}, fmt.Errorf("%s is in use by a running chatbridge: stop it first, a copy must see no writes: %w", file, err)
		}
		if err != nil {
			return copyEnd{}, err
		}
		return copyEnd{st, "bolt:" + file}, nil
	}
	return copyEnd{}, fmt.Errorf("%q is not a store: write bolt:PATH, bolt or etcd", spec)
}

// ErrTargetNotEmpty: CopyStore's target holds data and force is off.
var ErrTargetNotEmpty = errors.New("the target holds data already: pass --force to delete it first")

// CopyStore copies every record of the store from names into the store to
// names ("bolt:PATH", "bolt", "etcd"), then reads both again and compares
// them role by role (counts and checksums). A target that holds data is
// refused, unless force, which empties it first. The report is filled as
// far as the copy went.
func CopyStore(ctx context.Context, cfg config.Config, from, to string, force bool) (CopyReport, error) {
	var rep CopyReport
	src, err := openCopyEnd(ctx, cfg, from, true)
	if err != nil {
		return rep, err
	}
	defer src.store.Close()
	dst, err := openCopyEnd(ctx, cfg, to, false)
	if err != nil {
		return rep, err
	}
	defer dst.store.Close()
	rep.From, rep.To = src.name, dst.name
	if src.name == dst.name {
		return rep, fmt.Errorf("the source and the target are the same store (%s)", src.name)
	}
	empty, err := dump.Empty(ctx, dst.store)
	if err != nil {
		return rep, fmt.Errorf("read the target: %w", err)
	}
	if !empty {
		if !force {
			return rep, fmt.Errorf("%s: %w", dst.name, ErrTargetNotEmpty)
		}
		if err := dst.store.Wipe(ctx); err != nil {
			return rep, fmt.Errorf("empty the target: %w", err)
		}
		rep.Wiped = true
	}
	start, now := time.Now(), time.Now()
	sum, err := dump.Copy(ctx, src.store, dst.store, now)
	if err != nil {
		return rep, fmt.Errorf("copy: %w", err)
	}
	rep.Took = time.Since(start)
	got, err := dump.Summarize(ctx, dst.store, now)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	srcRoles, dstRoles := sum.ByRole(), got.ByRole()
	for i, r := range srcRoles {
		rep.Records += r.Count
		rep.Roles = append(rep.Roles, CopyRole{
			Role: r.Role, Records: r.Count, TargetRecords: dstRoles[i].Count,
			Checksum: r.Checksum(), TargetChecksum: dstRoles[i].Checksum(), Detail: r.Detail,
		})
	}
	return rep, dump.Compare(sum, got)
}

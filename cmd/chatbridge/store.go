package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/dump"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/app"
)

const storeCopyLong = `Copy every record of one store into another: a single node's bbolt file into
an etcd cluster (to move to cluster mode), or etcd into a bbolt file (back to
one node, or a backup). Ids, ticket and lead numbers and message numbers are
kept, so that chatbridge goes on where it stopped.

  --from bolt:PATH | bolt | etcd     the source
  --to   etcd | bolt:PATH | bolt     the target

"bolt" alone is chatbridge.db in the data directory; "etcd" is the cluster of
[store] in the configuration (endpoints, prefix, TLS, user; its backend key
need not be "etcd" yet).

Stop chatbridge first: a bbolt file held by a running server is refused, and
nodes writing to etcd during the copy would be lost. The target must be
empty, unless --force, which deletes what it holds first. After the copy,
both stores are read again and compared: the records of every role are
counted and checksummed, and any difference fails the command.`

func newStoreCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "store", Short: "Copy the state between a bbolt file and etcd"})
	var (
		from, to string
		force    bool
	)
	cp := &cobra.Command{
		Use:   "copy",
		Short: "Copy every record from a bbolt file to etcd, or back, verified",
		Long:  storeCopyLong,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usageError{cmd, "store copy needs --from and --to (bolt:PATH, bolt or etcd)"}
			}
			return storeCopy(cmd.Context(), g, cmd.OutOrStdout(), from, to, force)
		},
	}
	cp.Flags().StringVar(&from, "from", "", "the source: bolt:PATH, bolt (the data directory's) or etcd ([store])")
	cp.Flags().StringVar(&to, "to", "", "the target: etcd ([store]), bolt:PATH or bolt")
	cp.Flags().BoolVar(&force, "force", false, "delete what the target holds before copying")
	cmd.AddCommand(cp)
	return cmd
}

// copyEnd is an open source or target of store copy.
type copyEnd struct {
	store interface {
		dump.Store
		Close() error
	}
	name string
}

// openCopyEnd opens "bolt:PATH", "bolt" or "etcd"; a bolt source must
// exist.
func openCopyEnd(ctx context.Context, g *globals, spec string, source bool) (copyEnd, error) {
	cfg, path, err := g.loadConfig()
	if err != nil {
		return copyEnd{}, configError(path, err)
	}
	switch {
	case spec == "etcd":
		cfg.Store.Backend = "etcd"
		if err := app.Check(cfg); err != nil {
			return copyEnd{}, fmt.Errorf("etcd from the [store] of %s: %w", configName(path), err)
		}
		ec, err := app.EtcdConfig(cfg)
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
			file = filepath.Join(cfg.Server.DataDir, app.DBName)
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

func configName(path string) string {
	if path == "" {
		return "the built-in defaults"
	}
	return path
}

func storeCopy(ctx context.Context, g *globals, out io.Writer, fromSpec, toSpec string, force bool) error {
	src, err := openCopyEnd(ctx, g, fromSpec, true)
	if err != nil {
		return err
	}
	defer src.store.Close()
	dst, err := openCopyEnd(ctx, g, toSpec, false)
	if err != nil {
		return err
	}
	defer dst.store.Close()
	if src.name == dst.name {
		return fmt.Errorf("the source and the target are the same store (%s)", src.name)
	}
	empty, err := dump.Empty(ctx, dst.store)
	if err != nil {
		return fmt.Errorf("read the target: %w", err)
	}
	if !empty {
		if !force {
			return fmt.Errorf("the target %s holds data already: pass --force to delete it first", dst.name)
		}
		fmt.Fprintf(out, "Deleting what %s holds (--force).\n", dst.name)
		if err := dst.store.Wipe(ctx); err != nil {
			return fmt.Errorf("empty the target: %w", err)
		}
	}
	fmt.Fprintf(out, "Copying %s to %s.\n", src.name, dst.name)
	start, now := time.Now(), time.Now()
	sum, err := dump.Copy(ctx, src.store, dst.store, now)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	copied := time.Since(start)
	got, err := dump.Summarize(ctx, dst.store, now)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	total := 0
	for _, r := range sum.ByRole() {
		total += r.Count
	}
	fmt.Fprintf(out, "Copied %d records in %s; read back from the target:\n", total, copied.Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tRECORDS\tCHECKSUM\tTARGET\tBY KIND")
	srcRoles, dstRoles := sum.ByRole(), got.ByRole()
	for i, r := range srcRoles {
		verdict := "same"
		if dstRoles[i].Sum != r.Sum {
			verdict = fmt.Sprintf("DIFFERS (%d, %s)", dstRoles[i].Count, dstRoles[i].Checksum())
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Role, r.Count, r.Checksum(), verdict, r.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := dump.Compare(sum, got); err != nil {
		return err
	}
	fmt.Fprintf(out, "Verified: %s holds every record of %s.\n", dst.name, src.name)
	return nil
}

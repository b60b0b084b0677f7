package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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

func storeCopy(ctx context.Context, g *globals, out io.Writer, from, to string, force bool) error {
	cfg, path, err := g.loadConfig()
	if err != nil {
		return configError(path, err)
	}
	rep, err := app.CopyStore(ctx, cfg, from, to, force)
	if rep.Wiped {
		fmt.Fprintf(out, "Deleted what %s held (--force).\n", rep.To)
	}
	if rep.Roles != nil {
		fmt.Fprintf(out, "Copied %d records from %s to %s in %s; read back from the target:\n", rep.Records, rep.From, rep.To, rep.Took.Round(time.Millisecond))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROLE\tRECORDS\tCHECKSUM\tTARGET\tBY KIND")
		for _, r := range rep.Roles {
			verdict := "same"
			if r.TargetRecords != r.Records || r.TargetChecksum != r.Checksum {
				verdict = fmt.Sprintf("DIFFERS (%d, %s)", r.TargetRecords, r.TargetChecksum)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Role, r.Records, r.Checksum, verdict, r.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Verified: %s holds every record of %s.\n", rep.To, rep.From)
	return nil
}

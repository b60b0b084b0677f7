package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `chatbridge version` prints.
type versionInfo struct {
	// Version is the release (-ldflags "-X main.version=…") or the module
	// version Go stamped (a pseudo-version for a build from a checkout),
	// else "dev".
	Version string `json:"version"`
	// Commit, CommitTime and Modified describe the source checkout the
	// binary was built from, when Go recorded it.
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
}

// buildInfo reads the version from the binary (runtime/debug.ReadBuildInfo).
func buildInfo() versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from and the Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildInfo()
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, v)
			}
			commit := "unknown commit"
			if v.Commit != "" {
				commit = "commit " + v.Commit
				if v.CommitTime != "" {
					commit += " of " + v.CommitTime
				}
				if v.Modified {
					commit += ", with uncommitted changes"
				}
			}
			_, err := fmt.Fprintf(out, "chatbridge %s (%s), built with %s for %s\n", v.Version, commit, v.GoVersion, v.Platform)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

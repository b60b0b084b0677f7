package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/internal/app"
	"github.com/chatbridge/chatbridge/internal/config"
)

// defaultConfigFile is read from the working directory when present.
const defaultConfigFile = "bridge.toml"

// configPathEnv names the configuration file when --config is not given.
const configPathEnv = "CHATBRIDGE_CONFIG"

// findConfig is the configuration file to use: --config, else
// $CHATBRIDGE_CONFIG, else ./bridge.toml when it exists, else "" (the
// built-in defaults). The more explicit choice wins: a flag over the
// environment (a systemd unit, a container) over the working directory.
func (g *globals) findConfig() string {
	if g.configPath != "" {
		return g.configPath
	}
	if env := os.Getenv(configPathEnv); env != "" {
		return env
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile
	}
	return ""
}

// loadConfig finds (findConfig) and loads the configuration. It returns
// the path it used ("" for the defaults).
func (g *globals) loadConfig() (config.Config, string, error) {
	path := g.findConfig()
	var (
		cfg config.Config
		err error
	)
	if path == "" {
		cfg, err = config.Parse(nil, os.Getenv) // defaults plus secrets from the environment
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return config.Config{}, path, err
	}
	if g.dataDir != "" {
		cfg.Server.DataDir = g.dataDir
	}
	return cfg, path, nil
}

// resolveDataDir is the data directory of the configuration.
func (g *globals) resolveDataDir() (string, error) {
	if g.dataDir != "" {
		return g.dataDir, nil
	}
	cfg, _, err := g.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.Server.DataDir, nil
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "config", Short: "Check the configuration"})
	var print bool
	check := &cobra.Command{
		Use:   "check [file]",
		Short: "Validate a config file and report every problem with its key path",
		Long: `Validate a config file as serve does (the file's own rules and every enabled
component's checks) and report every problem with its key path. A
configuration that passes starts. Exit status 1 when there are problems.
Settings that are valid but unsafe for a server others reach are printed as
warnings on standard error (serve logs the same at start); they do not fail
the check.

With --print the effective configuration (secrets redacted) goes to standard
output and "OK" to standard error, so the output can be saved as a file.`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				g.configPath = args[0]
			}
			cfg, path, err := g.loadConfig()
			if err == nil {
				err = app.Check(cfg) // exactly what serve checks
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if path == "" {
				path = "built-in defaults"
			}
			var cerr *config.Errors
			switch {
			case errors.As(err, &cerr):
				fmt.Fprintf(errOut, "%s: %d problem(s):\n", path, len(cerr.Fields))
				for _, f := range cerr.Fields {
					fmt.Fprintf(errOut, "  %s\n", f.Error())
				}
				return exitError{code: 1}
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("config file %s does not exist", path)
			case err != nil:
				return err
			}
			// Valid but unsafe for a server that others reach: said, not
			// refused (serve logs the same at start).
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(errOut, "%s: warning: %s\n", path, w.Error())
			}
			if print {
				fmt.Fprintf(errOut, "%s: OK\n", path)
				fmt.Fprint(out, cfg.Redacted())
				return nil
			}
			fmt.Fprintf(out, "%s: OK\n", path)
			return nil
		},
	}
	check.Flags().BoolVar(&print, "print", false, "print the effective configuration (secrets redacted)")
	cmd.AddCommand(check)
	return cmd
}

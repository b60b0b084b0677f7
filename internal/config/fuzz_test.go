package config

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"", "[server]\nlisten = 1", "visitor = 5", "[[inbox.operators]]\nlogin = 3",
		"[inbox]\noperators = [1, {login = \"a\"}]", "[sinks]\nwebhook = []",
		"[widget]\noffline_after = 1979-05-27", "a = = 1", "[visitor]\nallowed_origins = [[1]]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, func(string) string { return "" })
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.Fields) == 0 {
				t.Fatalf("error is %T %v, want a non-empty *Errors", err, err)
			}
			for _, fe := range errs.Fields {
				if fe.Path == "" || fe.Msg == "" {
					t.Fatalf("empty path or message in %q", fe.Error())
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		_ = cfg.Redacted()
	})
}

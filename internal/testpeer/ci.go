package testpeer

import (
	"os"
	"strings"
)

// InCI reports whether the tests run in CI ($CI set, and not "false" or
// "0"): there a missing peer fails the test instead of skipping it.
func InCI() bool {
	ci := strings.TrimSpace(os.Getenv("CI"))
	return ci != "" && !strings.EqualFold(ci, "false") && ci != "0"
}

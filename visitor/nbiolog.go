package visitor

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/lesismal/nbio/logging"
)

// nbio logs through a package-level logger: its warnings and errors go to
// the first visitor server's log, its start and stop lines nowhere.
var nbioLog sync.Once

func routeNBIOLogs(log *slog.Logger) {
	nbioLog.Do(func() { logging.SetLogger(nbioLogger{log: log.With("component", "nbio")}) })
}

type nbioLogger struct{ log *slog.Logger }

func (l nbioLogger) SetLevel(int)                          {}
func (l nbioLogger) Debug(string, ...interface{})          {}
func (l nbioLogger) Info(string, ...interface{})           {}
func (l nbioLogger) Warn(format string, v ...interface{})  { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l nbioLogger) Error(format string, v ...interface{}) { l.log.Error(fmt.Sprintf(format, v...)) }

package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newMemberlistLogger turns memberlist's "[LEVEL] memberlist: message" lines into slog
// records at the matching level. ERR becomes Warn: memberlist logs a failed probe of a dead
// peer at ERR, which is routine here.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(memberlistWriter{l}, "", 0)
}

type memberlistWriter struct{ l *slog.Logger }

func (w memberlistWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lv := range []struct {
		prefix string
		level  slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelWarn}} {
		if rest, ok := bytes.CutPrefix(line, []byte(lv.prefix)); ok {
			level, line = lv.level, bytes.TrimSpace(rest)
			break
		}
	}
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}

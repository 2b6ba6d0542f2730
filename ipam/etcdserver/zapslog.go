package etcdserver

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger returns a zap logger that forwards etcd's records to logger, or a no-op logger when logger is
// nil. etcd is chatty at info level, so only records at minLevel and above are forwarded. Once stopping
// is set, every record is demoted to debug: a member being closed reports its listeners' shutdown as
// errors ("setting up serving from embedded etcd failed ... server closed"), which are expected then.
func newZapLogger(logger *slog.Logger, minLevel zapcore.Level, stopping *atomic.Bool) *zap.Logger {
	if logger == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{handler: logger.Handler(), min: minLevel, stopping: stopping})
}

// slogCore is a zapcore.Core writing to a slog.Handler.
type slogCore struct {
	handler  slog.Handler
	min      zapcore.Level
	stopping *atomic.Bool
	attrs    []slog.Attr
}

func (c *slogCore) level(l zapcore.Level) zapcore.Level {
	if c.stopping != nil && c.stopping.Load() {
		return zapcore.DebugLevel
	}
	return l
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	l = c.level(l)
	return l >= c.min && c.handler.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	attrs := append(append([]slog.Attr(nil), c.attrs...), fieldAttrs(fields)...)
	return &slogCore{handler: c.handler, min: c.min, stopping: c.stopping, attrs: attrs}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(c.level(e.Level)), e.Message, 0)
	r.AddAttrs(c.attrs...)
	r.AddAttrs(fieldAttrs(fields)...)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	return c.handler.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l >= zapcore.WarnLevel:
		return slog.LevelWarn
	case l >= zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	return attrs
}

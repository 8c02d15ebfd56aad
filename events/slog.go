package events

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogHandler sends River's slog records to an hclog logger. River's
// debug and info chatter is logged at debug and trace.
type hclogHandler struct {
	l hclog.Logger
}

var _ slog.Handler = hclogHandler{}

func (h hclogHandler) Enabled(_ context.Context, level slog.Level) bool {
	switch {
	case level >= slog.LevelError:
		return h.l.IsError()
	case level >= slog.LevelWarn:
		return h.l.IsWarn()
	default:
		return h.l.IsDebug()
	}
}

func (h hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, 2*r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.Any())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.l.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.l.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.l.Debug(r.Message, args...)
	default:
		h.l.Trace(r.Message, args...)
	}
	return nil
}

func (h hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	args := make([]any, 0, 2*len(attrs))
	for _, a := range attrs {
		args = append(args, a.Key, a.Value.Any())
	}
	return hclogHandler{h.l.With(args...)}
}

func (h hclogHandler) WithGroup(name string) slog.Handler {
	return hclogHandler{h.l.Named(name)}
}

package worker

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Logger is what the worker logs through; hclog.Logger satisfies it.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// jsonLogger writes hclog's JSON line format ("@level", "@message",
// "@module", "@timestamp", then the key/value pairs), which go-plugin's
// client parses from the worker's stderr into the supervisor's logger. It
// spares the worker binary hclog and its terminal-colour dependencies.
type jsonLogger struct {
	mu     sync.Mutex
	w      io.Writer
	module string
	debug  bool
}

var _ Logger = (*jsonLogger)(nil)

func newJSONLogger(w io.Writer, module string) *jsonLogger {
	return &jsonLogger{w: w, module: module}
}

func (l *jsonLogger) Debug(msg string, args ...any) {
	if l.debug {
		l.log("debug", msg, args)
	}
}
func (l *jsonLogger) Info(msg string, args ...any)  { l.log("info", msg, args) }
func (l *jsonLogger) Warn(msg string, args ...any)  { l.log("warn", msg, args) }
func (l *jsonLogger) Error(msg string, args ...any) { l.log("error", msg, args) }

func (l *jsonLogger) log(level, msg string, args []any) {
	var b bytes.Buffer
	field := func(k string, v any) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		vb, err := json.Marshal(v)
		if err != nil {
			vb, _ = json.Marshal(err.Error())
		}
		b.Write(vb)
	}
	b.WriteByte('{')
	field("@level", level)
	field("@message", msg)
	field("@module", l.module)
	field("@timestamp", time.Now().Format("2006-01-02T15:04:05.000000Z07:00"))
	for i := 0; i+1 < len(args); i += 2 {
		k, ok := args[i].(string)
		if !ok {
			k = "bad_key"
		}
		field(k, args[i+1])
	}
	b.WriteString("}\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b.Bytes())
}

package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The data path speaks length-prefixed frames over a unix socket: a 4-byte
// big-endian length (of what follows), one type byte, then the payload.
// Strings and byte slices are uvarint-length-prefixed, integers are varints.
//
// One call on one connection:
//
//	supervisor → worker   frameCall      the call's deadline, then the Request
//	worker → supervisor   frameHost      a host call (kv, secrets, http), zero or more times,
//	supervisor → worker   frameHostReply   each answered before the next
//	worker → supervisor   frameResult    the Response, or
//	worker → supervisor   frameError     a *CallError
const (
	frameCall      byte = 'C'
	frameHost      byte = 'H'
	frameHostReply byte = 'h'
	frameResult    byte = 'R'
	frameError     byte = 'E'
	// frameEcho is answered with the same payload by the worker's
	// connection goroutine, without touching Lua: the floor of a round
	// trip on this path (WorkerClient.Echo).
	frameEcho byte = 'P'
)

// Host call operations carried in frameHost.
const (
	opKVGet byte = iota + 1
	opKVSet
	opKVDelete
	opKVIncr
	opKVList
	opSecretGet
	opHTTPRequest
)

// MaxFrameBytes bounds one frame (a request or response body with its
// headers, logs and events).
const MaxFrameBytes = 64 << 20

// errFrameTooLarge is returned when a peer announces a frame over
// MaxFrameBytes.
var errFrameTooLarge = errors.New("frame too large")

// encoder appends values to a frame buffer.
type encoder struct{ b []byte }

// begin starts a frame of type t, reusing the buffer.
func (e *encoder) begin(t byte) {
	e.b = append(e.b[:0], 0, 0, 0, 0, t)
}

// finish writes the length prefix and returns the whole frame.
func (e *encoder) finish() ([]byte, error) {
	n := len(e.b) - 4
	if n > MaxFrameBytes {
		return nil, fmt.Errorf("encode frame of %d bytes: %w", n, errFrameTooLarge)
	}
	binary.BigEndian.PutUint32(e.b[:4], uint32(n))
	return e.b, nil
}

func (e *encoder) byte1(v byte)             { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64)         { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)           { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)             { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)           { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) duration(d time.Duration) { e.varint(int64(d)) }

// deadline writes an absolute time as Unix nanoseconds; the zero time as 0.
func (e *encoder) deadline(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		return
	}
	e.varint(t.UnixNano())
}

func (e *encoder) strMap(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.str(v)
	}
}

// request writes a call: its absolute deadline (decided by the supervisor;
// both ends read the same host clock), then the Request.
func (e *encoder) request(r *Request, deadline time.Time) {
	e.deadline(deadline)
	e.str(r.InvocationID)
	e.str(r.Method)
	e.str(r.Path)
	e.uvarint(uint64(len(r.Query)))
	for k, vs := range r.Query {
		e.str(k)
		e.uvarint(uint64(len(vs)))
		for _, v := range vs {
			e.str(v)
		}
	}
	e.strMap(r.Headers)
	e.bytes(r.Body)
	e.str(r.Trigger)
	e.bytes(r.Event)
}

func (e *encoder) logs(logs []LogEntry, dropped int) {
	e.uvarint(uint64(len(logs)))
	for _, l := range logs {
		e.varint(l.Time.UnixNano())
		e.str(l.Level)
		e.str(l.Message)
	}
	e.uvarint(uint64(dropped))
}

func (e *encoder) response(r *Response) {
	e.uvarint(uint64(r.Status))
	e.strMap(r.Headers)
	e.bytes(r.Body)
	e.logs(r.Logs, r.LogsDropped)
	e.uvarint(uint64(len(r.Events)))
	for _, ev := range r.Events {
		e.str(ev.Topic)
		e.bytes(ev.Payload)
	}
}

func (e *encoder) callError(c *CallError) {
	e.str(c.Kind)
	e.str(c.Message)
	e.str(c.Traceback)
	e.logs(c.Logs, c.LogsDropped)
}

// decoder reads values from one frame payload; the first error sticks and
// later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

var errShortFrame = errors.New("short frame")

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errShortFrame
	}
	d.b = nil
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a collection length and checks it against what is left, so a
// corrupt frame cannot make us allocate a huge slice.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

// commonStrings are header names and values most calls carry, returned by
// istr without allocating a copy.
var commonStrings = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		"content-type", "content-length", "cache-control", "location", "set-cookie", "accept",
		"user-agent", "host", "accept-encoding", "connection", "authorization",
		"application/json", "application/json; charset=utf-8", "text/plain", "text/plain; charset=utf-8",
		"text/html", "text/html; charset=utf-8", "no-cache", "no-store", "keep-alive", "*/*",
	} {
		m[s] = s
	}
	return m
}()

// istr is str for strings often repeated (header names and values): a
// common one is shared instead of copied.
func (d *decoder) istr() string {
	r := d.raw()
	if s, ok := commonStrings[string(r)]; ok {
		return s
	}
	return string(r)
}

// bytes returns a copy (the frame buffer is reused), nil for empty.
func (d *decoder) bytes() []byte {
	r := d.raw()
	if len(r) == 0 {
		return nil
	}
	return append([]byte(nil), r...)
}

func (d *decoder) duration() time.Duration { return time.Duration(d.varint()) }

// deadline reads what encoder.deadline wrote; 0 is the zero time.
func (d *decoder) deadline() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.istr()
		m[k] = d.istr()
	}
	return m
}

func (d *decoder) request(r *Request) (deadline time.Time) {
	deadline = d.deadline()
	r.InvocationID = d.str()
	r.Method = d.str()
	r.Path = d.str()
	if n := d.count(); n > 0 {
		r.Query = make(map[string][]string, n)
		for i := 0; i < n && d.err == nil; i++ {
			k := d.str()
			vs := make([]string, d.count())
			for j := range vs {
				vs[j] = d.str()
			}
			r.Query[k] = vs
		}
	} else {
		r.Query = nil
	}
	r.Headers = d.strMap()
	r.Body = d.bytes()
	r.Trigger = d.str()
	r.Event = d.bytes()
	return deadline
}

func (d *decoder) logs() ([]LogEntry, int) {
	n := d.count()
	var logs []LogEntry
	if n > 0 {
		logs = make([]LogEntry, n)
		for i := range logs {
			logs[i].Time = time.Unix(0, d.varint())
			logs[i].Level = d.str()
			logs[i].Message = d.str()
		}
	}
	return logs, int(d.uvarint())
}

func (d *decoder) response(r *Response) {
	r.Status = int(d.uvarint())
	r.Headers = d.strMap()
	r.Body = d.bytes()
	r.Logs, r.LogsDropped = d.logs()
	if n := d.count(); n > 0 {
		r.Events = make([]Event, n)
		for i := range r.Events {
			r.Events[i].Topic = d.str()
			r.Events[i].Payload = d.bytes()
		}
	}
}

func (d *decoder) callError(c *CallError) {
	c.Kind = d.str()
	c.Message = d.str()
	c.Traceback = d.str()
	c.Logs, c.LogsDropped = d.logs()
}

// frameReader reads frames into a reused buffer.
type frameReader struct {
	r   io.Reader
	hdr [5]byte
	buf []byte
}

// next reads one frame and returns its type and payload; the payload is
// valid until the next call.
func (f *frameReader) next() (byte, []byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(f.hdr[:4])
	if n < 1 || n > MaxFrameBytes {
		return 0, nil, fmt.Errorf("read frame of %d bytes: %w", n, errFrameTooLarge)
	}
	n-- // the type byte is in hdr
	if uint32(cap(f.buf)) < n {
		f.buf = make([]byte, n)
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	// Do not keep a huge buffer alive after a big frame.
	p := f.buf
	if cap(f.buf) > 1<<20 {
		f.buf = nil
	}
	return f.hdr[4], p, nil
}

package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// CancelGrace is how long ClientConn.Call keeps waiting after its context
// ends for the worker to report the call's own timeout (a *CallError of
// KindTimeout), before giving up on the connection and returning the
// context's error.
const CancelGrace = 250 * time.Millisecond

// ClientConn is the supervisor's end of one data connection; it runs one
// call at a time.
type ClientConn struct {
	c   net.Conn
	fr  frameReader
	enc encoder
	// cancelled receives when a call's context-end hook has run (it set a
	// read deadline that the next call must not inherit).
	cancelled chan struct{}

	// The context-end hook of the call in progress, kept here so that a
	// call allocates no closure for it: hookCtx is the call's context,
	// hookGrace how long after its end the blocked read fails, ctxErr
	// what the hook saw (read by the call after the hook has run).
	hookCtx   context.Context
	hookGrace time.Duration
	ctxErr    atomic.Pointer[error]
	hook      func() // d.contextEnded, bound once
}

// DialClientConn connects to a worker's data socket.
func DialClientConn(path string) (*ClientConn, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("dial worker data socket: %w", err)
	}
	return newClientConn(c), nil
}

func newClientConn(c net.Conn) *ClientConn {
	d := &ClientConn{c: c, fr: frameReader{r: bufio.NewReaderSize(c, 16<<10)}, cancelled: make(chan struct{}, 1)}
	d.hook = d.contextEnded
	return d
}

// contextEnded is the hook of watch: it records why the call's context
// ended and makes the blocked read fail hookGrace later.
func (d *ClientConn) contextEnded() {
	err := d.hookCtx.Err()
	d.ctxErr.Store(&err)
	_ = d.c.SetReadDeadline(time.Now().Add(d.hookGrace))
	d.cancelled <- struct{}{}
}

// watch arranges, like onContextEnd, for the read of the call in progress
// to fail grace after ctx ends; unwatch must be called when the call is
// over. It allocates nothing but what context.AfterFunc does (nothing
// for a context that cannot end).
func (d *ClientConn) watch(ctx context.Context, grace time.Duration) (stop func() bool) {
	d.ctxErr.Store(nil)
	if ctx.Done() == nil {
		return nil
	}
	d.hookCtx, d.hookGrace = ctx, grace
	return context.AfterFunc(ctx, d.hook)
}

// unwatch ends watch: if the hook ran (the context ended, possibly just
// as the answer arrived), it waits for it and clears the read deadline it
// set, so that the connection goes back to the pool as good as new.
func (d *ClientConn) unwatch(stop func() bool) {
	if stop == nil {
		return
	}
	if !stop() {
		<-d.cancelled
		_ = d.c.SetReadDeadline(time.Time{})
	}
	d.hookCtx = nil
}

// contextErr returns the error of the call's context if the hook saw it
// end.
func (d *ClientConn) contextErr() error {
	if p := d.ctxErr.Load(); p != nil {
		return *p
	}
	return nil
}

// onContextEnd arranges for f to run when ctx ends during a call. The
// returned stop must be called when the call is over: if f ran (the
// context ended, possibly just as the answer arrived), stop waits for it
// and clears the read deadline f set, so that the connection goes back to
// the pool as good as new. Without that, the next call on the connection,
// for another caller, would fail at once with a timeout and be taken for
// a dead worker.
func (d *ClientConn) onContextEnd(ctx context.Context, f func()) (stop func()) {
	stopHook := context.AfterFunc(ctx, func() {
		f()
		d.cancelled <- struct{}{}
	})
	return func() {
		if !stopHook() {
			<-d.cancelled
			_ = d.c.SetReadDeadline(time.Time{})
		}
	}
}

// Close closes the connection.
func (d *ClientConn) Close() error { return d.c.Close() }

// Echo sends payload in an echo frame and returns what came back (the
// worker answers it without running Lua). After an error the connection
// must be closed.
func (d *ClientConn) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	defer d.onContextEnd(ctx, func() { _ = d.c.SetReadDeadline(time.Now()) })()
	d.enc.begin(frameEcho)
	d.enc.b = append(d.enc.b, payload...)
	frame, err := d.enc.finish()
	if err != nil {
		return nil, err
	}
	if _, err := d.c.Write(frame); err != nil {
		return nil, err
	}
	t, p, err := d.fr.next()
	if err != nil {
		return nil, err
	}
	if t != frameEcho {
		return nil, fmt.Errorf("unexpected frame type %q", t)
	}
	return append([]byte(nil), p...), nil
}

// errNoDeadline refuses a call without a deadline: the supervisor decides
// every call's deadline, nothing on the way invents one.
var errNoDeadline = errors.New("call worker: the call has no deadline")

// Call runs one call on the connection: it writes the call frame, carrying
// deadline (absolute, decided by the supervisor; the worker ends the call
// there with a *CallError of KindTimeout), and answers host calls (with
// host, scoped to function) until the result or error frame arrives. A
// *CallError is a failure inside the call; after any other error the
// connection must be closed. ctx is the caller's: when it ends, Call waits
// CancelGrace more for the answer, then gives up on the connection.
func (d *ClientConn) Call(ctx context.Context, req *Request, deadline time.Time, host Host, function string) (*Response, error) {
	if deadline.IsZero() {
		return nil, errNoDeadline
	}
	// When ctx ends, give the worker CancelGrace to report its own timeout,
	// then make the blocked read fail.
	defer d.unwatch(d.watch(ctx, CancelGrace))

	d.enc.begin(frameCall)
	d.enc.request(req, deadline)
	frame, err := d.enc.finish()
	if err != nil {
		return nil, fmt.Errorf("call worker: %w", err)
	}
	if _, err := d.c.Write(frame); err != nil {
		return nil, fmt.Errorf("call worker: send request: %w", err)
	}
	for {
		t, p, err := d.fr.next()
		if err != nil {
			if e := d.contextErr(); e != nil {
				return nil, fmt.Errorf("call worker: %w", e)
			}
			return nil, fmt.Errorf("call worker: read reply: %w", err)
		}
		dec := decoder{b: p}
		switch t {
		case frameResult:
			resp := &Response{}
			dec.response(resp)
			if dec.err != nil {
				return nil, fmt.Errorf("call worker: decode response: %w", dec.err)
			}
			return resp, nil
		case frameError:
			ce := &CallError{}
			dec.callError(ce)
			if dec.err != nil {
				return nil, fmt.Errorf("call worker: decode error: %w", dec.err)
			}
			return nil, ce
		case frameHost:
			if err := d.serveHost(ctx, &dec, host, function); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("call worker: unexpected frame type %q", t)
		}
	}
}

// serveHost answers one host call frame.
func (d *ClientConn) serveHost(ctx context.Context, dec *decoder, host Host, function string) error {
	op := dec.byte1()
	e := &d.enc
	e.begin(frameHostReply)
	var herr error
	if host == nil {
		herr = errNoHost
	}
	switch op {
	case opKVGet:
		key := dec.str()
		if herr == nil && dec.err == nil {
			var v []byte
			var found bool
			if v, found, herr = host.KVGet(ctx, function, key); herr == nil {
				e.byte1(0)
				e.byte1(b2u(found))
				e.bytes(v)
			}
		}
	case opKVSet:
		key, val, ttl := dec.str(), dec.bytes(), dec.duration()
		if herr == nil && dec.err == nil {
			if herr = host.KVSet(ctx, function, key, val, ttl); herr == nil {
				e.byte1(0)
			}
		}
	case opKVDelete:
		key := dec.str()
		if herr == nil && dec.err == nil {
			if herr = host.KVDelete(ctx, function, key); herr == nil {
				e.byte1(0)
			}
		}
	case opKVIncr:
		key, delta := dec.str(), dec.varint()
		if herr == nil && dec.err == nil {
			var n int64
			if n, herr = host.KVIncr(ctx, function, key, delta); herr == nil {
				e.byte1(0)
				e.varint(n)
			}
		}
	case opKVList:
		prefix, limit := dec.str(), int(dec.uvarint())
		if herr == nil && dec.err == nil {
			var list []KVEntry
			if list, herr = host.KVList(ctx, function, prefix, limit); herr == nil {
				e.byte1(0)
				e.uvarint(uint64(len(list)))
				for _, kv := range list {
					e.str(kv.Key)
					e.bytes(kv.Value)
				}
			}
		}
	case opSecretGet:
		name := dec.str()
		if herr == nil && dec.err == nil {
			var v string
			var found bool
			if v, found, herr = host.SecretGet(ctx, function, name); herr == nil {
				e.byte1(0)
				e.byte1(b2u(found))
				e.str(v)
			}
		}
	case opHTTPRequest:
		req := &HTTPRequest{Method: dec.str(), URL: dec.str(), Headers: dec.strMap(), Body: dec.bytes(), Timeout: dec.duration()}
		if herr == nil && dec.err == nil {
			var resp *HTTPResponse
			if resp, herr = host.HTTPRequest(ctx, function, req); herr == nil {
				e.byte1(0)
				e.uvarint(uint64(resp.Status))
				e.strMap(resp.Headers)
				e.bytes(resp.Body)
			}
		}
	default:
		if !serveBlob(ctx, op, dec, e, host, function, &herr) {
			return fmt.Errorf("call worker: unknown host call %d", op)
		}
	}
	if dec.err != nil {
		return fmt.Errorf("call worker: decode host call: %w", dec.err)
	}
	if herr != nil {
		e.begin(frameHostReply)
		e.byte1(1)
		e.str(herr.Error())
	}
	frame, err := e.finish()
	if err != nil {
		return fmt.Errorf("call worker: host reply: %w", err)
	}
	if _, err := d.c.Write(frame); err != nil {
		return fmt.Errorf("call worker: send host reply: %w", err)
	}
	return nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

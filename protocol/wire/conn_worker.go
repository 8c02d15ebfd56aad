package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// DataConn is the worker's end of one data connection. The worker reads a
// call with ReadCall, runs it (making host calls through the DataConn, which
// implements Host by asking the supervisor on the same connection) and
// answers with WriteResponse or WriteError. One goroutine uses a DataConn.
type DataConn struct {
	c   net.Conn
	fr  frameReader
	enc encoder
}

var _ Host = (*DataConn)(nil)

// NewDataConn wraps an accepted data connection.
func NewDataConn(c net.Conn) *DataConn {
	return &DataConn{c: c, fr: frameReader{r: bufio.NewReaderSize(c, 16<<10)}}
}

// Close closes the connection.
func (d *DataConn) Close() error { return d.c.Close() }

// ReadCall waits for the next call and decodes it into req, returning the
// call's deadline: the absolute time the supervisor decided, which the
// worker enforces as is. A call frame without one is an error. It returns
// io.EOF when the supervisor closed the connection.
func (d *DataConn) ReadCall(req *Request) (time.Time, error) {
	t, p, err := d.fr.next()
	for err == nil && t == frameEcho {
		d.enc.begin(frameEcho)
		d.enc.b = append(d.enc.b, p...)
		if err = d.send(); err == nil {
			t, p, err = d.fr.next()
		}
	}
	if err != nil {
		return time.Time{}, err
	}
	if t != frameCall {
		return time.Time{}, fmt.Errorf("read call: unexpected frame type %q", t)
	}
	dec := decoder{b: p}
	deadline := dec.request(req)
	if dec.err != nil {
		return time.Time{}, fmt.Errorf("read call: %w", dec.err)
	}
	if deadline.IsZero() {
		return time.Time{}, errors.New("read call: the call frame has no deadline")
	}
	return deadline, nil
}

// WriteResponse sends the result of the current call.
func (d *DataConn) WriteResponse(resp *Response) error {
	d.enc.begin(frameResult)
	d.enc.response(resp)
	return d.send()
}

// WriteError sends the failure of the current call.
func (d *DataConn) WriteError(ce *CallError) error {
	d.enc.begin(frameError)
	d.enc.callError(ce)
	return d.send()
}

func (d *DataConn) send() error {
	frame, err := d.enc.finish()
	if err != nil {
		return err
	}
	_, err = d.c.Write(frame)
	// Do not keep a huge buffer alive after a big frame.
	if cap(d.enc.b) > 1<<20 {
		d.enc.b = nil
	}
	return err
}

// HostError is an error the supervisor's Host returned for a host call.
type HostError struct{ Message string }

// Error returns the Host's message.
func (e *HostError) Error() string { return e.Message }

// hostCall sends the frame being built and returns the decoded reply
// payload (after its ok byte). The wait for the reply is bounded by ctx's
// deadline; after a transport error the connection is unusable.
func (d *DataConn) hostCall(ctx context.Context) (*decoder, error) {
	if err := d.send(); err != nil {
		return nil, fmt.Errorf("host call: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = d.c.SetReadDeadline(dl)
		defer d.c.SetReadDeadline(time.Time{})
	}
	t, p, err := d.fr.next()
	if err != nil {
		return nil, fmt.Errorf("host call: %w", err)
	}
	if t != frameHostReply {
		return nil, fmt.Errorf("host call: unexpected frame type %q", t)
	}
	dec := &decoder{b: p}
	if dec.byte1() != 0 {
		msg := dec.str()
		if dec.err != nil {
			return nil, fmt.Errorf("host call: %w", dec.err)
		}
		return nil, &HostError{Message: msg}
	}
	return dec, nil
}

func (d *DataConn) beginHost(op byte) {
	d.enc.begin(frameHost)
	d.enc.byte1(op)
}

func decErr(dec *decoder) error {
	if dec.err != nil {
		return fmt.Errorf("host call: %w", dec.err)
	}
	return nil
}

// KVGet asks the supervisor; function is ignored (the supervisor knows it).
func (d *DataConn) KVGet(ctx context.Context, _, key string) ([]byte, bool, error) {
	d.beginHost(opKVGet)
	d.enc.str(key)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return nil, false, err
	}
	found := dec.byte1() == 1
	v := dec.bytes()
	return v, found, decErr(dec)
}

// KVSet asks the supervisor; function is ignored.
func (d *DataConn) KVSet(ctx context.Context, _, key string, value []byte, ttl time.Duration) error {
	d.beginHost(opKVSet)
	d.enc.str(key)
	d.enc.bytes(value)
	d.enc.duration(ttl)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return err
	}
	return decErr(dec)
}

// KVDelete asks the supervisor; function is ignored.
func (d *DataConn) KVDelete(ctx context.Context, _, key string) error {
	d.beginHost(opKVDelete)
	d.enc.str(key)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return err
	}
	return decErr(dec)
}

// KVIncr asks the supervisor; function is ignored.
func (d *DataConn) KVIncr(ctx context.Context, _, key string, delta int64) (int64, error) {
	d.beginHost(opKVIncr)
	d.enc.str(key)
	d.enc.varint(delta)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return 0, err
	}
	n := dec.varint()
	return n, decErr(dec)
}

// KVList asks the supervisor; function is ignored.
func (d *DataConn) KVList(ctx context.Context, _, prefix string, limit int) ([]KVEntry, error) {
	if limit < 0 {
		return nil, errors.New("kv.list: negative limit")
	}
	d.beginHost(opKVList)
	d.enc.str(prefix)
	d.enc.uvarint(uint64(limit))
	dec, err := d.hostCall(ctx)
	if err != nil {
		return nil, err
	}
	n := dec.count()
	list := make([]KVEntry, n)
	for i := range list {
		list[i].Key = dec.str()
		list[i].Value = dec.bytes()
	}
	return list, decErr(dec)
}

// SecretGet asks the supervisor; function is ignored.
func (d *DataConn) SecretGet(ctx context.Context, _, name string) (string, bool, error) {
	d.beginHost(opSecretGet)
	d.enc.str(name)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return "", false, err
	}
	found := dec.byte1() == 1
	v := dec.str()
	return v, found, decErr(dec)
}

// HTTPRequest asks the supervisor to make the request; function is ignored.
func (d *DataConn) HTTPRequest(ctx context.Context, _ string, req *HTTPRequest) (*HTTPResponse, error) {
	d.beginHost(opHTTPRequest)
	d.enc.str(req.Method)
	d.enc.str(req.URL)
	d.enc.strMap(req.Headers)
	d.enc.bytes(req.Body)
	d.enc.duration(req.Timeout)
	dec, err := d.hostCall(ctx)
	if err != nil {
		return nil, err
	}
	resp := &HTTPResponse{Status: int(dec.uvarint()), Headers: dec.strMap(), Body: dec.bytes()}
	return resp, decErr(dec)
}

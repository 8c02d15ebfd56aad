package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedFrames are valid frames of every type, the seed corpus of the
// decoder fuzz targets.
func seedFrames(tb testing.TB) [][]byte {
	var frames [][]byte
	add := func(e *encoder) {
		b, err := e.finish()
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), b...))
	}
	var e encoder
	e.begin(frameCall)
	e.request(&Request{InvocationID: "inv", Method: "POST", Path: "/a",
		Query:   map[string][]string{"q": {"1", ""}},
		Headers: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"a":1}`),
		Trigger: TriggerEvent, Event: []byte(`{"topic":"t"}`)}, time.Unix(1700000000, 123))
	add(&e)
	e.begin(frameResult)
	e.response(&Response{Status: 200, Headers: map[string]string{"x": "y"}, Body: []byte("ok"),
		Logs:   []LogEntry{{Time: time.Unix(0, 5), Level: "info", Message: "m"}},
		Events: []Event{{Topic: "t", Payload: []byte("1")}}, LogsDropped: 2})
	add(&e)
	e.begin(frameError)
	e.callError(&CallError{Kind: KindTimeout, Message: "timed out", Traceback: "tb"})
	add(&e)
	e.begin(frameHost)
	e.byte1(opHTTPRequest)
	e.str("POST")
	e.str("https://example.com/x")
	e.strMap(map[string]string{"a": "b"})
	e.bytes([]byte("body"))
	e.duration(time.Second)
	add(&e)
	for _, op := range []byte{opKVGet, opKVSet, opKVDelete, opKVIncr, opKVList, opSecretGet} {
		e.begin(frameHost)
		e.byte1(op)
		e.str("key")
		e.bytes([]byte(`"v"`))
		e.varint(3)
		add(&e)
	}
	e.begin(frameHostReply)
	e.byte1(1)
	e.str("host error")
	add(&e)
	e.begin(frameEcho)
	e.b = append(e.b, "ping"...)
	add(&e)
	return frames
}

// FuzzDecodeFrames reads arbitrary bytes as a stream of frames: no input
// may panic or allocate beyond its size, and whatever decodes re-encodes
// to a frame that decodes to the same value.
func FuzzDecodeFrames(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'R'})
	f.Add([]byte{0, 0, 0, 6, 'C', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := frameReader{r: bytes.NewReader(data)}
		for {
			typ, p, err := fr.next()
			if err != nil {
				return
			}
			dec := decoder{b: p}
			var e encoder
			switch typ {
			case frameCall:
				var r Request
				dl := dec.request(&r)
				if dec.err != nil {
					continue
				}
				e.begin(frameCall)
				e.request(&r, dl)
				var r2 Request
				d2 := decoder{b: e.b[5:]}
				dl2 := d2.request(&r2)
				if d2.err != nil || !dl2.Equal(dl) || !reflect.DeepEqual(r, r2) {
					t.Fatalf("request round trip: %+v %v != %+v %v (%v)", r, dl, r2, dl2, d2.err)
				}
			case frameResult:
				var r Response
				dec.response(&r)
				if dec.err != nil {
					continue
				}
				e.begin(frameResult)
				e.response(&r)
				var r2 Response
				d2 := decoder{b: e.b[5:]}
				d2.response(&r2)
				if d2.err != nil || !reflect.DeepEqual(r, r2) {
					t.Fatalf("response round trip: %+v != %+v (%v)", r, r2, d2.err)
				}
			case frameError:
				var c CallError
				dec.callError(&c)
				if dec.err != nil {
					continue
				}
				e.begin(frameError)
				e.callError(&c)
				var c2 CallError
				d2 := decoder{b: e.b[5:]}
				d2.callError(&c2)
				if d2.err != nil || !reflect.DeepEqual(c, c2) {
					t.Fatalf("error round trip: %+v != %+v (%v)", c, c2, d2.err)
				}
			}
		}
	})
}

// scriptedConn is a net.Conn whose reads come from a fixed script (what a
// peer sent) and whose writes are discarded.
type scriptedConn struct{ r io.Reader }

func (c *scriptedConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptedConn) Close() error                     { return nil }
func (c *scriptedConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *scriptedConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzHost answers every host call with small values.
type fuzzHost struct{}

func (fuzzHost) KVGet(context.Context, string, string) ([]byte, bool, error) {
	return []byte("1"), true, nil
}
func (fuzzHost) KVSet(context.Context, string, string, []byte, time.Duration) error {
	return nil
}
func (fuzzHost) KVDelete(context.Context, string, string) error { return nil }
func (fuzzHost) KVIncr(context.Context, string, string, int64) (int64, error) {
	return 1, nil
}
func (fuzzHost) KVList(context.Context, string, string, int) ([]KVEntry, error) {
	return []KVEntry{{Key: "k", Value: []byte("1")}}, nil
}
func (fuzzHost) SecretGet(context.Context, string, string) (string, bool, error) {
	return "", false, errors.New("no secrets here")
}
func (fuzzHost) HTTPRequest(context.Context, string, *HTTPRequest) (*HTTPResponse, error) {
	return &HTTPResponse{Status: 200, Headers: map[string]string{"a": "b"}, Body: []byte("ok")}, nil
}

// FuzzClientConnReadsWorker is the supervisor reading whatever a worker
// (possibly compromised) sends during a call: host calls, results,
// errors, garbage. Call must return (a result, a *CallError or an error),
// never panic.
func FuzzClientConnReadsWorker(f *testing.F) {
	frames := seedFrames(f)
	for _, fr := range frames {
		f.Add(fr)
	}
	// A host call, then a result.
	f.Add(append(append([]byte(nil), frames[3]...), frames[1]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cc := newClientConn(&scriptedConn{r: bytes.NewReader(data)})
		resp, err := cc.Call(context.Background(), &Request{Method: "GET"}, time.Now().Add(time.Minute), fuzzHost{}, "f")
		if err == nil && resp == nil {
			t.Fatal("no response and no error")
		}
		var ce *CallError
		if err != nil && !errors.As(err, &ce) && strings.TrimSpace(err.Error()) == "" {
			t.Fatal("an error without a message")
		}
	})
}

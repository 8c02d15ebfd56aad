package wire

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestWire_RequestRoundTrip(t *testing.T) {
	req := &Request{InvocationID: "inv", Method: "POST", Path: "/a/b",
		Query:   map[string][]string{"a": {"1", "2"}, "b": {""}},
		Headers: map[string]string{"x-a": "1"}, Body: []byte("body"), Trigger: TriggerEvent, Event: []byte(`{"x":1}`)}
	var e encoder
	e.begin(frameCall)
	deadline := time.Unix(0, time.Now().Add(1500*time.Millisecond).UnixNano())
	e.request(req, deadline)
	frame, err := e.finish()
	if err != nil {
		t.Fatal(err)
	}
	fr := frameReader{r: bytes.NewReader(frame)}
	typ, p, err := fr.next()
	if err != nil || typ != frameCall {
		t.Fatalf("next: %q %v", typ, err)
	}
	var got Request
	d := decoder{b: p}
	gotDeadline := d.request(&got)
	if d.err != nil || !gotDeadline.Equal(deadline) || !reflect.DeepEqual(&got, req) {
		t.Fatalf("got %+v %v %v", got, gotDeadline, d.err)
	}
}

func TestWire_ResponseAndErrorRoundTrip(t *testing.T) {
	now := time.Unix(0, time.Now().UnixNano())
	resp := &Response{Status: 201, Headers: map[string]string{"content-type": "text/plain"}, Body: []byte("x"),
		Logs:   []LogEntry{{Time: now, Level: "info", Message: "m"}},
		Events: []Event{{Topic: "t", Payload: []byte(`1`)}}, LogsDropped: 3}
	var e encoder
	e.begin(frameResult)
	e.response(resp)
	var got Response
	d := decoder{b: e.b[5:]}
	d.response(&got)
	if d.err != nil || !reflect.DeepEqual(&got, resp) {
		t.Fatalf("got %+v, want %+v (%v)", got, resp, d.err)
	}
	ce := &CallError{Kind: KindScript, Message: "m", Traceback: "tb", Logs: resp.Logs, LogsDropped: 1}
	e.begin(frameError)
	e.callError(ce)
	var gotErr CallError
	d = decoder{b: e.b[5:]}
	d.callError(&gotErr)
	if d.err != nil || !reflect.DeepEqual(&gotErr, ce) {
		t.Fatalf("got %+v, want %+v", gotErr, ce)
	}
}

func TestWire_CorruptFramesAreErrors(t *testing.T) {
	// A count larger than the payload must not allocate or panic.
	d := decoder{b: []byte{0, 0xff, 0xff, 0xff, 0x7f}}
	var r Response
	d.response(&r)
	if d.err == nil {
		t.Fatal("decoded a corrupt response")
	}
	fr := frameReader{r: bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 'R'})}
	if _, _, err := fr.next(); err == nil {
		t.Fatal("read a frame over MaxFrameBytes")
	}
	fr = frameReader{r: bytes.NewReader([]byte{0, 0, 0, 9, 'R', 1})}
	if _, _, err := fr.next(); err == nil {
		t.Fatal("read a truncated frame")
	}
}

package api

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/picloud/picloud/functions"
)

func TestInvocationView_ResultOnlyOnTheSingleView(t *testing.T) {
	inv := &functions.Invocation{ID: "i", Status: functions.StatusSucceeded, HTTPStatus: 201, Result: []byte("done")}
	if v := invocationView(inv, false); v.Result != nil {
		t.Fatalf("list view has a result: %+v", v.Result)
	}
	v := invocationView(inv, true)
	if v.Result == nil || v.Result.Status != 201 || v.Result.Body != "done" || v.Result.BodyBase64 != "" || v.Result.Truncated {
		t.Fatalf("result = %+v", v.Result)
	}
	// No stored result (a synchronous call): none shown.
	if v := invocationView(&functions.Invocation{ID: "s", HTTPStatus: 200}, true); v.Result != nil {
		t.Fatalf("result without a stored body: %+v", v.Result)
	}
}

func TestResultView_BinaryAndTruncatedBodies(t *testing.T) {
	bin := []byte{0xff, 0x00, 'a'}
	r := resultView(&functions.Invocation{HTTPStatus: 200, Result: bin})
	if r.Body != "" || r.BodyBase64 != base64.StdEncoding.EncodeToString(bin) {
		t.Fatalf("binary body: %+v", r)
	}
	// A cut in the middle of "é" (2 bytes) drops the partial tail.
	cut := []byte(strings.Repeat("a", 10) + "é")[:11]
	r = resultView(&functions.Invocation{HTTPStatus: 200, Result: cut, ResultTruncated: true})
	if r.Body != strings.Repeat("a", 10) || r.BodyBase64 != "" || !r.Truncated {
		t.Fatalf("truncated body: %+v", r)
	}
}

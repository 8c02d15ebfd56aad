package wire

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// A net/rpc server for the few methods go-plugin's client calls, speaking
// net/rpc's gob wire format (a request header {ServiceMethod, Seq} then the
// argument; a response header {ServiceMethod, Seq, Error} then the reply).
// Importing net/rpc would link net/http, crypto/tls and html/template
// (its debug pages) into the worker and slow every cold start.

// rpcRequest and rpcResponse have the fields of net/rpc's Request and
// Response (gob matches fields by name).
type rpcRequest struct {
	ServiceMethod string
	Seq           uint64
}

type rpcResponse struct {
	ServiceMethod string
	Seq           uint64
	Error         string
}

// rpcMethod decodes its argument with dec and returns the reply.
type rpcMethod func(dec *gob.Decoder) (any, error)

// errArgs marks a failure to decode a method's argument: the stream is out
// of step and must end.
var errArgs = errors.New("decode rpc argument")

// arg decodes one argument of type T.
func arg[T any](dec *gob.Decoder) (T, error) {
	var v T
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("%w: %w", errArgs, err)
	}
	return v, nil
}

// serveRPC answers requests on conn one at a time until it closes.
func serveRPC(conn io.ReadWriteCloser, methods map[string]rpcMethod) {
	defer conn.Close()
	buf := bufio.NewWriter(conn)
	dec := gob.NewDecoder(bufio.NewReader(conn))
	enc := gob.NewEncoder(buf)
	for {
		var req rpcRequest
		if err := dec.Decode(&req); err != nil {
			return
		}
		resp := rpcResponse{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		var reply any = struct{}{}
		m, ok := methods[req.ServiceMethod]
		if !ok {
			// Discard the argument, as net/rpc does.
			if err := dec.DecodeValue(reflect.Value{}); err != nil {
				return
			}
			resp.Error = "rpc: can't find method " + req.ServiceMethod
		} else {
			r, err := m(dec)
			if errors.Is(err, errArgs) {
				return
			}
			if err != nil {
				resp.Error = err.Error()
			} else {
				reply = r
			}
		}
		if err := enc.Encode(&resp); err != nil {
			return
		}
		if err := enc.Encode(reply); err != nil {
			return
		}
		if err := buf.Flush(); err != nil {
			return
		}
	}
}

// controlMethods are the worker's control calls, as "Plugin.<method>".
func controlMethods(s *ControlServer) map[string]rpcMethod {
	return map[string]rpcMethod{
		"Plugin.Info": func(dec *gob.Decoder) (any, error) {
			if _, err := arg[struct{}](dec); err != nil {
				return nil, err
			}
			var info WorkerInfo
			err := s.Info(struct{}{}, &info)
			return &info, err
		},
		"Plugin.Load": func(dec *gob.Decoder) (any, error) {
			spec, err := arg[FunctionSpec](dec)
			if err != nil {
				return nil, err
			}
			var reply LoadReply
			err = s.Load(spec, &reply)
			return &reply, err
		},
		"Plugin.Stats": func(dec *gob.Decoder) (any, error) {
			if _, err := arg[struct{}](dec); err != nil {
				return nil, err
			}
			var st WorkerStats
			err := s.Stats(struct{}{}, &st)
			return &st, err
		},
	}
}

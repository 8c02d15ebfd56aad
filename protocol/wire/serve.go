package wire

import (
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// quitLinger bounds how long Serve waits after Quit for the supervisor to
// close the connection.
const quitLinger = 200 * time.Millisecond

// coreProtocolVersion is go-plugin's own protocol version (its
// CoreProtocolVersion), the first field of the handshake line.
const coreProtocolVersion = 1

// Serve is the worker's end of go-plugin's net/rpc protocol, written
// without importing go-plugin (whose gRPC and protobuf packages would
// double the worker's start-up cost): it prints the handshake line on
// stdout for the listener ln, accepts the supervisor's connection and
// serves it with ServeConn. The caller checks the magic cookie first.
func Serve(w Worker, ln net.Listener) error {
	if _, err := fmt.Fprint(os.Stdout, HandshakeLine(ln.Addr())); err != nil {
		return fmt.Errorf("write handshake: %w", err)
	}
	conn, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept supervisor connection: %w", err)
	}
	// One supervisor per worker: no more connections.
	ln.Close()
	return ServeConn(w, conn)
}

// HandshakeLine is the line a go-plugin server prints on stdout for the
// client to connect: core protocol version, app protocol version, network,
// address, protocol.
func HandshakeLine(addr net.Addr) string {
	return fmt.Sprintf("%d|%d|%s|%s|netrpc|\n", coreProtocolVersion, ProtocolVersion, addr.Network(), addr.String())
}

// ServeConn serves one supervisor connection as go-plugin's RPCServer
// does: it runs yamux on conn, serves go-plugin's "Control" (Ping, Quit)
// and "Dispenser" services on the control stream and the Worker as
// "Plugin" on the dispensed stream. It returns when the supervisor calls
// Quit (go-plugin's Kill does) or closes the connection, or if serving
// fails.
func ServeConn(w Worker, conn io.ReadWriteCloser) error {
	mux, err := yamux.Server(conn, nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("start yamux: %w", err)
	}
	defer mux.Close()
	control, err := mux.Accept()
	if err != nil {
		return fmt.Errorf("accept control stream: %w", err)
	}
	// go-plugin's client then opens stdout and stderr streams; the worker
	// writes nothing to them (its log goes to the real stderr, which
	// go-plugin's client reads).
	for i := 0; i < 2; i++ {
		s, err := mux.Accept()
		if err != nil {
			return fmt.Errorf("accept std stream %d: %w", i, err)
		}
		defer s.Close()
	}

	done := make(chan struct{})
	var quitOnce sync.Once
	quit := func() { quitOnce.Do(func() { close(done) }) }
	b := &broker{mux: mux, pending: map[uint32]bool{}, impl: NewControlServer(w)}
	go b.run()

	ctl := &pluginControl{quit: quit}
	disp := &dispenser{b: b}
	methods := map[string]rpcMethod{
		"Control.Ping": func(dec *gob.Decoder) (any, error) {
			if _, err := arg[bool](dec); err != nil {
				return nil, err
			}
			var r struct{}
			return &r, ctl.Ping(false, &r)
		},
		"Control.Quit": func(dec *gob.Decoder) (any, error) {
			if _, err := arg[bool](dec); err != nil {
				return nil, err
			}
			var r struct{}
			return &r, ctl.Quit(false, &r)
		},
		"Dispenser.Dispense": func(dec *gob.Decoder) (any, error) {
			name, err := arg[string](dec)
			if err != nil {
				return nil, err
			}
			var id uint32
			err = disp.Dispense(name, &id)
			return &id, err
		},
	}
	go func() {
		serveRPC(control, methods)
		quit()
	}()
	select {
	case <-done:
		// Quit: let the supervisor close its end first, so its yamux does
		// not log a broken pipe.
		select {
		case <-mux.CloseChan():
		case <-time.After(quitLinger):
		}
	case <-mux.CloseChan():
	}
	return nil
}

// pluginControl is go-plugin's "Control" service.
type pluginControl struct{ quit func() }

// Ping answers go-plugin's health check.
func (c *pluginControl) Ping(_ bool, resp *struct{}) error {
	*resp = struct{}{}
	return nil
}

// Quit ends Serve (go-plugin's Kill calls it before killing).
func (c *pluginControl) Quit(_ bool, resp *struct{}) error {
	*resp = struct{}{}
	c.quit()
	return nil
}

// dispenser is go-plugin's "Dispenser" service.
type dispenser struct{ b *broker }

// Dispense reserves a stream id for the named plugin; the client then
// opens a yamux stream announcing that id and the Worker is served on it.
func (d *dispenser) Dispense(name string, resp *uint32) error {
	if name != PluginName {
		return fmt.Errorf("unknown plugin type: %s", name)
	}
	*resp = d.b.reserve()
	return nil
}

// broker is the server side of go-plugin's MuxBroker for dispensed
// plugins: a stream starts with its id (uint32, little endian), answered
// with the same id, then carries net/rpc.
type broker struct {
	mux  *yamux.Session
	impl *ControlServer

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]bool
}

func (b *broker) reserve() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	b.pending[b.nextID] = true
	return b.nextID
}

func (b *broker) run() {
	for {
		stream, err := b.mux.AcceptStream()
		if err != nil {
			return
		}
		go b.serve(stream)
	}
}

func (b *broker) serve(stream net.Conn) {
	defer stream.Close()
	var id uint32
	if err := binary.Read(stream, binary.LittleEndian, &id); err != nil {
		return
	}
	b.mu.Lock()
	ok := b.pending[id]
	delete(b.pending, id)
	b.mu.Unlock()
	if !ok {
		return
	}
	if err := binary.Write(stream, binary.LittleEndian, id); err != nil {
		return
	}
	serveRPC(stream, controlMethods(b.impl))
}

// errNoHost is returned by host calls made without a host.
var errNoHost = errors.New("no host services for this call")

var _ io.Closer = (*DataConn)(nil)

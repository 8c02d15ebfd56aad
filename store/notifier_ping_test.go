package store_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
	"github.com/picloud/picloud/store/storetest"
)

// silentProxy forwards TCP connections to target until freeze: from then
// on the connections it already carries pass nothing either way and are
// never closed (a network cut, or a database host gone without a word),
// while new connections are forwarded normally.
type silentProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	frozen chan struct{} // closed by freeze; replaced for later conns
	conns  []net.Conn
}

func newSilentProxy(t *testing.T, target string) *silentProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &silentProxy{ln: ln, target: target, frozen: make(chan struct{})}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	go p.serve()
	return p
}

func (p *silentProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		frozen := p.frozen
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go pipe(up, c, frozen)
		go pipe(c, up, frozen)
	}
}

// pipe copies src to dst until frozen is closed, then swallows src.
func pipe(dst, src net.Conn, frozen <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			if err != nil {
				return
			}
			continue // dropped
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

// freeze silences every connection made so far.
func (p *silentProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.frozen)
	p.frozen = make(chan struct{})
}

// TestNotifier_SilentlyBrokenConnectionIsFoundAndSubscribersCatchUp: the
// LISTEN connection stops carrying anything without being closed (a
// notification sent meanwhile is lost); the notifier's ping finds it,
// tells its subscribers the connection was lost and is back (so they
// catch up), and notifications flow again.
func TestNotifier_SilentlyBrokenConnectionIsFoundAndSubscribersCatchUp(t *testing.T) {
	t.Parallel()
	ctx := stCtx(t)
	dbURL := storetest.NewDB(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := newSilentProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	viaProxy := stOpen(t, u.String())
	direct := stOpen(t, dbURL)

	got := make(chan string, 16)
	states := make(chan bool, 16)
	n := viaProxy.NewNotifier(store.NotifierConfig{MinBackoff: 10 * time.Millisecond,
		PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	n.Subscribe("picloud_ping_test", func(p string) { got <- p }, func(up bool) { states <- up })
	require.NoError(t, n.Start(ctx))
	defer n.Stop()
	require.True(t, <-states)
	notify := func(payload string) {
		_, err := direct.Pool().Exec(ctx, "SELECT pg_notify('picloud_ping_test', $1)", payload)
		require.NoError(t, err)
	}
	notify("before")
	require.Equal(t, "before", <-got)

	proxy.freeze()
	notify("lost")
	wait := func(want bool) {
		select {
		case up := <-states:
			require.Equal(t, want, up)
		case <-time.After(time.Minute):
			t.Fatalf("the notifier did not report the connection up=%v", want)
		}
	}
	start := time.Now()
	wait(false)
	wait(true)
	t.Logf("silent connection found and replaced after %s (ping every 200ms, 200ms to answer)", time.Since(start).Round(time.Millisecond))
	notify("after")
	for p := range got {
		if p == "after" {
			break
		}
		require.NotEqual(t, "lost", p, "the lost notification cannot arrive on a frozen connection")
	}
}

package outbound

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clientFor returns the HTTP client of a function version's grants. Each
// set of grants has its own client, and so its own idle connections: a
// connection dialled under one set is never reused under another.
func (c *Client) clientFor(grants []string) (*http.Client, error) {
	key := strings.Join(slices.Sorted(slices.Values(grants)), ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.clients[key]; hc != nil {
		return hc, nil
	}
	ps, err := ParsePatterns(grants)
	if err != nil {
		return nil, fmt.Errorf("the function's --allow-net: %w", err)
	}
	if len(c.clients) >= maxClients {
		for k, old := range c.clients { // drop any one
			old.CloseIdleConnections()
			delete(c.clients, k)
			break
		}
	}
	pol := &policy{grants: ps, nodeAllow: c.nodeAllow, nodeDeny: c.nodeDeny}
	tr := &http.Transport{
		Proxy:                  nil, // never a proxy from the environment: it would dial for us
		DialContext:            c.dialer(pol),
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{RootCAs: c.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	hc := &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	c.clients[key] = hc
	return hc, nil
}

// checkRedirect bounds redirects and keeps them to http and https; the
// destination of each is checked when its connection is dialled.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.cfg.MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", c.cfg.MaxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("redirect to a %s URL: only http and https URLs can be requested", s)
	}
	return nil
}

// dialer returns the DialContext of a client under pol. It resolves the
// name itself, then dials each address with a Control hook that checks the
// address the socket is about to connect to: what is checked is what is
// dialled, whatever DNS answered before or answers after.
func (c *Client) dialer(pol *policy) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", portText, err)
		}
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = c.resolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		if len(ips) > maxAddrs {
			ips = ips[:maxAddrs]
		}
		d := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialled address %q: %w", address, err)
			}
			return pol.check(name, ap.Addr(), int(ap.Port()))
		}}
		var first error
		for _, ip := range ips {
			conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
			if err == nil {
				return conn, nil
			}
			if first == nil {
				first = err
			}
			if ctx.Err() != nil {
				break
			}
		}
		if first == nil {
			first = fmt.Errorf("%s has no address", host)
		}
		return nil, first
	}
}

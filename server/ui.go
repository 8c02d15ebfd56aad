package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/api"
)

// uiShutdownTimeout bounds the dashboard listener's drain.
const uiShutdownTimeout = 5 * time.Second

// startUI serves the dashboard on its own listener (cfg.UIListener, else
// cfg.UIListen), so that no function answer, served on the data plane's
// origin, ever runs on the dashboard's. It does nothing when neither is
// set. The returned stop drains it; it is safe to call once.
func startUI(cfg Config, h *api.API, feed *api.InvocationFeed, log hclog.Logger) (stop func(), err error) {
	ln := cfg.UIListener
	if ln == nil && cfg.UIListen == "" {
		return func() {}, nil
	}
	ui, err := h.UI(api.UIOptions{Invocations: feed, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, fmt.Errorf("build dashboard: %w", err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.UIListen); err != nil {
			return nil, fmt.Errorf("listen for the dashboard on %s: %w", cfg.UIListen, err)
		}
	}
	srv := &http.Server{
		Handler:           ui,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("dashboard listener failed", "error", err)
		}
	}()
	log.Info("serving the dashboard", "url", "http://"+ln.Addr().String()+"/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), uiShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}

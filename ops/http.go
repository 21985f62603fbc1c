package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTPConfig is the operations endpoint: /healthz, /readyz, /metrics.
type HTTPConfig struct {
	// Listen is host:port; empty disables the server.
	Listen string `mapstructure:"listen"`
}

// DefaultHTTPListen is where `callstatusd run` serves /healthz, /readyz
// and /metrics unless told otherwise. adapter.DefaultConfig leaves the
// server off so that embedding or testing a daemon takes no fixed port.
const DefaultHTTPListen = "127.0.0.1:9180"

// Validate checks the listen address.
func (c HTTPConfig) Validate() error {
	if c.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("http.listen must be host:port (empty disables), got %q", c.Listen)
	}
	return nil
}

// Handler serves the operations endpoints.
func Handler(health *Health, metrics *Metrics, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", ServeHealthz)
	mux.Handle("GET /readyz", health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry(), promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><body><h1>callstatusd</h1><a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a> <a href="/metrics">/metrics</a></body></html>`)
	})
	return mux
}

// Serve listens on addr and serves h until the returned stop is called;
// bound is the address it listens on. A taken port fails the start: a
// daemon without its health endpoint would look dead to its supervisor.
func Serve(addr string, h http.Handler, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	bound = ln.Addr().String()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("serving /healthz /readyz /metrics", "addr", bound)
	return bound, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

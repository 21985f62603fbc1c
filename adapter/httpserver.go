package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
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

// Handler serves the daemon's operations endpoints.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", ServeHealthz)
	mux.Handle("GET /readyz", d.health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.Registry(), promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><body><h1>callstatusd</h1><a href="/healthz">/healthz</a> <a href="/readyz">/readyz</a> <a href="/metrics">/metrics</a></body></html>`)
	})
	return mux
}

// HTTPAddr is the address the operations server listens on, once it does
// ("" before, or when http.listen is empty).
func (d *Daemon) HTTPAddr() string {
	if a := d.httpAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// Metrics is the daemon's instrumentation.
func (d *Daemon) Metrics() *Metrics { return d.metrics }

// Health is the daemon's readiness tracker.
func (d *Daemon) Health() *Health { return d.health }

// startHTTP listens on http.listen and serves until the returned stop is
// called. A taken port fails the start: a daemon without its health
// endpoint would look dead to its supervisor.
func (d *Daemon) startHTTP() (stop func(), err error) {
	addr := d.cfg.HTTP.Listen
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	bound := ln.Addr().String()
	d.httpAddr.Store(&bound)
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	d.log.Info("serving /healthz /readyz /metrics", "addr", bound)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

func (d *Daemon) sourceNames() []string {
	var out []string
	for _, ns := range d.sources {
		out = append(out, ns.name)
	}
	return out
}

// natsProbe reports the client connection's own state.
func natsProbe(nc *nats.Conn) func() (bool, string) {
	return func() (bool, string) {
		st := nc.Status()
		if st == nats.CONNECTED {
			return true, nc.ConnectedUrlRedacted()
		}
		return false, strings.ToLower(st.String())
	}
}

func amiWire(src *ami.Source) func() WireStats {
	return func() WireStats {
		st := src.Stats()
		return WireStats{ByType: st.ByEvent, Ignored: map[string]uint64{
			"malformed":      st.Malformed,
			"not_translated": st.Skipped,
		}}
	}
}

func ariWire(src *ari.Source) func() WireStats {
	return func() WireStats {
		st := src.Stats()
		return WireStats{ByType: st.ByType, Ignored: map[string]uint64{
			"unknown_type":   st.UnknownTypes,
			"decode_error":   st.DecodeErrors,
			"not_translated": st.Skipped - st.UnknownTypes,
		}}
	}
}

package adapter

import (
	"net/http"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
	"github.com/callstatus/callstatus/ops"
)

// Handler serves the daemon's operations endpoints.
func (d *Daemon) Handler() http.Handler { return ops.Handler(d.health, d.metrics, d.log) }

// HTTPAddr is the address the operations server listens on, once it does
// ("" before, or when http.listen is empty).
func (d *Daemon) HTTPAddr() string {
	if a := d.httpAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// Metrics is the daemon's instrumentation.
func (d *Daemon) Metrics() *ops.Metrics { return d.metrics }

// Health is the daemon's readiness tracker.
func (d *Daemon) Health() *ops.Health { return d.health }

// startHTTP listens on http.listen and serves until the returned stop is
// called.
func (d *Daemon) startHTTP() (stop func(), err error) {
	addr := d.cfg.HTTP.Listen
	if addr == "" {
		return func() {}, nil
	}
	bound, stop, err := ops.Serve(addr, d.Handler(), d.log)
	if err != nil {
		return nil, err
	}
	d.httpAddr.Store(&bound)
	return stop, nil
}

func (d *Daemon) sourceNames() []string {
	var out []string
	for _, ns := range d.sources {
		out = append(out, ns.name)
	}
	return out
}

func amiWire(src *ami.Source) func() ops.WireStats {
	return func() ops.WireStats {
		st := src.Stats()
		return ops.WireStats{ByType: st.ByEvent, Ignored: map[string]uint64{
			"malformed":      st.Malformed,
			"not_translated": st.Skipped,
		}}
	}
}

func ariWire(src *ari.Source) func() ops.WireStats {
	return func() ops.WireStats {
		st := src.Stats()
		return ops.WireStats{ByType: st.ByType, Ignored: map[string]uint64{
			"unknown_type":   st.UnknownTypes,
			"decode_error":   st.DecodeErrors,
			"not_translated": st.Skipped - st.UnknownTypes,
		}}
	}
}

package ops

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReadyz(t *testing.T) {
	type step struct {
		ami, ari   *bool // nil: untouched since start
		amiErr     error
		nats       *bool // nil: no NATS connection yet
		stopping   bool
		wantCode   int
		wantStates map[string]string
		wantAMIErr string
	}
	yes, no := true, false
	tests := map[string]step{
		"just started: everything connecting": {
			wantCode:   503,
			wantStates: map[string]string{"ami": StateConnecting, "ari": StateConnecting, "nats": StateConnecting},
		},
		"all connected": {
			ami: &yes, ari: &yes, nats: &yes,
			wantCode:   200,
			wantStates: map[string]string{"ami": StateConnected, "ari": StateConnected, "nats": StateConnected},
		},
		"AMI lost: not ready, with the error": {
			ami: &no, amiErr: errors.New("ami: read: connection reset"), ari: &yes, nats: &yes,
			wantCode:   503,
			wantStates: map[string]string{"ami": StateDisconnected, "ari": StateConnected, "nats": StateConnected},
			wantAMIErr: "ami: read: connection reset",
		},
		"NATS reconnecting": {
			ami: &yes, ari: &yes, nats: &no,
			wantCode:   503,
			wantStates: map[string]string{"ami": StateConnected, "ari": StateConnected, "nats": StateDisconnected},
		},
		"shutting down": {
			ami: &yes, ari: &yes, nats: &yes, stopping: true,
			wantCode:   503,
			wantStates: map[string]string{"ami": StateStopping, "ari": StateStopping, "nats": StateStopping},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := NewHealth("ami", "ari")
			if tc.ami != nil {
				h.SetSource("ami", *tc.ami, tc.amiErr)
			}
			if tc.ari != nil {
				h.SetSource("ari", *tc.ari, nil)
			}
			if tc.nats != nil {
				up := *tc.nats
				h.SetNATS(func() (bool, string) { return up, "nats://127.0.0.1:4222" })
			}
			if tc.stopping {
				h.Stopping()
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tc.wantCode {
				t.Errorf("code %d, want %d", rec.Code, tc.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var r Readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("body: %v\n%s", err, rec.Body)
			}
			if r.Ready != (tc.wantCode == 200) {
				t.Errorf("ready = %v with code %d", r.Ready, rec.Code)
			}
			for comp, want := range tc.wantStates {
				if got := r.Components[comp].State; got != want {
					t.Errorf("%s: state %q, want %q", comp, got, want)
				}
			}
			if len(r.Components) != len(tc.wantStates) {
				t.Errorf("components %v", r.Components)
			}
			if got := r.Components["ami"].Error; got != tc.wantAMIErr {
				t.Errorf("ami error %q, want %q", got, tc.wantAMIErr)
			}
		})
	}
}

// A source that comes back clears its error and restarts its "since".
func TestReadyzFlipsBack(t *testing.T) {
	h := NewHealth("ami")
	h.SetNATS(func() (bool, string) { return true, "" })
	code := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	for i, s := range []struct {
		up   bool
		want int
	}{{true, 200}, {false, 503}, {true, 200}} {
		h.SetSource("ami", s.up, errors.New("down"))
		if got := code(); got != s.want {
			t.Errorf("step %d (up=%v): %d, want %d", i, s.up, got, s.want)
		}
	}
	if e := h.Readiness().Components["ami"].Error; e != "" {
		t.Errorf("error kept after reconnect: %q", e)
	}
	for name, c := range h.Readiness().Components {
		if c.Since.IsZero() {
			t.Errorf("%s: no since", name)
		}
	}
}

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	ServeHealthz(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Errorf("%d %q", rec.Code, rec.Body)
	}
}

// Every component connected but a check reports a problem: degraded, 503,
// and the problem is listed under the check's name until it clears.
func TestReadyzDegraded(t *testing.T) {
	h := NewHealth("ami")
	h.SetSource("ami", true, nil)
	h.SetNATS(func() (bool, string) { return true, "nats://127.0.0.1:4222" })
	problem := "1 status parked"
	h.AddCheck("publish", func() string { return problem })
	h.AddCheck("outbox", func() string { return "" })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var r Readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || r.Ready || r.Status != StatusDegraded || len(r.Degraded) != 1 || r.Degraded[0] != "publish: 1 status parked" {
		t.Fatalf("code %d, body %s", rec.Code, rec.Body)
	}
	problem = ""
	if r := h.Readiness(); !r.Ready || r.Status != StatusReady || len(r.Degraded) != 0 {
		t.Fatalf("after the problem cleared: %+v", r)
	}
	h.SetSource("ami", false, nil)
	problem = "x"
	if r := h.Readiness(); r.Status != StatusNotReady {
		t.Fatalf("a source down and a problem: status %q, want not_ready", r.Status)
	}
}

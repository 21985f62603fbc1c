package ops

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
)

// Warnings (the AMI site check) are listed on /readyz and never make the
// daemon unready.
func TestReadyzWarnings(t *testing.T) {
	h := NewHealth("ami")
	h.SetSource("ami", true, nil)
	h.SetNATS(func() (bool, string) { return true, "nats://127.0.0.1:4222" })
	var say []string
	h.AddWarnings("ami", func() []string { return say })

	// In order: the site is fixed at the end.
	for _, tc := range []struct {
		name      string
		say, want []string
	}{
		{name: "none"},
		{name: "two", say: []string{"events carry no Timestamp", "no agent events"}, want: []string{"ami: events carry no Timestamp", "ami: no agent events"}},
		{name: "fixed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			say = tc.say
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var r Readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if rec.Code != 200 || !r.Ready || r.Status != StatusReady {
				t.Errorf("code %d ready %v status %q: warnings must not make the daemon unready", rec.Code, r.Ready, r.Status)
			}
			if !slices.Equal(r.Warnings, tc.want) {
				t.Errorf("warnings %q, want %q", r.Warnings, tc.want)
			}
		})
	}
}

package ops

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// Every metric the Grafana dashboard queries is one the daemon exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	body, err := os.ReadFile("../deploy/grafana/callstatus.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(body, &dash); err != nil {
		t.Fatal(err)
	}

	// A registry with every family populated.
	m := NewMetrics(nil)
	s := m.Source("ami")
	s.Received(mapping.Event{Kind: mapping.ChannelCreated}, time.Now(), time.Now())
	s.Connected(true)
	s.Connected(false)
	s.Connected(true)
	m.PublishedOK(sampleStatus(1), time.Millisecond, time.Now())
	m.AddWire("ami", func() WireStats {
		return WireStats{ByType: map[string]uint64{"Hangup": 1}, Ignored: map[string]uint64{"malformed": 0}}
	})
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}

	name := regexp.MustCompile(`\b(callstatus|process|go)_[a-z_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, metric := range name.FindAllString(tg.Expr, -1) {
				n++
				base := metric
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(metric, suf); ok && exported[b] {
						base = b
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which the daemon does not export", p.Title, metric)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d metric references found", n)
	}
}

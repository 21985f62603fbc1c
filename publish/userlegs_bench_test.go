package publish

import (
	"context"
	"fmt"
	"testing"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
)

// BenchmarkUserLegs drains an outbox of b.N ring group calls (3 user legs
// each) into an embedded JetStream, with and without the per-user
// messages published before each status.
func BenchmarkUserLegs(b *testing.B) {
	for _, legs := range []bool{false, true} {
		b.Run(fmt.Sprintf("user_legs=%v", legs), func(b *testing.B) {
			e, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: -1, StoreDir: b.TempDir()}, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Shutdown()
			cfg := DefaultNATSConfig()
			cfg.UserLegs = legs
			nc, err := e.Connect(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			p, err := New(nc, cfg, "pbx1", nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			p.UserLegs = mapping.Config{}.UserLegs
			ob := outbox.New(nil)
			for i := range b.N {
				ob.Push(ringGroup(i, "202"))
			}
			ob.Close()
			b.ResetTimer()
			if err := p.Run(context.Background(), ob); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "statuses/s")
		})
	}
}

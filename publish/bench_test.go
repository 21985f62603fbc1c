package publish

import (
	"context"
	"fmt"
	"testing"

	"github.com/callstatus/callstatus/outbox"
)

// BenchmarkPublisherRun drains an outbox of b.N statuses into an embedded
// JetStream, one acknowledged publish each, with and without the ledger
// write that follows every ack.
func BenchmarkPublisherRun(b *testing.B) {
	for _, ledger := range []bool{false, true} {
		b.Run(fmt.Sprintf("ledger=%v", ledger), func(b *testing.B) {
			e, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: -1, StoreDir: b.TempDir()}, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Shutdown()
			cfg := DefaultNATSConfig()
			cfg.Ledger.Enabled = ledger
			nc, err := e.Connect(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			p, err := New(nc, cfg, "pbx1", nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			ob := outbox.New(nil)
			for i := range b.N {
				ob.Push(sampleStatus(i))
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

package publish

import (
	"log/slog"
	"testing"
	"time"

	"github.com/callstatus/callstatus/internal/testkit"
	"github.com/callstatus/callstatus/mapping"
)

func testLog(t *testing.T) *slog.Logger { return testkit.Log(t) }

func freePort(t *testing.T) int { return testkit.FreePort(t) }

// startNATS runs an embedded JetStream server for one test.
func startNATS(t *testing.T, port int, store string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: port, Listen: true, StoreDir: store}, "", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func sampleStatus(i int) mapping.CallStatus { return testkit.SampleStatus(i) }

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, what, cond)
}

package outbox

import (
	"log/slog"
	"testing"
	"time"

	"github.com/callstatus/callstatus/internal/testkit"
	"github.com/callstatus/callstatus/mapping"
)

func testLog(t *testing.T) *slog.Logger { return testkit.Log(t) }

func sampleStatus(i int) mapping.CallStatus { return testkit.SampleStatus(i) }

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, what, cond)
}

package replay

import (
	"time"

	"github.com/callstatus/callstatus/internal/testkit"
)

func amiInboundAnswered(linked string, t0 time.Time) string {
	return testkit.AMIInboundAnswered(linked, t0)
}

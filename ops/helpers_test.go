package ops

import (
	"github.com/callstatus/callstatus/internal/testkit"
	"github.com/callstatus/callstatus/mapping"
)

func sampleStatus(i int) mapping.CallStatus { return testkit.SampleStatus(i) }

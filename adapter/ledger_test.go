package adapter

import (
	"context"
	"testing"
	"time"
)

func TestRecentCallsForget(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	r := newRecentCalls(time.Hour)
	r.add("pbx:old", t0)
	for i := range 4095 {
		r.add("pbx:"+time.Duration(i).String(), t0.Add(2*time.Hour))
	}
	ls := ledgers{r}
	ctx := context.Background()
	if seen, _ := ls.Seen(ctx, "pbx:old"); seen {
		t.Error("a call older than keep is still remembered")
	}
	if seen, _ := ls.Seen(ctx, "pbx:1ns"); !seen {
		t.Error("a recent call is forgotten")
	}
}

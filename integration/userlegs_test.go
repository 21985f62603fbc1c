package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/schema"
)

// Ring group and queue calls on a real Asterisk through the daemon: one
// per-user message per member that rang, on
// callstatus.lab.user.<ext>.<outcome>, with <call_id>:<ext> as msg id,
// before the call's status; the one who answered is answered, the others
// answered_elsewhere; nobody answering is missed (a busy phone busy).
func TestUserLegsThroughDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	want := map[string]map[string]mapping.UserOutcome{ // scenario: extension: outcome
		"ringgroup-answered":      {"211": mapping.UserAnswered, "311": mapping.UserAnsweredElsewhere},
		"ringgroup-caller-hangup": {"259": mapping.UserAnswered, "313": mapping.UserAnsweredElsewhere},
		"ringgroup-missed":        {"312": mapping.UserMissed, "412": mapping.UserBusy},
		"queue-handled":           {"231": mapping.UserAnswered, "331": mapping.UserAnsweredElsewhere},
	}
	ast := lab.StartAsterisk(t)
	r := startRig(t, ast, "ami-only", false)
	sch, err := schema.LoadUserLeg()
	if err != nil {
		t.Fatal(err)
	}
	// Per call id, in arrival order: the user legs, then "status".
	var mu sync.Mutex
	arrived := map[string][]string{}
	legs := map[string]map[string]mapping.UserOutcome{}
	if _, err := r.nc.Subscribe("callstatus.>", func(m *nats.Msg) {
		if strings.Count(m.Subject, ".") == 3 {
			var cs mapping.CallStatus
			if err := json.Unmarshal(m.Data, &cs); err != nil {
				t.Errorf("%s: %v", m.Subject, err)
				return
			}
			mu.Lock()
			arrived[cs.CallID] = append(arrived[cs.CallID], "status")
			mu.Unlock()
			return
		}
		var u mapping.UserLeg
		if err := json.Unmarshal(m.Data, &u); err != nil {
			t.Errorf("%s: %v", m.Subject, err)
			return
		}
		if err := sch.Validate(m.Data); err != nil {
			t.Errorf("%s breaks schema/userleg.schema.json: %v\n%s", m.Subject, err, m.Data)
		}
		if s := fmt.Sprintf("callstatus.lab.user.%s.%s", u.Extension, u.Outcome); m.Subject != s {
			t.Errorf("subject %s, want %s", m.Subject, s)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != u.CallID+":"+u.Extension {
			t.Errorf("%s: Nats-Msg-Id %q", m.Subject, id)
		}
		mu.Lock()
		arrived[u.CallID] = append(arrived[u.CallID], u.Extension)
		if legs[u.CallID] == nil {
			legs[u.CallID] = map[string]mapping.UserOutcome{}
		}
		legs[u.CallID][u.Extension] = u.Outcome
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: ast.Container, AMIAddr: ast.AMIAddr, ARIURL: ast.ARIURL, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	settle := lab.Rules().ConfirmGrace + 10*time.Second
	for _, name := range slices.Sorted(maps.Keys(want)) {
		before := r.box.len()
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
		err := drv.Run(rctx, name)
		rcancel()
		if err != nil {
			t.Fatalf("scenario %s: %v", name, err)
		}
		if !waitFor(t, settle, name+": its status", func() bool { return r.box.len() > before }) {
			continue
		}
		cs := r.box.snapshot()[before]
		// This subscription sees the status after the user legs (one
		// subscription keeps the server's order).
		waitFor(t, 5*time.Second, name+": the status on callstatus.>", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(arrived[cs.CallID], "status")
		})
		mu.Lock()
		got, order := legs[cs.CallID], arrived[cs.CallID]
		mu.Unlock()
		if !maps.Equal(got, want[name]) {
			t.Errorf("%s: user legs %v, want %v", name, got, want[name])
		}
		if len(order) != len(want[name])+1 || order[len(order)-1] != "status" {
			t.Errorf("%s: arrived %v, want every user leg once, then the status", name, order)
		}
	}
}

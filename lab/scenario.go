package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Call is what one call of a scenario is expected to end as. It comes from
// what the scenario does (the dialplan path and who answers), never from the
// events: recordings pair it with the streams as the answer key.
type Call struct {
	Description string   `json:"description"`
	Category    string   `json:"category"` // outbound, inbound, callcenter
	Status      string   `json:"status"`   // see mapping.Status
	Reason      string   `json:"reason,omitempty"`
	Direction   string   `json:"direction"` // inbound, outbound, internal
	Internal    bool     `json:"internal,omitempty"`
	From        string   `json:"from"`   // caller number
	To          string   `json:"to"`     // called number (DID, extension, far number)
	Dialed      string   `json:"dialed"` // what was dialed, with any route prefix
	Agent       string   `json:"agent,omitempty"`
	Queues      []string `json:"queues,omitempty"`
	// AMIOnlyStatus is what a daemon with only AMI can tell where it
	// differs: AMI does not report ARI playbacks, so a voicemail drop
	// played by an ARI application looks like a plain connected call.
	AMIOnlyStatus string `json:"ami_only_status,omitempty"`
}

// Scenario is one lab situation: a way of placing calls and their expected
// outcome.
type Scenario struct {
	Name        string
	Description string
	Calls       []Call
	// SIP scenarios run SIPp on fixed ports inside the container: run them
	// one at a time. All others may run concurrently.
	SIP bool
	run func(ctx context.Context, d *Driver) error
}

// Scenarios returns the catalogue. Numbers are distinct across scenarios
// (asterisk-conf/extensions.conf has the number plan) so that all but the
// SIP ones can run at the same time.
func Scenarios() []Scenario {
	out := func(desc, status, reason, from, dialed string) Call {
		return Call{Description: desc, Category: "outbound", Status: status, Reason: reason,
			Direction: "outbound", From: from, To: dialed[1:], Dialed: dialed}
	}
	in := func(desc, status, reason, from, did string) Call {
		return Call{Description: desc, Category: "inbound", Status: status, Reason: reason,
			Direction: "inbound", From: from, To: did, Dialed: did}
	}
	cc := func(desc, status, reason, from, did string, queues ...string) Call {
		return Call{Description: desc, Category: "callcenter", Status: status, Reason: reason,
			Direction: "inbound", From: from, To: did, Dialed: did, Queues: queues}
	}
	with := func(c Call, f func(*Call)) Call { f(&c); return c }

	return []Scenario{
		// --- Outbound, from a phone through the simulated carrier -------
		{Name: "outbound-connected", Calls: []Call{out("201 calls out; the far end answers after 1 s and hangs up after 2 s", "connected", "", "201", "95552001")},
			run: phoneCall("201", "95552001", 0)},
		{Name: "outbound-canceled", Calls: []Call{out("202 calls out and hangs up after 2.5 s of ringing", "canceled", "CANCEL", "202", "95553001")},
			run: phoneCall("202", "95553001", 2500*time.Millisecond)},
		{Name: "outbound-busy", Calls: []Call{out("203 calls a busy number", "canceled", "BUSY", "203", "95554001")},
			run: phoneCall("203", "95554001", 0)},
		{Name: "outbound-noanswer", Calls: []Call{out("204 calls out; nobody answers within the route's 5 s", "canceled", "NOANSWER", "204", "95553002")},
			run: phoneCall("204", "95553002", 0)},
		{Name: "outbound-vmdrop-dialplan", Calls: []Call{out("205 calls an answering machine; the dialplan (Dial U(vm-drop)) plays callstatus/vm-drop to it and hangs up", "voicemail_dropped", "", "205", "75555001")},
			run: phoneCall("205", "75555001", 0)},
		{Name: "outbound-vmdrop-ari", Calls: []Call{out("206 calls an answering machine; the far leg enters Stasis(callstatus-lab,vmdrop) and the ARI app plays sound:callstatus/vm-drop, then hangs up", "voicemail_dropped", "", "206", "65555002")},
			run: phoneCall("206", "65555002", 0)},
		// --- Click-to-call: the agent's phone first, then the customer --
		{Name: "click-to-call-connected", Calls: []Call{with(out("click-to-call: agent 256 answers, then the customer answers", "connected", "", "256", "95552002"), func(c *Call) { c.Agent = "256" })},
			run: clickToCall("256", "95552002", 10*time.Second)},
		{Name: "click-to-call-agent-noanswer", Calls: []Call{with(out("click-to-call: agent 361 never answers (4 s), the customer is never dialed", "canceled", "", "361", "95552003"), func(c *Call) { c.Agent = "361" })},
			run: clickToCall("361", "95552003", 4*time.Second)},
		// --- Inbound, direct DIDs, ring groups, IVR ----------------------
		{Name: "inbound-answered", Calls: []Call{in("DID 800221 rings extension 221, which answers after 1 s", "answered", "", "15550001001", "800221")},
			run: inboundCall("15550001001", "800221", 30, 0)},
		{Name: "inbound-missed", Calls: []Call{in("DID 800321 rings extension 321 for 4 s, nobody answers, the PBX hangs up", "missed", "NOANSWER", "15550001002", "800321")},
			run: inboundCall("15550001002", "800321", 30, 0)},
		{Name: "inbound-missed-caller-hangup", Calls: []Call{in("DID 800322 rings extension 322; the caller hangs up after 2.5 s", "missed", "CANCEL", "15550001003", "800322")},
			run: inboundCall("15550001003", "800322", 30, 2500*time.Millisecond)},
		{Name: "inbound-missed-busy", Calls: []Call{in("DID 800421: extension 421 is busy", "missed", "BUSY", "15550001004", "800421")},
			run: inboundCall("15550001004", "800421", 30, 0)},
		{Name: "inbound-missed-unavailable", Calls: []Call{in("DID 800103: PJSIP phone 103 is not registered", "missed", "CHANUNAVAIL", "15550001005", "800103")},
			run: inboundCall("15550001005", "800103", 30, 0)},
		{Name: "inbound-missed-voicemail", Calls: []Call{in("DID 810301 rings 301 for 4 s, then voicemail answers; the caller leaves a message", "missed", "NOANSWER", "15550001006", "810301")},
			run: inboundCall("15550001006", "810301", 5, 0)},
		{Name: "ringgroup-answered", Calls: []Call{in("ring group 820001: 211 answers after 1 s, 311 keeps ringing until then", "answered", "", "15550001007", "820001")},
			run: inboundCall("15550001007", "820001", 30, 0)},
		{Name: "ringgroup-missed", Calls: []Call{in("ring group 820002: 312 never answers, 412 is busy; 4 s", "missed", "NOANSWER", "15550001008", "820002")},
			run: inboundCall("15550001008", "820002", 30, 0)},
		{Name: "ivr-answered", Calls: []Call{in("IVR 830222: the PBX answers, plays a prompt, then rings 222 which answers", "answered", "", "15550001009", "830222")},
			run: inboundCall("15550001009", "830222", 30, 0)},
		{Name: "ivr-missed", Calls: []Call{in("IVR 830323: the PBX answers, plays a prompt, then rings 323 for 4 s; nobody answers", "missed", "NOANSWER", "15550001010", "830323")},
			run: inboundCall("15550001010", "830323", 30, 0)},
		// --- Call center (app_queue) ------------------------------------
		{Name: "queue-handled", Calls: []Call{with(cc("queue support: agent 231 answers after 1 s (331 rings too)", "handled", "", "15550001011", "840001", "support"), func(c *Call) { c.Agent = "231" })},
			run: inboundCall("15550001011", "840001", 30, 0)},
		{Name: "queue-abandoned", Calls: []Call{cc("queue sales: nobody answers, the caller hangs up after 3 s", "abandoned", "", "15550001012", "840002", "sales")},
			run: inboundCall("15550001012", "840002", 3, 0)},
		{Name: "queue-timeout", Calls: []Call{cc("queue sales: nobody answers, the queue gives up after 4 s and the PBX hangs up", "timeout", "TIMEOUT", "15550001013", "840003", "sales")},
			run: inboundCall("15550001013", "840003", 30, 0)},
		{Name: "queue-timeout-voicemail", Calls: []Call{cc("queue sales times out after 4 s, then voicemail 500 takes a message", "timeout", "TIMEOUT", "15550001014", "840004", "sales")},
			run: inboundCall("15550001014", "840004", 9, 0)},
		{Name: "queue-overflow-handled", Calls: []Call{with(cc("queue sales times out after 4 s, then queue overflow: agent 232 answers", "handled", "", "15550001015", "840005", "sales", "overflow"), func(c *Call) { c.Agent = "232" })},
			run: inboundCall("15550001015", "840005", 30, 0)},
		{Name: "queue-joinempty", Calls: []Call{cc("queue empty has no members: Queue() returns at once", "timeout", "JOINEMPTY", "15550001016", "840006", "empty")},
			run: inboundCall("15550001016", "840006", 30, 0)},
		// --- Internal ----------------------------------------------------
		{Name: "internal-call", Calls: []Call{{Description: "207 calls extension 224, which answers", Category: "outbound", Status: "connected",
			Direction: "internal", Internal: true, From: "207", To: "224", Dialed: "224"}},
			run: phoneCall("207", "224", 0)},
		// --- Transfers of an answered inbound call -----------------------
		{Name: "transfer-blind", Calls: []Call{in("DID 800251: 251 answers, then blind-transfers the caller to 252 (AMI BlindTransfer), which answers", "answered", "", "15550001017", "800251")},
			run: blindTransfer},
		{Name: "transfer-attended", Calls: []Call{in("DID 800253: 253 answers, consults 254 (AMI Atxfer), hangs up to complete the transfer", "answered", "", "15550001018", "800253")},
			run: attendedTransfer},
		// --- Several calls at once ----------------------------------------
		{Name: "overlap", Description: "four calls at the same time", Calls: []Call{
			in("DID 800225 rings 225, which answers", "answered", "", "15550001020", "800225"),
			out("208 calls out; the far end answers", "connected", "", "208", "95552010"),
			out("209 calls a busy number", "canceled", "BUSY", "209", "95554010"),
			with(cc("queue support (second line): agent 231 answers", "handled", "", "15550001021", "840011", "support"), func(c *Call) { c.Agent = "231" }),
		}, run: func(ctx context.Context, d *Driver) error {
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { return inboundCall("15550001020", "800225", 30, 0)(ctx, d) })
			g.Go(func() error { return phoneCall("208", "95552010", 0)(ctx, d) })
			g.Go(func() error { return phoneCall("209", "95554010", 0)(ctx, d) })
			g.Go(func() error { return inboundCall("15550001021", "840011", 30, 0)(ctx, d) })
			return g.Wait()
		}},
		// --- Real SIP through PJSIP, SIPp inside the container ------------
		{Name: "sip-inbound-answered", SIP: true, Calls: []Call{in("SIP carrier calls DID 800102; SIP phone 102 answers after 1 s; the caller hangs up after 2 s", "answered", "", "15550002001", "800102")},
			run: sipCall(sipp{scenario: "uas-answer.xml", port: 5072}, sipp{scenario: "uac.xml", port: 5070, service: "800102", caller: "15550002001", pause: 2 * time.Second}, "PJSIP/trunk-")},
		{Name: "sip-inbound-missed", SIP: true, Calls: []Call{in("SIP carrier calls DID 800102; phone 102 rings for 4 s; the PBX gives up", "missed", "NOANSWER", "15550002002", "800102")},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5072}, sipp{scenario: "uac.xml", port: 5070, service: "800102", caller: "15550002002"}, "PJSIP/trunk-")},
		{Name: "sip-outbound-connected", SIP: true, Calls: []Call{out("SIP phone 101 dials 05552101 via the SIP trunk; the far end answers; 101 hangs up after 2 s", "connected", "", "101", "05552101")},
			run: sipCall(sipp{scenario: "uas-answer.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05552101", caller: "101", pause: 2 * time.Second}, "PJSIP/101-")},
		{Name: "sip-outbound-busy", SIP: true, Calls: []Call{out("SIP phone 101 dials 05554101; the trunk answers 486 Busy Here", "canceled", "BUSY", "101", "05554101")},
			run: sipCall(sipp{scenario: "uas-busy.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05554101", caller: "101"}, "PJSIP/101-")},
		{Name: "sip-outbound-canceled", SIP: true, Calls: []Call{out("SIP phone 101 dials 05553101 and sends CANCEL after 2 s of ringing", "canceled", "CANCEL", "101", "05553101")},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5070}, sipp{scenario: "uac-cancel.xml", port: 5071, service: "05553101", caller: "101", pause: 2 * time.Second}, "PJSIP/101-")},
		{Name: "sip-outbound-noanswer", SIP: true, Calls: []Call{out("SIP phone 101 dials 05553102; nobody answers within the route's 5 s", "canceled", "NOANSWER", "101", "05553102")},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05553102", caller: "101"}, "PJSIP/101-")},
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Run places the scenario's calls and returns once all their channels are
// gone.
func (d *Driver) Run(ctx context.Context, name string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("lab: no scenario %q", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := s.run(ctx, d); err != nil {
		return fmt.Errorf("lab: scenario %s: %w", name, err)
	}
	return nil
}

// phoneCall simulates a user's phone dialing `dialed` from [from-internal]:
// the originated Local channel's ;2 half runs the dialplan, the ;1 half is
// the phone (it stays up to 30 s once answered). giveUp > 0 hangs the phone
// up if the call is not answered by then.
func phoneCall(ext, dialed string, giveUp time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + dialed + "@from-internal-")
		if err := d.originate(ctx, originate{Channel: "Local/" + dialed + "@from-internal/n",
			CallerID: fmt.Sprintf("\"Phone %s\" <%s>", ext, ext), Application: "Wait", Data: "30", Timeout: giveUp}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// inboundCall simulates the carrier delivering a call to DID: the Local ;2
// half enters [from-external]; the ;1 half is the caller, who stays
// `patience` seconds once answered. giveUp > 0 hangs up while ringing.
func inboundCall(caller, did string, patience int, giveUp time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + did + "@from-external-")
		if err := d.originate(ctx, originate{Channel: "Local/" + did + "@from-external/n",
			CallerID: fmt.Sprintf("<%s>", caller), Application: "Wait", Data: fmt.Sprint(patience), Timeout: giveUp}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// clickToCall rings the agent's phone first; once it answers, the agent's
// channel goes to [from-internal] and dials the customer. The originator (a
// CRM) marks the call as outbound.
func clickToCall(agent, dialed string, ring time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + agent + "@lab-phones-")
		if err := d.originate(ctx, originate{Channel: "Local/" + agent + "@lab-phones/n",
			Context: "from-internal", Exten: dialed, CallerID: fmt.Sprintf("\"Agent %s\" <%s>", agent, agent),
			Timeout: ring, Vars: []string{"CALLSTATUS_DIRECTION=outbound"}}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// pause is scenario time (a phone user talking before pressing a key), not
// a wait for something to happen: those wait for events.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// answeredLeg waits, on the AMI events, for the answered ;1 half of phone
// ext (the channel Dial created) to sit in a bridge with a channel named
// peer*: only then does a transfer feature on it act on the call.
func (d *Driver) answeredLeg(ctx context.Context, w *watch, ext, peer string) (chanState, error) {
	return d.track.bridgedWith(ctx, w, "Local/"+ext+"@lab-phones-", ";1", peer)
}

func blindTransfer(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/800251@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/800251@from-external/n", CallerID: "<15550001017>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	leg, err := d.answeredLeg(ctx, w, "251", "Local/800251@from-external-")
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil { // talk a little before transferring
		return err
	}
	if _, err := d.ami.Action(ctx, "BlindTransfer", Field{"Channel", leg.Name},
		Field{"Context", "from-internal"}, Field{"Exten", "252"}); err != nil {
		return err
	}
	return d.track.wait(ctx, w)
}

// attendedTransfer: 253 answers; Atxfer plays the attended-transfer code
// and 254 into its leg, which puts the caller on hold and calls 254 from
// [from-internal]; once 254 answered and talks with 253, 253 hangs up,
// which completes the transfer. Every step waits for its AMI events, so a
// loaded machine only makes the scenario slower (issue 11: it used to poll
// for 254 for a fixed 10 s, and phone 253 hung up by itself after 8 s).
func attendedTransfer(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/800253@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/800253@from-external/n", CallerID: "<15550001018>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	leg, err := d.answeredLeg(ctx, w, "253", "Local/800253@from-external-")
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	if _, err := d.ami.Action(ctx, "Atxfer", Field{"Channel", leg.Name},
		Field{"Context", "from-internal"}, Field{"Exten", "254"}); err != nil {
		return err
	}
	// 254 answered (its leg is bridged with the consultation channel) and
	// the transferer is bridged with the consultation channel too.
	if _, err := d.answeredLeg(ctx, w, "254", "Local/254@from-internal-"); err != nil {
		return fmt.Errorf("transfer target: %w", err)
	}
	if _, err := d.track.bridgedWith(ctx, w, leg.Name, "", "Local/254@from-internal-"); err != nil {
		return fmt.Errorf("transferer in the consultation: %w", err)
	}
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	// The transferer hangs up: that completes an attended transfer.
	if _, err := d.ami.Action(ctx, "Hangup", Field{"Channel", leg.Name}); err != nil {
		return err
	}
	return d.track.wait(ctx, w)
}

// sipp is one SIPp run inside the container.
type sipp struct {
	scenario string
	port     int
	service  string // request-URI user (uac)
	caller   string // From user (uac)
	pause    time.Duration
}

func (s sipp) args() []string {
	a := []string{"sipp", "-sf", "/sipp/" + s.scenario, "-i", "127.0.0.1", "-p", fmt.Sprint(s.port),
		"-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error", "-mp", fmt.Sprint(20000 + 10*s.port%1000),
		"-trace_err", "-error_file", fmt.Sprintf("/tmp/sipp-%d.err", s.port)}
	if s.service != "" {
		a = append(a, "-s", s.service, "-key", "caller", s.caller, "-d", fmt.Sprint(s.pause.Milliseconds()), "127.0.0.1:5060")
	}
	return a
}

// sipCall starts the answering SIPp, then the calling one, and waits for
// both and for the call's channels (the first named with prefix) to end.
func sipCall(uas, uac sipp, prefix string) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		if d.cfg.Container == "" {
			return fmt.Errorf("sip scenarios need the lab container name")
		}
		w := d.track.watch(prefix)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			out, err := docker(gctx, append([]string{"exec", d.cfg.Container}, uas.args()...)...)
			if err != nil {
				return fmt.Errorf("sipp %s: %w\n%s", uas.scenario, err, tail(out))
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond) // let the uas bind its port
		g.Go(func() error {
			out, err := docker(gctx, append([]string{"exec", d.cfg.Container}, uac.args()...)...)
			if err != nil {
				return fmt.Errorf("sipp %s: %w\n%s", uac.scenario, err, tail(out))
			}
			return nil
		})
		if err := g.Wait(); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

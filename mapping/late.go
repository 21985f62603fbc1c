package mapping

import "strings"

// A call the daemon joined late (after a restart of the daemon, or of a
// source that reconnected) is known only from the snapshot that listed its
// channels: AMI CoreShowChannel says what application each channel runs
// (Event.Name) with what data (Event.Value). That is enough to rebuild what
// the missed Dial, Queue and answer events would have said.

// snapshotApp notes what a channel first known from a snapshot is doing.
func (m *Machine) snapshotApp(c *channel, e Event, r ref) {
	c.snapApp = keep(e.Name)
	switch {
	case isLegApp(e.Name):
		// A channel Dial() or a queue created: a dialed leg.
		c.peer = true
	default:
		// Queue, VoiceMail, Playback...: as a live Newexten would say.
		m.appRun(c, e, r)
	}
}

// isLegApp: Asterisk names AppDial / AppQueue as the application of the
// channels that Dial() and app_queue create.
func isLegApp(app string) bool {
	return strings.EqualFold(app, "AppDial") || strings.EqualFold(app, "AppQueue")
}

// lateLegs gives a call joined late the legs its snapshot showed answered:
// a dialed leg already up when listed answered before the daemon came (when
// is unknown: the listing time stands in). Legs that live events described
// are left as they are.
func (m *Machine) lateLegs(cl *call) {
	for _, p := range cl.chans {
		if !isLegApp(p.snapApp) || p.up.IsZero() || cl.hasLeg(p) {
			continue
		}
		caller := cl.lateCaller(p)
		l := cl.leg(p, caller)
		l.status, l.answer, l.begin = "ANSWER", p.up, p.created
		if v := caller.openVisit(""); v != nil && strings.EqualFold(p.snapApp, "AppQueue") {
			l.queue = v.queue
			if v.agent == nil {
				v.agent, v.connect = p, p.up.Time()
			}
		}
		// The ringing began before anything we saw: no channel of the
		// call was up before it (which would mean an IVR).
		first := p.created.Time()
		for _, c := range cl.chans {
			if !c.up.IsZero() && c.up.Time().Before(first) {
				first = c.up.Time()
			}
		}
		if cl.firstDial.IsZero() || first.Before(cl.firstDial.Time()) {
			cl.firstDial = stampOf(first)
		}
	}
}

func (cl *call) hasLeg(p *channel) bool {
	for _, l := range cl.legs {
		if l.peer == p {
			return true
		}
	}
	return false
}

// lateCaller guesses who dialed p: the channel of the call that runs Dial()
// or Queue() (preferring one in p's bridge), else the first channel nobody
// dialed.
func (cl *call) lateCaller(p *channel) *channel {
	var dialer, first *channel
	for _, c := range cl.chans {
		if c == p || c.peer {
			continue
		}
		if first == nil || c.created < first.created {
			first = c
		}
		switch strings.ToLower(c.snapApp) {
		case "dial", "queue":
			if dialer == nil || (c.bridge != "" && c.bridge == p.bridge) {
				dialer = c
			}
		}
	}
	switch {
	case dialer != nil:
		return dialer
	case first != nil:
		return first
	}
	return p
}

// Package mapping is the status engine: Asterisk's events in, one final
// status per call out. It imports nothing from this repository, does no
// I/O, keeps no clock and starts no goroutine; one goroutine owns a Machine
// and supplies the time.
//
//	m := mapping.New(cfg)        // cfg.Validate() first
//	done := m.Apply(event)       // the calls this event finished
//	done = m.Sweep(time.Now())   // calls that can no longer finish by themselves
//
// # The event model
//
// The ami and ari packages translate their wire events into Event values
// (event.go): a Kind, the Source that reported it, Asterisk's timestamp and
// the channel (and peer) it is about. Every kind is a fact both sources can
// report in their own words; seeing a fact twice never changes a status.
//
// # What a call is
//
// A call is the set of channels sharing a Linkedid. Local channel halves,
// dialed legs, queue member legs and ring-group legs join the caller's
// call; calls whose channels meet (a dial across linkedids, a transfer, a
// two-party bridge, a linkedid learnt late) are merged, and the oldest
// linkedid names the result. A channel is in one bridge at a time.
//
// A call is final when its last channel is gone. With two sources the
// engine also waits until every connected source that reported a channel
// has reported its end (the two-source rule), so the second report of the
// same hangup cannot arrive after the status went out; Sweep ends the wait
// after ConfirmGrace, and ends calls silent for CallTTL (incomplete, ttl).
// A source that drops marks its calls' statuses incomplete; the snapshot
// after it reconnects ends the calls whose channels died meanwhile.
//
// Late means late: Asterisk never reuses a uniqueid or a linkedid, so an
// event naming a channel or a linkedid of a finalized call is counted
// (Stats.Late) and dropped; it never starts or revives a call. Finalized
// ids are remembered for max(2m, 4×ConfirmGrace) after the status, and at
// most deadPerCall×MaxCalls of them.
//
// # The rules
//
// decide derives a call's status in named steps (decide.go): the origin
// (the caller's channel), the direction (typed Direction: the dialplan's
// variable, then the first origin-side context, then a trunk-named origin;
// outbound without a trunk leg is internal), the legs and which one
// answered, the queue visits, the parties and the timings. The status is
// then the first rule of the call's category whose predicate holds, from
// the table in rules.go: {id, category, status, predicate, reason,
// evidence}. The category is callcenter when the call visited a queue,
// else inbound or outbound by direction. An internal user's feature code
// that dials nobody (ChanSpy, ConfBridge, VoiceMailMain...) is that user's
// session with the PBX: outbound, internal, connected when the PBX
// answered, the reason naming the application; a pickup or a parked-call
// retrieval joins the call it takes. The rule ids are exported
// constants, cited in every status's evidence and listed in the README,
// which a test keeps in step with the table.
//
// # Invariants
//
// Whatever the input, Audit (audit.go) checks after every step, and
// FuzzMachine and every table, golden and interleaving test run through
// it: no panic; Active() equals the calls in flight and the indexes agree;
// a call id is published at most once and a uniqueid in at most one
// status; after a far-future Sweep nothing is in flight and every channel
// ever tracked was published exactly once. Should a bug panic anyway,
// Recover publishes the calls involved as incomplete (engine_error).
package mapping

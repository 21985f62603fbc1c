package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ariv6 "github.com/CyCoreSystems/ari/v6"

	"github.com/callstatus/callstatus/mapping"
)

var (
	// ErrUnknownType: the message names a type ari/v6 does not know
	// (Asterisk 22 has a few newer ones: ChannelTransfer,
	// ChannelToneDetected, ApplicationRegistered, CallBroadcast...). Not
	// bad input: there is nothing in it for the engine.
	ErrUnknownType = errors.New("unknown ARI event type")
	// ErrUndecodable: the message is not an ARI event (broken JSON, no
	// type, fields of the wrong type). Bad input: skip it and count it.
	ErrUndecodable = errors.New("not an ARI event")
)

// Message is what one ARI event message (one websocket message, one line
// of an .ari.jsonl recording) holds for the engine.
type Message struct {
	// Type is the message's "type", also when it does not decode ("" when
	// it cannot be found at all).
	Type string
	// Events are the engine's events, each with Seq set to the seq given
	// to Decode. None for a type the engine has no use for.
	Events []mapping.Event
}

// Decode decodes one ARI event message and translates it: the one path
// from ARI JSON to mapping events, shared by the live Source, replay, the
// golden tests and the benchmarks, so bad input is treated alike
// everywhere. seq numbers the message in its stream and becomes every
// event's Seq.
//
// The error wraps ErrUnknownType or ErrUndecodable; either way the Message
// still names the Type when it could be read, and the caller skips the
// message and reads on.
func Decode(data []byte, seq uint64) (Message, error) {
	var head struct {
		Type string `json:"type"`
	}
	var msg Message
	if err := json.Unmarshal(data, &head); err != nil {
		msg.Type = sniffType(data) // for logs: broken JSON may still name it
	} else {
		msg.Type = head.Type
	}
	e, err := ariv6.DecodeEvent(data)
	switch {
	case err != nil && e == nil && head.Type != "":
		// DecodeEvent returns no event only for a type it does not know.
		return msg, fmt.Errorf("ari: %w %q", ErrUnknownType, head.Type)
	case err != nil:
		// Only the first line: ari/v6's eris errors carry a stack trace.
		detail, _, _ := strings.Cut(err.Error(), "\n")
		return msg, fmt.Errorf("ari: %w (type %q): %s", ErrUndecodable, msg.Type, detail)
	}
	evs, ok := Translate(e)
	if !ok {
		return msg, nil
	}
	for i := range evs {
		evs[i].Seq = seq
	}
	msg.Events = evs
	return msg, nil
}

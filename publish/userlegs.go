package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
)

// StatusSubjects is the pattern of the statuses only, without the per-user
// messages: <prefix>.<pbx>.<category>.<status> has three tokens after the
// prefix, <prefix>.<pbx>.user.<extension>.<outcome> four.
func StatusSubjects(prefix string) string { return prefix + ".*.*.*" }

// UserSubjects is the pattern of one extension's per-user messages on
// every PBX ("*" for every extension).
func UserSubjects(prefix, extension string) string { return prefix + ".*.user." + extension + ".>" }

// UserLegSubject is where one user's message goes:
// <prefix>.<pbx>.user.<extension>.<outcome>.
func (p *Publisher) UserLegSubject(u mapping.UserLeg) string {
	pbx := u.PBX
	if pbx == "" {
		pbx = p.pbx
	}
	return strings.Join([]string{p.cfg.SubjectPrefix, token(pbx), "user", token(u.Extension), token(string(u.Outcome))}, ".")
}

// UserLegMsgID is the Nats-Msg-Id of one user's message: a retry of the
// call publishes it again and the stream keeps it once.
func UserLegMsgID(u mapping.UserLeg) string { return u.CallID + ":" + u.Extension }

// publishUserLegs puts the per-user messages of cs on NATS, before its
// status in the same attempt: an acknowledged status means its user legs
// are acknowledged too, and a failed attempt republishes all of them (the
// msg ids keep each once in the stream). before is the connection's last
// error when the attempt began.
func (p *Publisher) publishUserLegs(ctx context.Context, cs mapping.CallStatus, before error) error {
	if !p.cfg.UserLegs || p.UserLegs == nil {
		return nil
	}
	legs := p.UserLegs(cs)
	if len(legs) == 0 {
		return nil
	}
	msgs := make([]*nats.Msg, 0, len(legs))
	for _, u := range legs {
		body, err := json.Marshal(u)
		if err != nil {
			return fmt.Errorf("publish %s: encode user leg %s: %w", cs.CallID, u.Extension, err)
		}
		m := nats.NewMsg(p.UserLegSubject(u))
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, UserLegMsgID(u))
		msgs = append(msgs, m)
	}
	if p.js == nil {
		for _, m := range msgs {
			if err := p.nc.PublishMsg(m); err != nil {
				return classify(fmt.Errorf("publish %s user leg on %s: %w", cs.CallID, m.Subject, err))
			}
		}
		// Flushed here, not with the status: a refused user subject is
		// told before the status goes.
		if err := p.nc.FlushTimeout(p.cfg.PublishTimeout); err != nil {
			return fmt.Errorf("publish %s user legs: flush: %w", cs.CallID, err)
		}
		return p.userLegRefused(cs, msgs, before)
	}
	if err := p.EnsureStream(ctx); err != nil {
		return err
	}
	// All at once, then every ack: one round trip for the lot. The
	// JetStream context times out what is left pending
	// (WithPublishAsyncTimeout), so a lost ack leaks nothing.
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.js.PublishMsgAsync(m)
		if err != nil {
			return classify(fmt.Errorf("publish %s user leg on %s: %w", cs.CallID, m.Subject, err))
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(p.cfg.PublishTimeout)
	defer timeout.Stop()
	for i, f := range futures {
		var err error
		select {
		case <-f.Ok():
			continue
		case err = <-f.Err():
		case <-timeout.C:
			err = context.DeadlineExceeded
		case <-ctx.Done():
			err = ctx.Err()
		}
		if rerr := p.userLegRefused(cs, msgs, before); rerr != nil {
			return rerr
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			p.streamReady = false // deleted behind our back: look again
		}
		return classify(fmt.Errorf("publish %s user leg on %s: %w", cs.CallID, msgs[i].Subject, err))
	}
	return nil
}

// userLegRefused is the permanent error of a user subject the server
// refuses, naming the way out.
func (p *Publisher) userLegRefused(cs mapping.CallStatus, msgs []*nats.Msg, before error) error {
	for _, m := range msgs {
		if err := p.refused(before, m.Subject); err != nil {
			return permanent(fmt.Errorf("publish %s user leg on %s (allow it, or set nats.user_legs: false): %w", cs.CallID, m.Subject, err))
		}
	}
	return nil
}

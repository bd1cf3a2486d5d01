package broker

import (
	"context"
	"time"

	"github.com/sluice-mq/sluice/broker/message"
)

// Redrive moves messages from a dead-letter queue back to where they came
// from (SQS's redrive): each goes to the queue named first in its x-death
// history, or to target when that is given. At most max messages move (0:
// all that are ready now), at most perSecond a second (0: no limit). It
// returns how many moved; it stops early when ctx ends. Messages keep their
// headers, x-death included, so their history stays visible.
func (v *VHost) Redrive(ctx context.Context, from, target string, max int, perSecond float64) (int, error) {
	src, err := v.queueFor(from, 0)
	if err != nil {
		return 0, err
	}
	s := v.NewSession(0, discardSink{})
	defer s.Close()
	var gap time.Duration
	if perSecond > 0 {
		gap = time.Duration(float64(time.Second) / perSecond)
	}
	moved := 0
	for max == 0 || moved < max {
		if ctx.Err() != nil {
			return moved, nil
		}
		d, _, ok := src.get(s, false)
		if !ok {
			return moved, nil
		}
		dest := target
		if dest == "" {
			dest = firstDeathQueue(d.Msg)
		}
		if _, ok := v.Queue(dest); dest == "" || !ok {
			_ = s.Nack(d.Tag, false, true)
			return moved, errorf(CodeNotFound, "cannot redrive from '%s': no source queue '%s' in vhost '%s'", from, dest, v.name)
		}
		m := *d.Msg // the body stays shared; only routing fields change
		if _, err := s.Publish("", dest, &m, PublishOptions{}); err != nil {
			_ = s.Nack(d.Tag, false, true)
			return moved, err
		}
		if err := s.Ack(d.Tag, false); err != nil {
			return moved, err
		}
		moved++
		if gap > 0 {
			select {
			case <-ctx.Done():
				return moved, nil
			case <-time.After(gap):
			}
		}
	}
	return moved, nil
}

func firstDeathQueue(m *message.Message) string {
	deaths, _ := m.Header("x-death").([]any)
	if len(deaths) == 0 {
		return ""
	}
	// x-death is newest first; the original source is the oldest entry.
	t, _ := deaths[len(deaths)-1].(message.Table)
	q, _ := message.String(t["queue"])
	return q
}

// discardSink is the sink of the broker's own sessions, which only get.
type discardSink struct{}

func (discardSink) Deliver(Delivery) {}
func (discardSink) Cancelled(string) {}
func (discardSink) Full() bool       { return false }

package broker

import "context"

// Long polling: a getter that finds its queue empty parks on a channel of
// its own and is woken by the next message, so waiting costs no goroutine
// and no spinning — the HTTP API's ReceiveMessage with WaitTimeSeconds
// rests on this.

// wakePollerLocked wakes one waiting getter when a message is ready.
func (q *Queue) wakePollerLocked() {
	if len(q.pollers) > 0 && q.ready.count > 0 {
		close(q.pollers[0])
		q.pollers = q.pollers[1:]
	}
}

func (q *Queue) wakeAllPollersLocked() {
	for _, c := range q.pollers {
		close(c)
	}
	q.pollers = nil
}

// GetWait is Get that waits, until ctx ends, for a message on an empty
// queue. ok is false when ctx ended first.
func (s *Session) GetWait(ctx context.Context, queue string, noAck bool) (d Delivery, remaining int, ok bool, err error) {
	q, err := s.vh.queueFor(queue, s.owner)
	if err != nil {
		return Delivery{}, 0, false, err
	}
	err = s.pollUntil(ctx, q, queue, func() bool {
		d, remaining, ok = q.get(s, noAck)
		return ok
	})
	return d, remaining, ok, err
}

// pollUntil calls take until it reports success, parking between tries
// until the queue has something deliverable, or until ctx ends (then it
// counts an empty get and returns nil with take never successful).
func (s *Session) pollUntil(ctx context.Context, q *Queue, queue string, take func() bool) error {
	for {
		if take() {
			return nil
		}
		wake := make(chan struct{})
		q.mu.Lock()
		if q.deleted {
			q.mu.Unlock()
			return errNoQueue(queue, s.vh.name)
		}
		if q.deliverableLocked() {
			q.mu.Unlock()
			continue
		}
		q.pollers = append(q.pollers, wake)
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			q.mu.Lock()
			for i, c := range q.pollers {
				if c == wake {
					q.pollers = append(q.pollers[:i], q.pollers[i+1:]...)
					break
				}
			}
			select {
			case <-wake:
				// Woken as we gave up: pass the wake-up on.
				q.wakePollerLocked()
			default:
			}
			q.mu.Unlock()
			s.countEmptyGet(q)
			return nil
		}
	}
}

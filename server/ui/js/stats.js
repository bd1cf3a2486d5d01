// Reading RabbitMQ's statistics fields: a rate is the counter's
// "_details.rate" where the broker computes it; where it does not (yet),
// the page derives it from two samples of the counter.

// Rates keeps the previous sample of each object's counters.
export class Rates {
  constructor() { this.prev = new Map(); }

  // rate answers the per-second rate of stats[key] for the object id.
  rate(id, stats, key, now = Date.now()) {
    if (!stats) return undefined;
    const d = stats[`${key}_details`];
    if (d && typeof d.rate === 'number') return d.rate;
    const v = stats[key];
    if (typeof v !== 'number') return undefined;
    const k = `${id}\u0000${key}`;
    const p = this.prev.get(k);
    this.prev.set(k, [now, v]);
    if (!p || now <= p[0] || v < p[1]) return p ? 0 : undefined;
    return ((v - p[1]) * 1000) / (now - p[0]);
  }
}

// total messages of a queue (messages, or ready + unacked).
export function messages(q) {
  if (typeof q.messages === 'number') return q.messages;
  return (q.messages_ready || 0) + (q.messages_unacknowledged || 0);
}

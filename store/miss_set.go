package store

import "time"

// missSet remembers keys looked up and not found (unknown function names,
// hashes of bad tokens), each until a deadline, at most max of them: when
// full, an arbitrary entry makes room, so a flood of random keys costs
// bounded memory. It is not safe for concurrent use: its owner guards it.
type missSet struct {
	max     int
	ttl     time.Duration
	entries map[string]time.Time // key → forget after
}

func newMissSet(max int, ttl time.Duration) *missSet {
	if max <= 0 {
		max = DefaultMaxMisses
	}
	if ttl <= 0 {
		ttl = DefaultMissTTL
	}
	return &missSet{max: max, ttl: ttl, entries: make(map[string]time.Time)}
}

func (m *missSet) has(key string, now time.Time) bool {
	until, ok := m.entries[key]
	return ok && now.Before(until)
}

func (m *missSet) add(key string, now time.Time) {
	if _, ok := m.entries[key]; !ok && len(m.entries) >= m.max {
		for k, until := range m.entries {
			delete(m.entries, k)
			if !now.Before(until) {
				continue // expired: keep clearing those while cheap
			}
			break
		}
	}
	m.entries[key] = now.Add(m.ttl)
}

func (m *missSet) forget(key string) { delete(m.entries, key) }

func (m *missSet) clear() { clear(m.entries) }

func (m *missSet) len() int { return len(m.entries) }

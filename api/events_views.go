package api

import (
	"encoding/json"
	"time"

	"github.com/picloud/picloud/store"
)

// Event is one event of the log, as the events API shows it.
type Event struct {
	ID          int64           `json:"id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	Source      string          `json:"source,omitempty"`
	PublishedAt time.Time       `json:"published_at"`
}

func eventView(e store.Event) Event {
	return Event{ID: e.ID, Topic: e.Topic, Payload: e.Payload, Source: e.Source, PublishedAt: e.PublishedAt}
}

// Trigger subscribes a function to a topic, or to dead letters.
type Trigger struct {
	ID       int64  `json:"id"`
	Function string `json:"function"`
	// Kind is "topic" or "dead_letters".
	Kind      string    `json:"kind"`
	Topic     string    `json:"topic,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Trigger kinds.
const (
	TriggerKindTopic       = store.TriggerKindTopic
	TriggerKindDeadLetters = store.TriggerKindDeadLetters
)

func triggerView(t store.Trigger) Trigger {
	return Trigger{ID: t.ID, Function: t.Function, Kind: t.Kind, Topic: t.Topic, CreatedAt: t.CreatedAt}
}

// DeadLetter is a delivery that failed its last attempt.
type DeadLetter struct {
	ID       int64  `json:"id"`
	Function string `json:"function"`
	// Trigger is what the failed delivery was: "event" or "cron".
	Trigger     string          `json:"trigger"`
	EventID     int64           `json:"event_id"`
	Topic       string          `json:"topic"`
	Payload     json.RawMessage `json:"payload"`
	PublishedAt time.Time       `json:"published_at"`
	Attempts    []Attempt       `json:"attempts"`
	// Retries counts how often this delivery was retried from the
	// dead-letter queue before failing again.
	Retries   int       `json:"retries"`
	CreatedAt time.Time `json:"created_at"`
}

// Attempt is one failed attempt of a delivery.
type Attempt struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

func deadLetterView(d store.DeadLetter) DeadLetter {
	out := DeadLetter{ID: d.ID, Function: d.Function, Trigger: d.Trigger, EventID: d.EventID, Topic: d.Topic,
		Payload: d.Payload, PublishedAt: d.PublishedAt, Retries: d.Retries, CreatedAt: d.CreatedAt,
		Attempts: make([]Attempt, len(d.Attempts))}
	for i, a := range d.Attempts {
		out.Attempts[i] = Attempt{Attempt: a.Attempt, At: a.At, Error: a.Error}
	}
	return out
}

// Schedule is a cron schedule with its next tick.
type Schedule struct {
	ID       int64           `json:"id"`
	Function string          `json:"function"`
	Expr     string          `json:"expr"`
	TZ       string          `json:"tz"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Enabled  bool            `json:"enabled"`
	// LastTickAt is the newest tick that fired (nil if none yet).
	LastTickAt *time.Time `json:"last_tick_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	// NextTickAt is when it fires next (nil while disabled).
	NextTickAt *time.Time `json:"next_tick_at,omitempty"`
}

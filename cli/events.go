package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/events"
)

// This file holds the events commands (trigger, dlq, schedule, events) and
// the serve flags of the events service. commands() lists them with
// eventsCommands(); runServe defines the flags with eventsServeFlags.

// eventsCommands are the command groups of the events side.
func eventsCommands() []*command {
	return []*command{triggerCommand(), dlqCommand(), scheduleCommand(), eventsCommand()}
}

// eventsServeFlags defines the events flags of `picloud serve` on ef; the
// returned options are filled once the flags are parsed.
func eventsServeFlags(ef *envFlags) *events.Options {
	o := &events.Options{}
	ef.Duration(&o.RetryBase, "retry-base", "PICLOUD_RETRY_BASE", events.DefaultRetryBase,
		"first retry delay of a failed delivery, doubled per attempt with jitter, a `DURATION`")
	ef.Int(&o.Workers, "event-workers", "PICLOUD_EVENT_WORKERS", events.DefaultWorkers,
		"deliveries and async calls this node runs at once, `N`")
	ef.Duration(&o.RescueAfter, "rescue-after", "PICLOUD_RESCUE_AFTER", events.DefaultRescueAfter,
		"a delivery still running this long (its node died) is retried, a `DURATION`")
	ef.Duration(&o.EventRetention, "event-retention", "PICLOUD_EVENT_RETENTION", events.DefaultEventRetention,
		"events older than this are pruned (and no longer replayed), a `DURATION`")
	ef.Duration(&o.InvocationRetention, "invocation-retention", "PICLOUD_INVOCATION_RETENTION", events.DefaultInvocationRetention,
		"invocation records older than this are pruned, a `DURATION`")
	ef.Int(&o.MaxQueuedCalls, "max-queued-calls", "PICLOUD_MAX_QUEUED_CALLS", events.DefaultMaxQueuedCalls,
		"async calls of one function that may wait (queued or running), `N` (429 beyond)")
	ef.Size(&o.MaxQueuedBytes, "max-queued-bytes", "PICLOUD_MAX_QUEUED_BYTES", events.DefaultMaxQueuedBytes,
		"request bytes of one function's waiting async calls (429 beyond)")
	ef.Int(&o.MaxStreamsPerToken, "max-streams-per-token", "PICLOUD_MAX_STREAMS_PER_TOKEN", events.DefaultMaxStreamsPerToken,
		"event streams one token may hold open on this server, `N` (429 beyond)")
	return o
}

// --- client methods ---

// AddTrigger subscribes function to topic, or to dead letters.
func (c *Client) AddTrigger(ctx context.Context, req api.TriggerRequest) (api.Trigger, error) {
	var t api.Trigger
	err := c.do(ctx, http.MethodPost, "/api/v1/triggers", req, &t)
	return t, err
}

// ListTriggers lists the triggers of function ("" for all).
func (c *Client) ListTriggers(ctx context.Context, function string) ([]api.Trigger, error) {
	q := url.Values{}
	if function != "" {
		q.Set("function", function)
	}
	return allPages(ctx, c, "/api/v1/triggers", q, func(l *api.TriggerList) ([]api.Trigger, string) { return l.Triggers, l.Next })
}

// DeleteTrigger removes a trigger.
func (c *Client) DeleteTrigger(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/triggers/%d", id), nil, nil)
}

// ListDeadLetters lists dead letters, newest first.
func (c *Client) ListDeadLetters(ctx context.Context, function string) ([]api.DeadLetter, error) {
	var out api.DeadLetterList
	err := c.do(ctx, http.MethodGet, "/api/v1/dead-letters"+query("function", function), nil, &out)
	return out.DeadLetters, err
}

// DeadLetter returns one dead letter.
func (c *Client) DeadLetter(ctx context.Context, id int64) (api.DeadLetter, error) {
	var dl api.DeadLetter
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/dead-letters/%d", id), nil, &dl)
	return dl, err
}

// RetryDeadLetter moves a dead letter back to the queue.
func (c *Client) RetryDeadLetter(ctx context.Context, id int64) (api.RetryResponse, error) {
	var out api.RetryResponse
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/dead-letters/%d/retry", id), nil, &out)
	return out, err
}

// DeleteDeadLetter removes a dead letter.
func (c *Client) DeleteDeadLetter(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/dead-letters/%d", id), nil, nil)
}

// AddSchedule creates a cron schedule.
func (c *Client) AddSchedule(ctx context.Context, req api.ScheduleRequest) (api.Schedule, error) {
	var out api.Schedule
	err := c.do(ctx, http.MethodPost, "/api/v1/schedules", req, &out)
	return out, err
}

// ListSchedules lists the schedules.
func (c *Client) ListSchedules(ctx context.Context) ([]api.Schedule, error) {
	return allPages(ctx, c, "/api/v1/schedules", nil, func(l *api.ScheduleList) ([]api.Schedule, string) { return l.Schedules, l.Next })
}

// DeleteSchedule removes a schedule.
func (c *Client) DeleteSchedule(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/schedules/%d", id), nil, nil)
}

// SetScheduleEnabled enables or disables a schedule.
func (c *Client) SetScheduleEnabled(ctx context.Context, id int64, enabled bool) (api.Schedule, error) {
	verb := "disable"
	if enabled {
		verb = "enable"
	}
	var out api.Schedule
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/schedules/%d/%s", id, verb), nil, &out)
	return out, err
}

// Publish publishes a JSON payload on topic.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte) (api.PublishResponse, error) {
	var out api.PublishResponse
	resp, err := c.send(ctx, http.MethodPost, "/api/v1/events/"+url.PathEscape(topic),
		http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(payload))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, c.errorFrom(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode answer of publish: %w", err)
	}
	return out, nil
}

// PublishBatch publishes payloads on topic as one event each, in one
// transaction (at most 1000: the server's bound).
func (c *Client) PublishBatch(ctx context.Context, topic string, payloads []json.RawMessage) (api.PublishBatchResponse, error) {
	var out api.PublishBatchResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/events/"+url.PathEscape(topic)+"?batch=1", payloads, &out)
	return out, err
}

// Tail follows the event stream of topics (all when empty), calling fn for
// each event, from after lastID (-1: only new events). After a dropped
// connection it reconnects and resumes with Last-Event-ID, so no event is
// missed or repeated. It returns when ctx ends or fn fails.
func (c *Client) Tail(ctx context.Context, topics []string, lastID int64, onState func(string), fn func(api.StreamEvent) error) error {
	backoff := 500 * time.Millisecond
	for {
		got, err := c.tailOnce(ctx, topics, &lastID, fn)
		if ctx.Err() != nil {
			return nil
		}
		var fnErr *tailHandlerError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			return err
		}
		var authErr *AuthError
		var scopeErr *ScopeError
		if errors.As(err, &authErr) || errors.As(err, &scopeErr) {
			return err
		}
		if got {
			backoff = 500 * time.Millisecond
		}
		if onState != nil {
			msg := "stream ended"
			if err != nil {
				msg = err.Error()
			}
			onState(fmt.Sprintf("%s; reconnecting in %s (resuming after event %d)", msg, backoff, lastID))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 15*time.Second)
	}
}

type tailHandlerError struct{ err error }

func (e *tailHandlerError) Error() string { return e.err.Error() }

// tailOnce reads one connection of the stream; got reports whether it
// received anything.
func (c *Client) tailOnce(ctx context.Context, topics []string, lastID *int64, fn func(api.StreamEvent) error) (got bool, err error) {
	q := url.Values{"topic": topics}
	header := http.Header{"Accept": {"text/event-stream"}}
	if *lastID >= 0 {
		header.Set("Last-Event-ID", strconv.FormatInt(*lastID, 10))
	}
	path := "/api/v1/events/stream"
	if len(topics) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return false, err
	}
	req.Header = header
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := (&http.Client{}).Do(req) // no timeout: a stream stays open
	if err != nil {
		return false, &ConnError{URL: c.BaseURL, Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, c.errorFrom(resp)
	}
	br := bufio.NewReader(resp.Body)
	var data strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return got, nil
			}
			return got, err
		}
		got = true
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev api.StreamEvent
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return got, fmt.Errorf("bad event from server: %w", err)
			}
			data.Reset()
			if err := fn(ev); err != nil {
				return got, &tailHandlerError{err}
			}
			*lastID = ev.ID
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
}

func query(name, value string) string {
	if value == "" {
		return ""
	}
	return "?" + url.Values{name: {value}}.Encode()
}

// withID is the Run of a command whose one argument is the ID of a thing
// ("trigger id", "schedule id"...): it parses the flags and the ID, then
// calls do with it.
func withID(what string, do func(ctx context.Context, a *app, id int64) error) func(context.Context, *app, *command, []string) error {
	return func(ctx context.Context, a *app, c *command, args []string) error {
		pos, err := a.parse(c, newFlags(c), args, "ID")
		if err != nil {
			return err
		}
		id, err := parseID(c, pos[0], what)
		if err != nil {
			return err
		}
		return do(ctx, a, id)
	}
}

func parseID(c *command, s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef(c, "%s %q is not valid: want a number (see the ID column of ls)", what, s)
	}
	return id, nil
}

// --- trigger ---

func triggerCommand() *command {
	return &command{
		Name:    "trigger",
		Args:    "add|ls|rm ...",
		Summary: "run functions on events published to a topic, or on dead letters",
		Description: `A trigger runs FUNCTION for every event published on a topic (with
req.trigger = "event" and req.event = {id, topic, payload, attempt,
published_at}), or for every delivery that failed its last attempt (with
--dead-letters: req.trigger = "dead_letter", the dead letter in req.event).`,
		Example: `picloud trigger add thumbnailer --topic image.uploaded
picloud trigger add alert --dead-letters
picloud trigger ls
picloud trigger rm 3`,
		Subs: []*command{triggerAddCommand(), triggerLsCommand(), triggerRmCommand()},
	}
}

func triggerAddCommand() *command {
	return &command{
		Name:        "trigger add",
		Args:        "FUNCTION (--topic TOPIC | --dead-letters)",
		Summary:     "subscribe a function to a topic or to dead letters",
		Description: "Subscribes FUNCTION to TOPIC, or to dead letters with --dead-letters.",
		Example:     "picloud trigger add thumbnailer --topic image.uploaded\npicloud trigger add alert --dead-letters",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			topic := fs.String("topic", "", "`TOPIC` whose events run the function")
			dl := fs.Bool("dead-letters", false, "run the function for every dead letter")
			pos, err := a.parse(c, fs, args, "FUNCTION")
			if err != nil {
				return err
			}
			if (*topic == "") == !*dl {
				return usagef(c, "give --topic TOPIC or --dead-letters")
			}
			t, err := a.client().AddTrigger(ctx, api.TriggerRequest{Function: pos[0], Topic: *topic, DeadLetters: *dl})
			if err != nil {
				return fmt.Errorf("add trigger: %w", err)
			}
			fmt.Fprintf(a.env.Stdout, "trigger %d: %s runs on %s\n", t.ID, clean(t.Function), clean(triggerSource(t)))
			return nil
		},
	}
}

func triggerSource(t api.Trigger) string {
	if t.Kind == api.TriggerKindDeadLetters {
		return "dead letters"
	}
	return "topic " + t.Topic
}

func triggerLsCommand() *command {
	return &command{
		Name:        "trigger ls",
		Args:        "[--function NAME] [--json]",
		Summary:     "list triggers",
		Description: "Lists the triggers, oldest first.",
		Example:     "picloud trigger ls --function thumbnailer",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			fn := fs.String("function", "", "only the triggers of `NAME`")
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			ts, err := a.client().ListTriggers(ctx, *fn)
			if err != nil {
				return fmt.Errorf("list triggers: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.TriggerList{Triggers: nonNil(ts)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFUNCTION\tON\tCREATED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", t.ID, clean(t.Function), clean(triggerSource(t)), ago(t.CreatedAt))
			}
			return tw.Flush()
		},
	}
}

func triggerRmCommand() *command {
	return &command{
		Name:        "trigger rm",
		Args:        "ID",
		Summary:     "remove a trigger",
		Description: "Removes the trigger ID (see picloud trigger ls); queued deliveries still run.",
		Example:     "picloud trigger rm 3",
		Run: withID("trigger id", func(ctx context.Context, a *app, id int64) error {
			if err := a.client().DeleteTrigger(ctx, id); err != nil {
				return fmt.Errorf("remove trigger %d: %w", id, err)
			}
			fmt.Fprintf(a.env.Stdout, "removed trigger %d\n", id)
			return nil
		}),
	}
}

// --- dlq ---

func dlqCommand() *command {
	return &command{
		Name:    "dlq",
		Args:    "ls|show|retry|rm ...",
		Summary: "see, retry and delete dead letters (deliveries that failed for good)",
		Description: `A delivery that fails its last attempt (functions' --max-attempts, default
5) becomes a dead letter: the event, the function and every attempt's error
and time. retry puts it back in the queue with its attempts reset.`,
		Example: `picloud dlq ls
picloud dlq show 12
picloud dlq retry 12
picloud dlq rm 12`,
		Subs: []*command{dlqLsCommand(), dlqShowCommand(), dlqRetryCommand(), dlqRmCommand()},
	}
}

func dlqLsCommand() *command {
	return &command{
		Name:        "dlq ls",
		Args:        "[--function NAME] [--json]",
		Summary:     "list dead letters, newest first",
		Description: "Lists the dead letters, newest first, with the last error of each.",
		Example:     "picloud dlq ls --function thumbnailer",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			fn := fs.String("function", "", "only the dead letters of `NAME`")
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			dls, err := a.client().ListDeadLetters(ctx, *fn)
			if err != nil {
				return fmt.Errorf("list dead letters: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.DeadLetterList{DeadLetters: nonNil(dls)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFUNCTION\tTRIGGER\tEVENT\tATTEMPTS\tCREATED\tLAST ERROR")
			for _, dl := range dls {
				last := ""
				if n := len(dl.Attempts); n > 0 {
					last = clean(short(strings.ReplaceAll(dl.Attempts[n-1].Error, "\n", " "), 60))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.ID, clean(dl.Function), clean(dl.Trigger),
					clean(eventRef(dl)), len(dl.Attempts), ago(dl.CreatedAt), last)
			}
			return tw.Flush()
		},
	}
}

func eventRef(dl api.DeadLetter) string {
	if dl.Topic == "" {
		return "-"
	}
	return fmt.Sprintf("%s #%d", dl.Topic, dl.EventID)
}

func dlqShowCommand() *command {
	return &command{
		Name:        "dlq show",
		Args:        "ID",
		Summary:     "show a dead letter with every attempt",
		Description: "Prints the dead letter ID as JSON: its event, function and every attempt's error and time.",
		Example:     "picloud dlq show 12",
		Run: withID("dead letter id", func(ctx context.Context, a *app, id int64) error {
			dl, err := a.client().DeadLetter(ctx, id)
			if err != nil {
				return fmt.Errorf("show dead letter %d: %w", id, err)
			}
			return printJSON(a.env.Stdout, dl)
		}),
	}
}

func dlqRetryCommand() *command {
	return &command{
		Name:        "dlq retry",
		Args:        "ID",
		Summary:     "queue a dead letter again, attempts reset",
		Description: "Moves the dead letter ID back to the queue as a new delivery with its attempts reset; if it fails for good again, a new dead letter appears.",
		Example:     "picloud dlq retry 12",
		Run: withID("dead letter id", func(ctx context.Context, a *app, id int64) error {
			r, err := a.client().RetryDeadLetter(ctx, id)
			if err != nil {
				return fmt.Errorf("retry dead letter %d: %w", id, err)
			}
			fmt.Fprintf(a.env.Stdout, "dead letter %d queued again for %s\n", id, clean(r.Function))
			return nil
		}),
	}
}

func dlqRmCommand() *command {
	return &command{
		Name:        "dlq rm",
		Args:        "ID",
		Summary:     "delete a dead letter",
		Description: "Deletes the dead letter ID.",
		Example:     "picloud dlq rm 12",
		Run: withID("dead letter id", func(ctx context.Context, a *app, id int64) error {
			if err := a.client().DeleteDeadLetter(ctx, id); err != nil {
				return fmt.Errorf("delete dead letter %d: %w", id, err)
			}
			fmt.Fprintf(a.env.Stdout, "deleted dead letter %d\n", id)
			return nil
		}),
	}
}

// --- schedule ---

func scheduleCommand() *command {
	return &command{
		Name:    "schedule",
		Args:    "add|ls|rm|enable|disable ...",
		Summary: "run functions on cron schedules",
		Description: `A schedule runs FUNCTION on a cron expression: 5 fields (minute hour
day-of-month month day-of-week) or a descriptor (@hourly, @daily, @every
30s...). Each tick runs once across all servers; ticks missed while the
servers were down are skipped, not run late.`,
		Example: `picloud schedule add report "0 9 * * MON-FRI" --tz Europe/Berlin
picloud schedule add ping "@every 30s" --payload '{"url":"https://example.org"}'
picloud schedule ls
picloud schedule disable 2`,
		Subs: []*command{scheduleAddCommand(), scheduleLsCommand(), scheduleRmCommand(),
			scheduleEnableCommand(true), scheduleEnableCommand(false)},
	}
}

func scheduleAddCommand() *command {
	return &command{
		Name:        "schedule add",
		Args:        `FUNCTION "EXPR" [--tz ZONE] [--payload JSON] [--disabled]`,
		Summary:     "add a cron schedule",
		Description: `Runs FUNCTION on EXPR with req.trigger = "cron", the payload in req.body and req.event = {schedule_id, expr, tz, tick, payload, attempt}.`,
		Example:     `picloud schedule add report "*/5 * * * *"` + "\n" + `picloud schedule add report "0 9 * * *" --tz Europe/Berlin --payload '{"kind":"daily"}'`,
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			tz := fs.String("tz", "UTC", "IANA time `ZONE` of the expression")
			payload := fs.String("payload", "", "`JSON` passed to each run")
			disabled := fs.Bool("disabled", false, "create the schedule disabled")
			pos, err := a.parse(c, fs, args, "FUNCTION", "EXPR")
			if err != nil {
				return err
			}
			req := api.ScheduleRequest{Function: pos[0], Expr: pos[1], TZ: *tz}
			if *payload != "" {
				if !json.Valid([]byte(*payload)) {
					return usagef(c, "--payload is not valid JSON")
				}
				req.Payload = json.RawMessage(*payload)
			}
			if *disabled {
				f := false
				req.Enabled = &f
			}
			sc, err := a.client().AddSchedule(ctx, req)
			if err != nil {
				return fmt.Errorf("add schedule: %w", err)
			}
			fmt.Fprintf(a.env.Stdout, "schedule %d: %s on %q (%s)%s\n", sc.ID, clean(sc.Function), sc.Expr, clean(sc.TZ), nextText(sc))
			return nil
		},
	}
}

func nextText(sc api.Schedule) string {
	if !sc.Enabled {
		return ", disabled"
	}
	if sc.NextTickAt == nil {
		return ""
	}
	return ", next run " + sc.NextTickAt.Format(time.RFC3339)
}

func scheduleLsCommand() *command {
	return &command{
		Name:        "schedule ls",
		Args:        "[--json]",
		Summary:     "list schedules",
		Description: "Lists the schedules with their next and last run.",
		Example:     "picloud schedule ls",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			list, err := a.client().ListSchedules(ctx)
			if err != nil {
				return fmt.Errorf("list schedules: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.ScheduleList{Schedules: nonNil(list)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFUNCTION\tEXPR\tTZ\tENABLED\tNEXT\tLAST")
			for _, sc := range list {
				next, last := "-", "-"
				if sc.NextTickAt != nil {
					next = sc.NextTickAt.Format(time.RFC3339)
				}
				if sc.LastTickAt != nil {
					last = ago(*sc.LastTickAt)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%t\t%s\t%s\n", sc.ID, clean(sc.Function), clean(sc.Expr), clean(sc.TZ), sc.Enabled, next, last)
			}
			return tw.Flush()
		},
	}
}

func scheduleRmCommand() *command {
	return &command{
		Name:        "schedule rm",
		Args:        "ID",
		Summary:     "remove a schedule",
		Description: "Removes the schedule ID (see picloud schedule ls).",
		Example:     "picloud schedule rm 2",
		Run: withID("schedule id", func(ctx context.Context, a *app, id int64) error {
			if err := a.client().DeleteSchedule(ctx, id); err != nil {
				return fmt.Errorf("remove schedule %d: %w", id, err)
			}
			fmt.Fprintf(a.env.Stdout, "removed schedule %d\n", id)
			return nil
		}),
	}
}

func scheduleEnableCommand(enable bool) *command {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	return &command{
		Name:        "schedule " + verb,
		Args:        "ID",
		Summary:     verb + " a schedule",
		Description: fmt.Sprintf("%ss the schedule ID.", strings.ToUpper(verb[:1])+verb[1:]),
		Example:     "picloud schedule " + verb + " 2",
		Run: withID("schedule id", func(ctx context.Context, a *app, id int64) error {
			sc, err := a.client().SetScheduleEnabled(ctx, id, enable)
			if err != nil {
				return fmt.Errorf("%s schedule %d: %w", verb, id, err)
			}
			fmt.Fprintf(a.env.Stdout, "schedule %d %sd%s\n", id, verb, nextText(sc))
			return nil
		}),
	}
}

// --- events ---

func eventsCommand() *command {
	return &command{
		Name:    "events",
		Args:    "publish|tail ...",
		Summary: "publish events and follow the event stream",
		Description: `Events are JSON payloads published on a topic; the functions subscribed to
the topic (picloud trigger add) run for each, and the stream shows them
live.`,
		Example: `picloud events publish orders.created '{"id": 42}'
picloud events tail --topic orders.created`,
		Subs: []*command{eventsPublishCommand(), eventsTailCommand()},
	}
}

// publishBatchSize is the events one request of `events publish --file`
// carries: the server's bound (events.MaxBatchEvents).
const publishBatchSize = events.MaxBatchEvents

func eventsPublishCommand() *command {
	return &command{
		Name:    "events publish",
		Args:    "TOPIC [JSON]... | TOPIC --file FILE",
		Summary: "publish events",
		Description: `Publishes JSON on TOPIC: one event for one JSON argument (or what stdin
holds when JSON is left out); several JSON arguments are one batch, published
in one transaction (all or none), with increasing ids in their order.

--file reads one JSON payload per line (blank lines are skipped; "-" is
stdin) and publishes them in batches of up to 1000 events, each batch one
transaction; an invalid line or a failed batch stops the command, and the
batches sent before it stay published.`,
		Example: `picloud events publish orders.created '{"id": 42}'` + "\n" +
			`picloud events publish orders.created '{"id": 1}' '{"id": 2}' '{"id": 3}'` + "\n" +
			`picloud events publish orders.created --file orders.jsonl` + "\n" +
			"echo '[1,2]' | picloud events publish numbers",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			file := fs.String("file", "", "publish the JSON payload on each line of `FILE` (\"-\" for stdin), in batches of up to 1000")
			pos, err := a.parse(c, fs, args, "TOPIC", "[JSON]...")
			if err != nil {
				return err
			}
			topic := pos[0]
			if *file != "" {
				if len(pos) > 1 {
					return usagef(c, "give JSON arguments or --file, not both")
				}
				return a.publishLines(ctx, topic, *file)
			}
			if len(pos) > 2 {
				payloads := make([]json.RawMessage, len(pos)-1)
				for i, p := range pos[1:] {
					if !json.Valid([]byte(p)) {
						return usagef(c, "payload %d is not valid JSON", i+1)
					}
					payloads[i] = json.RawMessage(p)
				}
				return a.publishBatch(ctx, topic, payloads)
			}
			var payload []byte
			if len(pos) == 2 {
				payload = []byte(pos[1])
			} else if payload, err = io.ReadAll(a.env.Stdin); err != nil {
				return fmt.Errorf("read the payload from stdin: %w", err)
			}
			payload = bytes.TrimSpace(payload)
			if !json.Valid(payload) {
				return usagef(c, "the payload is not valid JSON")
			}
			r, err := a.client().Publish(ctx, topic, payload)
			if err != nil {
				return fmt.Errorf("publish on %s: %w", topic, err)
			}
			fmt.Fprintf(a.env.Stdout, "published event %d on %s (%d deliveries)\n", r.ID, clean(r.Topic), r.Deliveries)
			return nil
		},
	}
}

// publishBatch publishes payloads as one batch and says what was published.
func (a *app) publishBatch(ctx context.Context, topic string, payloads []json.RawMessage) error {
	r, err := a.client().PublishBatch(ctx, topic, payloads)
	if err != nil {
		return fmt.Errorf("publish %d events on %s: %w", len(payloads), topic, err)
	}
	if n := len(r.Events); n > 0 {
		fmt.Fprintf(a.env.Stdout, "published %d events %d-%d on %s (%d deliveries)\n",
			n, r.Events[0].ID, r.Events[n-1].ID, clean(r.Topic), r.Deliveries)
	}
	return nil
}

// publishLines publishes the JSON payload of each line of file ("-" for
// stdin) in batches of publishBatchSize.
func (a *app) publishLines(ctx context.Context, topic, file string) error {
	in := a.env.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open the payloads: %w", err)
		}
		defer f.Close()
		in = f
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	batch := make([]json.RawMessage, 0, publishBatchSize)
	line, total := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := a.publishBatch(ctx, topic, batch); err != nil {
			return fmt.Errorf("%w (%d events before this batch were published)", err, total)
		}
		total += len(batch)
		batch = batch[:0]
		return nil
	}
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s line %d is not valid JSON: stopped; the %d events of the batches before its batch were published", file, line, total)
		}
		batch = append(batch, json.RawMessage(bytes.Clone(b)))
		if len(batch) == publishBatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s line %d: %w", file, line+1, err)
	}
	if err := flush(); err != nil {
		return err
	}
	if total == 0 {
		return fmt.Errorf("%s holds no payload: nothing published", file)
	}
	return nil
}

func eventsTailCommand() *command {
	return &command{
		Name:    "events tail",
		Args:    "[--topic TOPIC]... [--from ID] [--json]",
		Summary: "follow the event stream",
		Description: `Prints events as they are published, until Ctrl-C. After a dropped
connection it reconnects and resumes where it stopped (Last-Event-ID), so
nothing is missed or printed twice. --from ID first replays the events
after ID that the server still keeps.`,
		Example: "picloud events tail --topic orders.created\npicloud events tail --from 0 --json",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			var topics []string
			fs.Func("topic", "only events of `TOPIC` (repeatable)", func(s string) error {
				topics = append(topics, s)
				return nil
			})
			from := fs.Int64("from", -1, "replay the events after `ID` first")
			asJSON := fs.Bool("json", false, "print each event as a JSON line")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			onState := func(s string) { fmt.Fprintf(a.env.Stderr, "picloud events tail: %s\n", clean(s)) }
			return a.client().Tail(ctx, topics, *from, onState, func(ev api.StreamEvent) error {
				if *asJSON {
					b, err := json.Marshal(ev)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintf(a.env.Stdout, "%s\n", escapeJSON(b))
					return err
				}
				_, err := fmt.Fprintf(a.env.Stdout, "%d\t%s\t%s\t%s\n", ev.ID,
					ev.PublishedAt.Local().Format("15:04:05.000"), clean(ev.Topic), clean(string(ev.Payload)))
				return err
			})
		},
	}
}

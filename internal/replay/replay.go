// Package replay reads the dead-letter topic and brings its letters back:
// it lists them by reason, and re-produces the original bytes to their
// source topics (after the tenant was added or the currency fixed) so
// that they count. A ledger in Redis keeps a replay run twice, or stopped
// halfway and run again, from sending a letter twice.
package replay

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/deadletter"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// Letter is one dead letter.
type Letter struct {
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Tenant    string    `json:"tenant"`
	Key       string    `json:"key"`
	Value     string    `json:"value"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail"`
	Source    string    `json:"source"`
	ReplayOf  string    `json:"replay_of,omitempty"`
	Truncated bool      `json:"truncated,omitempty"`
}

// Position names the letter in the dead-letter topic: partition/offset.
func (l *Letter) Position() string { return fmt.Sprintf("%d/%d", l.Partition, l.Offset) }

// Filter selects letters; empty fields select all.
type Filter struct {
	Reason string
	Tenant string
	Since  time.Time
}

// Match reports whether l is selected.
func (f Filter) Match(l *Letter) bool {
	return (f.Reason == "" || l.Reason == f.Reason) && (f.Tenant == "" || l.Tenant == f.Tenant) &&
		(f.Since.IsZero() || !l.Time.Before(f.Since))
}

// Read returns the letters of topic that f selects, every partition read
// from its first offset to its end at the call.
func Read(ctx context.Context, kc *kafkaconn.Config, topic string, f Filter) ([]Letter, error) {
	var out []Letter
	err := kc.ReadAll(ctx, topic, false, func(m *kafka.Message) error {
		if l := letterOf(m); f.Match(&l) {
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Letter) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func letterOf(m *kafka.Message) Letter {
	l := Letter{Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(), Key: string(m.Key), Value: string(m.Value)}
	l.Tenant, _, _ = strings.Cut(l.Key, "/")
	for _, h := range m.Headers {
		switch h.Key {
		case "cxpulse-error":
			l.Reason = string(h.Value)
		case "cxpulse-detail":
			l.Detail = string(h.Value)
		case "cxpulse-source":
			l.Source = string(h.Value)
		case "cxpulse-truncated":
			l.Truncated = string(h.Value) == "true"
		case deadletter.HeaderReplayOf:
			l.ReplayOf = string(h.Value)
		}
	}
	return l
}

// Group is the letters of one reason.
type Group struct {
	Reason   string   `json:"reason"`
	Count    int      `json:"count"`
	Tenants  []string `json:"tenants"`
	Examples []Letter `json:"examples"`
}

// examples is how many letters a group shows.
const examples = 3

// Groups groups letters by reason, the largest group first.
func Groups(letters []Letter) []Group {
	byReason := map[string]*Group{}
	var order []*Group
	for i := range letters {
		l := &letters[i]
		g, ok := byReason[l.Reason]
		if !ok {
			g = &Group{Reason: l.Reason}
			byReason[l.Reason] = g
			order = append(order, g)
		}
		g.Count++
		if !slices.Contains(g.Tenants, l.Tenant) {
			g.Tenants = append(g.Tenants, l.Tenant)
		}
		if len(g.Examples) < examples {
			g.Examples = append(g.Examples, *l)
		}
	}
	out := make([]Group, len(order))
	for i, g := range order {
		slices.Sort(g.Tenants)
		out[i] = *g
	}
	slices.SortStableFunc(out, func(a, b Group) int { return b.Count - a.Count })
	return out
}

// Result is what a replay did.
type Result struct {
	Replayed        int `json:"replayed"`
	AlreadyReplayed int `json:"already_replayed"`
	// FromReplay are letters of events a replay sent before that failed
	// again; they are replayed only when asked (Options.Again).
	FromReplay int `json:"from_a_replay"`
	// Truncated letters no longer hold the whole message.
	Truncated int `json:"truncated"`
	NoSource  int `json:"no_source"`
	Erased    int `json:"erased"`
}

// Options configure a replay.
type Options struct {
	DryRun bool
	// Again replays letters of events an earlier replay sent too.
	Again bool
	// Erased reports whether an event belongs to an erased customer (its
	// letter is never replayed); nil for none.
	Erased func(context.Context, *events.Event) (bool, error)
}

// batch is how many letters are re-produced at once.
const batch = 500

// Replay re-produces letters to their source topics with the header
// cxpulse-replay-of, skipping those the ledger in rdb says a replay sent
// already, and records each batch once Kafka acknowledged it.
func Replay(ctx context.Context, letters []Letter, w *kafka.Writer, rdb redis.UniversalClient, opts Options) (Result, error) {
	var res Result
	var todo []Letter
	dec := events.NewDecoder(events.Tolerant)
	for _, l := range letters {
		if opts.Erased != nil {
			// A letter whose customer was erased since stays where it is,
			// however invalid the rest of it is.
			ev, _, _ := dec.Decode([]byte(l.Value))
			erased, err := opts.Erased(ctx, &ev)
			if err != nil {
				return res, err
			}
			if erased {
				res.Erased++
				continue
			}
		}
		switch {
		case l.Truncated:
			res.Truncated++
		case l.ReplayOf != "" && !opts.Again:
			res.FromReplay++
		case topicOf(l.Source) == "":
			res.NoSource++
		default:
			todo = append(todo, l)
		}
	}
	for len(todo) > 0 {
		chunk := todo[:min(batch, len(todo))]
		todo = todo[len(chunk):]
		ms := make([]any, len(chunk))
		for i := range chunk {
			ms[i] = chunk[i].Position()
		}
		done, err := rdb.SMIsMember(ctx, keys.Replayed(), ms...).Result()
		if err != nil {
			return res, fmt.Errorf("reading the replay ledger: %w", err)
		}
		var msgs []kafka.Message
		var marks []any
		for i, l := range chunk {
			if done[i] {
				res.AlreadyReplayed++
				continue
			}
			msgs = append(msgs, kafka.Message{Topic: topicOf(l.Source), Key: []byte(l.Key), Value: []byte(l.Value),
				Headers: []kafka.Header{{Key: deadletter.HeaderReplayOf, Value: []byte(l.Source)}}})
			marks = append(marks, ms[i])
		}
		if opts.DryRun || len(msgs) == 0 {
			res.Replayed += len(msgs)
			continue
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return res, fmt.Errorf("re-producing %d dead letters: %w", len(msgs), err)
		}
		if err := rdb.SAdd(ctx, keys.Replayed(), marks...).Err(); err != nil {
			return res, fmt.Errorf("writing the replay ledger: %w", err)
		}
		res.Replayed += len(msgs)
	}
	return res, nil
}

// topicOf returns the topic of a cxpulse-source (topic/partition/offset).
func topicOf(source string) string {
	parts := strings.Split(source, "/")
	if len(parts) != 3 || parts[0] == "" {
		return ""
	}
	return parts[0]
}

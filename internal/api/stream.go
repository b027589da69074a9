package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/pace"
	"github.com/cxpulse/cxpulse/internal/serve"
)

// The stream endpoint relays what every instance publishes anyway:
// cx.scores snapshots and cx.alerts notifications. Each instance reads
// every partition of both topics from the end it found at start (no
// consumer group) and fans the messages of each tenant out to that
// tenant's subscribers, so any instance can serve any tenant's stream.

// streamEvent is one server-sent event.
type streamEvent struct {
	name string // "scores" or "alert"
	data []byte
}

// hub fans stream events out to subscribers by tenant.
type hub struct {
	mu   sync.Mutex
	subs map[chan streamEvent]string // → tenant
	// ready is closed once the relay reads from the topics' ends: from
	// then on nothing published is missed.
	ready     chan struct{}
	readyOnce sync.Once
}

func newHub() *hub { return &hub{subs: map[chan streamEvent]string{}, ready: make(chan struct{})} }

// subscriberBuffer bounds the events waiting for one slow client; beyond
// it events are dropped for that client (scores carry seq, so a client
// catches up with the next snapshot).
const subscriberBuffer = 256

// readyWait bounds how long a new stream waits for the relay to find the
// topics' ends before it is served anyway.
const readyWait = 10 * time.Second

func (h *hub) subscribe(tenant string) (chan streamEvent, func()) {
	c := make(chan streamEvent, subscriberBuffer)
	h.mu.Lock()
	h.subs[c] = tenant
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

func (h *hub) publish(tenant string, ev streamEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c, t := range h.subs {
		if t != tenant {
			continue
		}
		select {
		case c <- ev:
		default:
		}
	}
}

// relay reads cx.scores and cx.alerts until ctx ends. When reading fails
// it starts again where each partition was left, so a failure loses
// nothing.
func (s *Server) relay(ctx context.Context) error {
	next := &nextOffsets{at: map[string]int64{}}
	for n := 0; ctx.Err() == nil; n++ {
		err := s.relayFrom(ctx, next)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("stream relay", zap.Error(err))
		if !pace.Wait(ctx, n) {
			break
		}
	}
	return nil
}

// nextOffsets holds, per partition (topic/partition), the next offset to
// relay.
type nextOffsets struct {
	mu sync.Mutex
	at map[string]int64
}

func (n *nextOffsets) get(name string, end int64) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if off, ok := n.at[name]; ok && off <= end {
		return off
	}
	return end
}

func (n *nextOffsets) set(name string, off int64) {
	n.mu.Lock()
	n.at[name] = off
	n.mu.Unlock()
}

// relayFrom reads every partition of cx.scores and cx.alerts, one reader
// each, from where it was left or else from its current end.
func (s *Server) relayFrom(ctx context.Context, next *nextOffsets) error {
	scores, alerts := s.cfg.TopicPrefix+"scores", s.cfg.TopicPrefix+"alerts"
	meta, err := s.parts.Admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{scores, alerts}})
	if err != nil {
		return fmt.Errorf("reading metadata of %s and %s: %w", scores, alerts, err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := s.parts.Admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return fmt.Errorf("listing the ends of %s and %s: %w", scores, alerts, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	for topic, parts := range offs.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("end of %s/%d: %w", topic, p.Partition, p.Error)
			}
			name := fmt.Sprintf("%s/%d", topic, p.Partition)
			r := s.parts.Kafka.Reader(kafka.ReaderConfig{Topic: topic, Partition: p.Partition, MinBytes: 1, MaxBytes: 4 << 20,
				MaxWait: 250 * time.Millisecond})
			if err := r.SetOffset(next.get(name, p.LastOffset)); err != nil {
				_ = r.Close()
				return fmt.Errorf("seeking %s: %w", name, err)
			}
			g.Go(func() error {
				defer r.Close()
				for {
					m, err := r.ReadMessage(gctx)
					if err != nil {
						return fmt.Errorf("reading %s: %w", name, err)
					}
					next.set(name, m.Offset+1)
					s.hub.dispatch(&m, scores)
				}
			})
		}
	}
	s.hub.readyOnce.Do(func() { close(s.hub.ready) })
	return g.Wait()
}

// dispatch hands one relayed message to its tenant's subscribers.
func (h *hub) dispatch(m *kafka.Message, scores string) {
	if m.Topic == scores {
		tenant, _, _ := strings.Cut(string(m.Key), "/")
		h.publish(tenant, streamEvent{name: "scores", data: m.Value})
		return
	}
	var n struct {
		Labels map[string]string `json:"labels"`
	}
	if json.Unmarshal(m.Value, &n) == nil {
		h.publish(n.Labels["tenant"], streamEvent{name: "alert", data: m.Value})
	}
}

// handleStream serves a tenant's score and alert changes as server-sent
// events: "scores" with a cx.scores snapshot, "alert" with a cx.alerts
// notification, and a comment every 15 s to keep proxies from closing the
// connection. The answer starts once the relay reads from the topics' ends
// (within readyWait), so that nothing published after it is missed.
// Browsers' EventSource cannot send headers: the key may come as ?token=.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	flusher, ok := w.(http.Flusher)
	if !ok {
		serve.Error(w, http.StatusInternalServerError, fmt.Errorf("streaming is not supported by this connection"))
		return
	}
	if err := serve.NoWriteDeadline(w); err != nil {
		serve.Error(w, http.StatusInternalServerError, fmt.Errorf("lifting the write timeout of the stream: %w", err))
		return
	}
	c, cancel := s.hub.subscribe(tenant)
	defer cancel()
	wait := time.NewTimer(readyWait)
	defer wait.Stop()
	select {
	case <-s.hub.ready:
	case <-wait.C:
		s.log.Warn("serving a stream before the relay found the topics' ends", zap.String("tenant", tenant))
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": cxpulse stream of tenant %s\n\n", tenant)
	flusher.Flush()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev := <-c:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
		}
		flusher.Flush()
	}
}

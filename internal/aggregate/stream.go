package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/serve"
)

// The stream endpoint relays what every instance publishes anyway:
// cx.scores snapshots and cx.alerts notifications. One consumer per
// instance reads both topics from their end (no consumer group) and fans
// the messages of each tenant out to that tenant's subscribers, so any
// instance can serve any tenant's stream.

// streamEvent is one server-sent event.
type streamEvent struct {
	name string // "scores" or "alert"
	data []byte
}

// hub fans stream events out to subscribers by tenant.
type hub struct {
	mu   sync.Mutex
	subs map[chan streamEvent]string // → tenant
	// ready is closed once the consumer has joined the topics' ends.
	ready chan struct{}
}

func newHub() *hub { return &hub{subs: map[chan streamEvent]string{}, ready: make(chan struct{})} }

// subscriberBuffer bounds the events waiting for one slow client; beyond
// it events are dropped for that client (scores carry seq, so a client
// catches up with the next snapshot).
const subscriberBuffer = 256

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

// relay consumes cx.scores and cx.alerts from their end until ctx ends.
func (a *Aggregator) relay(ctx context.Context) error {
	scores, alerts := a.topic("scores"), a.topic("alerts")
	for n := 0; ctx.Err() == nil; n++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.cfg.KafkaBrokers...), kgo.ConsumeTopics(scores, alerts),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			a.log.Warn("stream relay", zap.Error(err))
			if !backoff(ctx, n) {
				return nil
			}
			continue
		}
		a.relayFrom(ctx, cl, scores)
		cl.Close()
	}
	return nil
}

func (a *Aggregator) relayFrom(ctx context.Context, cl *kgo.Client, scores string) {
	once := sync.Once{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		// The first poll returns once the consumer knows where the ends
		// are; from then on nothing published is missed.
		once.Do(func() { close(a.hub.ready) })
		fs.EachError(func(t string, p int32, err error) {
			a.log.Debug("stream relay fetch", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Topic == scores {
				tenant, _, _ := strings.Cut(string(r.Key), "/")
				a.hub.publish(tenant, streamEvent{name: "scores", data: r.Value})
				return
			}
			var n struct {
				Labels map[string]string `json:"labels"`
			}
			if json.Unmarshal(r.Value, &n) == nil {
				a.hub.publish(n.Labels["tenant"], streamEvent{name: "alert", data: r.Value})
			}
		})
	}
}

// handleStream serves a tenant's score and alert changes as server-sent
// events: "scores" with a cx.scores snapshot, "alert" with a cx.alerts
// notification, and a comment every 15 s to keep proxies from closing the
// connection. Browsers' EventSource cannot send headers: the key may come
// as ?token=.
func (a *Aggregator) handleStream(w http.ResponseWriter, r *http.Request) {
	tenant := chi.URLParam(r, "tenant")
	flusher, ok := w.(http.Flusher)
	if !ok {
		serve.Error(w, http.StatusInternalServerError, fmt.Errorf("streaming is not supported by this connection"))
		return
	}
	c, cancel := a.hub.subscribe(tenant)
	defer cancel()
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
		case <-a.stopping:
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev := <-c:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
		}
		flusher.Flush()
	}
}

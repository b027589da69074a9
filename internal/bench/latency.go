package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// latencyTenant is the tenant of the latency phase's markers.
const latencyTenant = "latency"

// Latency phase settings: a marker every markerEvery, alternately on a
// scope that exists (one of warmScopes, made before the phase) and on a
// new one; one poller reads every pending marker's view field in one
// pipelined round trip every pollEvery, so the measuring loads Redis the
// same whatever the number of markers.
const (
	markerEvery = 50 * time.Millisecond
	warmScopes  = 20
	pollEvery   = 2 * time.Millisecond
	viewField   = "1h:nps_responses"
)

// latency is what the latency phase measures, in milliseconds from the
// produce acknowledgement to the view holding the marker.
type latency struct {
	ExistingP50, ExistingP99 float64
	NewP50, NewP99           float64
}

// marker is one marker event waiting to show in its scope's view.
type marker struct {
	key      string // the view hash
	want     int64  // the view's 1h:nps_responses once it shows
	acked    time.Time
	existing bool
}

// measureLatency sends markers for span and measures each from its
// produce acknowledgement to the moment its scope's view counts it, apart
// for scopes that existed and scopes the marker creates.
func measureLatency(ctx context.Context, broker string, rdb *redis.Client, span time.Duration) (latency, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return latency{}, err
	}
	defer cl.Close()
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	send := func(scope string, n int) (time.Time, error) {
		ev := events.Event{ID: fmt.Sprintf("lat-%s-%d", scope, n), Type: events.TypeSurveyResponse, Tenant: latencyTenant, OccurredAt: time.Now(),
			Dims: map[string]string{"store": scope}, Survey: &events.Survey{Metric: events.MetricNPS, Score: 9}}
		b, _ := json.Marshal(ev)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: ev.Topic(events.DefaultTopicPrefix), Key: []byte(ev.Key()), Value: b}).FirstErr()
		return time.Now(), err
	}
	p := &poller{rdb: rdb, done: make(chan struct{})}
	go p.run(ctx)
	defer close(p.done)
	// The scopes that exist before the phase, each with one answer.
	warm := make([]string, warmScopes)
	counts := make([]int64, warmScopes)
	for i := range warm {
		warm[i] = fmt.Sprintf("w%s-%d", run, i)
		acked, err := send(warm[i], 0)
		if err != nil {
			return latency{}, err
		}
		counts[i] = 1
		p.add(&marker{key: keys.View(latencyTenant, "store="+warm[i]), want: 1, acked: acked})
	}
	if err := p.drain(ctx, 30*time.Second); err != nil {
		return latency{}, fmt.Errorf("making the scopes that exist: %w", err)
	}
	p.reset()
	for k := 0; time.Duration(k)*markerEvery < span; k++ {
		m := &marker{existing: k%2 == 1}
		scope := fmt.Sprintf("m%s-%d", run, k)
		m.want = 1
		if m.existing {
			i := (k / 2) % warmScopes
			scope = warm[i]
			counts[i]++
			m.want = counts[i]
		}
		m.key = keys.View(latencyTenant, "store="+scope)
		if m.acked, err = send(scope, k+1); err != nil {
			return latency{}, err
		}
		p.add(m)
		time.Sleep(markerEvery)
	}
	if err := p.drain(ctx, 30*time.Second); err != nil {
		return latency{}, err
	}
	var out latency
	out.ExistingP50, out.ExistingP99 = percentiles(p.seen[true])
	out.NewP50, out.NewP99 = percentiles(p.seen[false])
	if len(p.seen[true]) == 0 || len(p.seen[false]) == 0 {
		return latency{}, errors.New("no marker reached the view")
	}
	return out, nil
}

// percentiles returns the 50th and 99th percentile of ms (0 for none).
func percentiles(ms []float64) (p50, p99 float64) {
	if len(ms) == 0 {
		return 0, 0
	}
	sort.Float64s(ms)
	q := func(p float64) float64 { return ms[int(math.Ceil(p*float64(len(ms))))-1] }
	return q(0.50), q(0.99)
}

// poller watches pending markers with one pipelined read per round.
type poller struct {
	rdb     *redis.Client
	mu      sync.Mutex
	pending []*marker
	seen    map[bool][]float64 // latencies in ms, by existing
	done    chan struct{}      // closed to stop run
}

func (p *poller) add(m *marker) {
	p.mu.Lock()
	p.pending = append(p.pending, m)
	p.mu.Unlock()
}

func (p *poller) reset() {
	p.mu.Lock()
	p.seen = nil
	p.mu.Unlock()
}

// run reads, every pollEvery, the view field of every pending marker.
func (p *poller) run(ctx context.Context) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-t.C:
		}
		p.mu.Lock()
		pending := append([]*marker(nil), p.pending...)
		p.mu.Unlock()
		if len(pending) == 0 {
			continue
		}
		pipe := p.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(pending))
		for i, m := range pending {
			cmds[i] = pipe.HGet(ctx, m.key, viewField)
		}
		_, _ = pipe.Exec(ctx) // a field not there yet is redis.Nil
		at := time.Now()
		// Markers are only appended meanwhile: pending is a prefix.
		p.mu.Lock()
		kept := make([]*marker, 0, len(p.pending))
		for i, m := range p.pending {
			if i < len(cmds) {
				if n, err := cmds[i].Int64(); err == nil && n >= m.want {
					if p.seen == nil {
						p.seen = map[bool][]float64{}
					}
					p.seen[m.existing] = append(p.seen[m.existing], float64(at.Sub(m.acked).Microseconds())/1000)
					continue
				}
			}
			kept = append(kept, m)
		}
		p.pending = kept
		p.mu.Unlock()
	}
}

// drain waits until no marker is pending.
func (p *poller) drain(ctx context.Context, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.Lock()
		n := len(p.pending)
		p.mu.Unlock()
		if n == 0 {
			return nil
		}
	}
	return fmt.Errorf("markers did not reach the view within %s", limit)
}

// histogram reads the cumulative buckets of a Prometheus histogram from
// base's /metrics: upper bound ("le") → count.
func histogram(base, name string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, name+"_bucket{")
		if !ok {
			continue
		}
		_, le, _ := strings.Cut(rest, `le="`)
		le, _, _ = strings.Cut(le, `"`)
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		out[le] += v
	}
	return out, nil
}

// histogramDelta is after − before, per bucket.
func histogramDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for le, v := range after {
		out[le] = v - before[le]
	}
	return out
}

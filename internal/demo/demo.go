// Package demo runs all of cxpulse in one process for a newcomer: an
// embedded Kafka-protocol broker, a private Redis, the ingest API, the
// aggregator and a traffic generator posting realistic events for the
// tenant "demo", with a detractor spike at one store about a minute in.
// Production deployment is left to the real binaries.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/cxpulse/cxpulse/internal/aggregate"
	"github.com/cxpulse/cxpulse/internal/config"
	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/redisproc"
	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/internal/tenants"
	"github.com/cxpulse/cxpulse/internal/traffic"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/scores"
)

// Tenant is the demo's tenant.
const Tenant = "demo"

// ownEvent is an answer a newcomer can post to tenant to see it arrive,
// stamped at.
func ownEvent(tenant string, at time.Time) string {
	return fmt.Sprintf(`{"id":"my-first-answer","type":"survey.response","tenant":%q,"occurred_at":%q,"dims":{"store":"s01"},`+
		`"survey":{"metric":"nps","score":10,"comment":"quick and friendly"}}`, tenant, at.UTC().Format(time.RFC3339))
}

// Topics the embedded broker creates, with the partitions of each.
var (
	inputTopics  = []string{"cx.surveys", "cx.tickets", "cx.purchases"}
	outputTopics = []string{"cx.scores", "cx.alerts", "cx.deadletter"}
)

const (
	partitions   = 6
	spikeAfter   = time.Minute
	spikeFor     = 10 * time.Minute
	summaryEvery = 5 * time.Second
)

// Run starts everything and runs until ctx ends or cfg.Duration passes,
// writing the banner and a live summary to out.
func Run(ctx context.Context, cfg Config, logger *zap.Logger, out io.Writer) error {
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	_, portText, _ := net.SplitHostPort(cfg.KafkaAddr)
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("CXPULSE_KAFKA_ADDR: %q has no numeric port", cfg.KafkaAddr)
	}
	cluster, err := kfake.NewCluster(kfake.Ports(port),
		kfake.SeedTopics(partitions, append(inputTopics, outputTopics...)...))
	if err != nil {
		return fmt.Errorf("starting the embedded broker on %s (is something already there? pick another with -kafka-addr): %w", cfg.KafkaAddr, err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	tenant, err := bannerTenant(cfg)
	if err != nil {
		return err
	}
	redisURL, redisNote, stopRedis, err := chooseRedis(cfg.EmbeddedRedis, cfg.RedisAddr)
	if err != nil {
		return err
	}
	defer stopRedis()

	settings := map[string]string{
		"CXPULSE_KAFKA_BROKERS":    broker,
		"CXPULSE_INSECURE_NO_AUTH": "1",
		"CXPULSE_REDIS_URL":        redisURL,
		"CXPULSE_LOG_FORMAT":       cfg.Log,
		"CXPULSE_TENANTS_FILE":     cfg.TenantsFile,
	}
	var icfg ingest.Config
	if err := load(&icfg, settings, cfg.IngestAddr); err != nil {
		return err
	}
	icfg.RateLimit = 0
	var acfg aggregate.Config
	if err := load(&acfg, settings, cfg.AggregatorAddr); err != nil {
		return err
	}

	isrv, err := ingest.New(icfg, logger)
	if err != nil {
		return err
	}
	defer isrv.Close()
	iln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		return fmt.Errorf("ingest cannot listen on %s (pick another with -ingest-addr): %w", cfg.IngestAddr, err)
	}
	ingestURL := "http://" + dialable(iln.Addr())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return serve.Run(gctx, iln, isrv.Handler(), 5*time.Second, logger.With(zap.String("component", "ingest")))
	})
	g.Go(func() error { return aggregate.Run(gctx, acfg, logger) })

	agg := displayAddr(cfg.AggregatorAddr)
	fmt.Fprintf(out, `
cxpulse demo: every part in one process. Authentication is OFF (CXPULSE_INSECURE_NO_AUTH=1); do not expose these ports.
  dashboard      http://%s/?tenant=%s
  ingest API     %s/v1/events
  scores         http://%s/v1/tenants/%s/scores?scope=store=s01   (also /scopes?dim=store, /leaderboard, /series, /alerts, /stream, /v1/status, /metrics)
  kafka          %s   try: kcat -b %s -C -t cx.surveys -p 0 -o -3 -e
  redis          %s
  send your own: curl -X POST %s/v1/events -H 'Content-Type: application/json' -d '%s'
                 then, within two seconds: the dashboard's scope store=s01 (NPS n up by one), http://%s/v1/tenants/%s/scores?scope=store=s01
%s
Stop with Ctrl-C.

`, agg, tenant, ingestURL, agg, tenant, broker, broker, redisNote, ingestURL, ownEvent(tenant, time.Now()), agg, tenant, trafficNote(cfg, broker, redisURL))

	if !cfg.Traffic {
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		fmt.Fprintln(out, "demo stopped")
		return nil
	}
	g.Go(func() error { return generate(gctx, cfg, ingestURL, "http://"+displayAddr(cfg.AggregatorAddr), out) })
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintln(out, "demo stopped")
	return nil
}

// bannerTenant is the tenant the banner's links and example name: the
// synthetic tenant while its traffic runs (the tenants file must then
// have it), else the tenants file's first, else the synthetic one.
func bannerTenant(cfg Config) (string, error) {
	if cfg.TenantsFile == "" {
		return Tenant, nil
	}
	reg, err := tenants.Load(cfg.TenantsFile)
	if err != nil {
		return "", fmt.Errorf("CXPULSE_TENANTS_FILE: %w", err)
	}
	names := reg.Names()
	if _, known := reg.Get(Tenant); cfg.Traffic && !known {
		return "", fmt.Errorf("CXPULSE_TENANTS_FILE: %s has no tenant %q, which the synthetic traffic writes to: add it, or set CXPULSE_DEMO_TRAFFIC=off", cfg.TenantsFile, Tenant)
	}
	if cfg.Traffic || len(names) == 0 {
		return Tenant, nil
	}
	slices.Sort(names)
	return names[0], nil
}

// trafficNote is the banner's line on the traffic.
func trafficNote(cfg Config, broker, redisURL string) string {
	if !cfg.Traffic {
		return fmt.Sprintf("Traffic: off (CXPULSE_DEMO_TRAFFIC=off): a sandbox for your own events. Import an export (docs/import.md) with\n"+
			"  CXPULSE_REDIS_URL=%s cxpulse import --kafka %s --tenant … FILE", redisURL, broker)
	}
	return fmt.Sprintf("Traffic: tenant %q, %d stores in %d regions, %d live events/s after a %d-event history; a detractor spike at store %s starts after %s.",
		Tenant, 12, len(traffic.Regions()), cfg.Rate, historyEvents, traffic.New(0, Tenant).SpikeStore, spikeAfter)
}

// load fills a service config from its defaults plus the given settings.
func load(c interface {
	Register(*config.Set)
	Validate() error
}, settings map[string]string, addr string) error {
	set := config.NewSet("demo", func(k string) string {
		if k == "CXPULSE_HTTP_ADDR" {
			return addr
		}
		return settings[k]
	})
	c.Register(set)
	if err := set.Parse(nil); err != nil {
		return err
	}
	return c.Validate()
}

// chooseRedis uses the Redis the user named in CXPULSE_REDIS_URL, else a
// private redis-server on a free port when one is installed. It never
// writes into a Redis the user did not name.
func chooseRedis(embedded bool, addr string) (url, note string, stop func(), err error) {
	if u := os.Getenv("CXPULSE_REDIS_URL"); u != "" {
		return u, u + " (from CXPULSE_REDIS_URL)", func() {}, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil || embedded {
		// An in-process Redis: slower, but needs nothing installed. The
		// scripts bring their own MessagePack where cmsgpack is missing.
		m := miniredis.NewMiniRedis()
		listen := "127.0.0.1:0"
		if addr != "" {
			listen = addr
		}
		if err := m.StartAddr(listen); err != nil {
			return "", "", nil, fmt.Errorf("starting the embedded Redis on %s (CXPULSE_DEMO_REDIS_ADDR): %w", listen, err)
		}
		why := "redis-server is not installed"
		if embedded {
			why = "CXPULSE_DEMO_EMBEDDED_REDIS=1"
		}
		return "redis://" + m.Addr() + "/0", redisNoteFor(m.Addr(), "an embedded in-process Redis, as "+why), m.Close, nil
	}
	var srv *redisproc.Server
	if addr == "" {
		srv, err = redisproc.Start(bin, "")
	} else {
		_, port, _ := net.SplitHostPort(addr)
		p, perr := strconv.Atoi(port)
		if perr != nil {
			return "", "", nil, fmt.Errorf("CXPULSE_DEMO_REDIS_ADDR: %q has no numeric port", addr)
		}
		srv, err = redisproc.StartAt(bin, p)
	}
	if err != nil {
		return "", "", nil, err
	}
	return "redis://" + srv.Addr + "/0", redisNoteFor(srv.Addr, "a private redis-server"), func() { _ = srv.Stop() }, nil
}

// redisNoteFor is the banner's Redis line for a Redis of the demo's own at
// addr.
func redisNoteFor(addr, what string) string {
	_, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("redis://%s (%s, gone when the demo stops)   try: redis-cli -p %s HGET 'cxpulse:{demo}:scores:store=s01' 1h:nps_responses", addr, what, port)
}

func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return a.String()
}

func displayAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// tally counts what ingest accepted, per topic.
type tally struct {
	mu       sync.Mutex
	accepted map[string]int
	refused  int
}

func (t *tally) add(evs []events.Event, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok {
		t.refused += len(evs)
		return
	}
	for i := range evs {
		t.accepted[string(evs[i].Type.Topic(""))]++
	}
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	total := t.accepted["surveys"] + t.accepted["tickets"] + t.accepted["purchases"]
	return fmt.Sprintf("accepted %d events (surveys %d, tickets %d, purchases %d), refused %d",
		total, t.accepted["surveys"], t.accepted["tickets"], t.accepted["purchases"], t.refused)
}

// generate posts the history, then live traffic at cfg.Rate, printing a
// summary every few seconds.
func generate(ctx context.Context, cfg Config, ingestURL, aggregatorURL string, out io.Writer) error {
	tr := traffic.New(uint64(cfg.Seed), Tenant)
	counts := &tally{accepted: map[string]int{}}
	client := &http.Client{Timeout: 15 * time.Second}
	post := func(evs []events.Event) error {
		err := postEvents(ctx, client, ingestURL, evs)
		counts.add(evs, err == nil)
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(out, "  post failed: %v\n", err)
		}
		return nil
	}

	for evs := history(tr, time.Now()); len(evs) > 0; {
		n := min(len(evs), 1000)
		_ = post(evs[:n])
		evs = evs[n:]
	}
	fmt.Fprintf(out, "history posted: %s\n", counts)

	start := time.Now()
	tick := time.NewTicker(time.Second / 4)
	defer tick.Stop()
	summary := time.NewTicker(summaryEvery)
	defer summary.Stop()
	perTick := max(1, cfg.Rate/4)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-summary.C:
			spike := "not yet"
			if tr.Spiking {
				spike = "ON at store " + tr.SpikeStore
			} else if time.Since(start) > spikeAfter {
				spike = "over"
			}
			fmt.Fprintf(out, "%s  %s · spike %s\n    %s\n%s", time.Now().Format("15:04:05"), counts, spike,
				liveScores(ctx, client, aggregatorURL, tr.SpikeStore), liveAlerts(ctx, client, aggregatorURL))
		case t := <-tick.C:
			elapsed := t.Sub(start)
			tr.Spiking = elapsed > spikeAfter && elapsed < spikeAfter+spikeFor
			batch := make([]events.Event, perTick)
			for i := range batch {
				batch[i] = tr.Next(time.Now())
			}
			_ = post(batch)
		}
	}
}

// liveAlerts lists the firing alerts, one line each, for the summary.
func liveAlerts(ctx context.Context, client *http.Client, base string) string {
	var list struct {
		Alerts []struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tenants/"+Tenant+"/alerts?state=firing", nil)
	if err != nil {
		return ""
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return ""
	}
	var b strings.Builder
	for _, al := range list.Alerts {
		fmt.Fprintf(&b, "    ALERT %s %s: %s\n", al.Labels["severity"], al.Labels["scope"], al.Annotations["summary"])
	}
	return b.String()
}

// liveScores reads two scopes from the aggregator's API for the summary.
func liveScores(ctx context.Context, client *http.Client, base, spikeStore string) string {
	read := func(scope string) (scores.Scores, error) {
		var s scores.Scores
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tenants/"+Tenant+"/scores?scope="+scope, nil)
		if err != nil {
			return s, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return s, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return s, fmt.Errorf("aggregator answered %d", resp.StatusCode)
		}
		return s, json.NewDecoder(resp.Body).Decode(&s)
	}
	all, err := read("all")
	if err != nil {
		return "scores: " + err.Error()
	}
	store, err := read("store=" + spikeStore)
	if err != nil {
		return "scores: " + err.Error()
	}
	d, h := all.Windows["24h"], store.Windows["1h"]
	return fmt.Sprintf("24h: NPS %.1f ± %.1f (n=%.0f) · CSAT %.1f%% · CES %.2f · tickets opened %.0f · store %s 1h detractor share %.1f%% (n=%.0f)",
		d["nps"], d["nps_moe95"], d["nps_responses"], d["csat"], d["ces"], d["tickets_opened"], spikeStore, h["detractor_share"], h["nps_responses"])
}

func postEvents(ctx context.Context, client *http.Client, url string, evs []events.Event) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/events", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return fmt.Errorf("ingest answered %d: %s", resp.StatusCode, b)
	}
	return nil
}

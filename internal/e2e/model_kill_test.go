package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/internal/testseed"
)

// TestModelKilled is TestModel's stream through built aggregators killed
// with SIGKILL at random instants: one is killed while the bulk arrives
// and again while the changes do, restarted each time, then a second
// member joins and the first is killed (a rebalance after a kill); then
// two customers are erased and send events again. The service runs on the Redis server's clock, so the
// stream's times are chosen where no bucket leaves a window during the
// test. Every stat of every window and scope, the calendar month and
// every dead letter are compared with the model.
func TestModelKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts aggregators")
	}
	modelKilledRun(t, nil)
}

// TestModelKilledRouted is TestModelKilled with routing by tenant
// (CXPULSE_ROUTE_BY_TENANT): a router killed between forwarding a batch
// and committing it forwards it again, and the second stage counts each
// event once.
func TestModelKilledRouted(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts aggregators")
	}
	modelKilledRun(t, []string{"CXPULSE_ROUTE_BY_TENANT=1"})
}

// modelKilledRun runs TestModelKilled's stream with the aggregators' extra
// settings (NAME=value).
func modelKilledRun(t *testing.T, extra []string) {
	seed := testseed.New(t)
	rng := rand.New(rand.NewPCG(seed, 41))
	bin := buildAggregator(t)
	_, broker := testenv.Kafka(t, 4, allTopics...)
	_, redisAddr := testenv.Redis(t)
	env := []string{"CXPULSE_KAFKA_BROKERS=" + broker, "CXPULSE_REDIS_URL=redis://" + redisAddr,
		"CXPULSE_INSECURE_NO_AUTH=1", "CXPULSE_GROUP_ID=model", "CXPULSE_LOG_FORMAT=json"}
	env = append(env, extra...)
	start := time.Now()
	settled := func(at time.Time) bool {
		for _, w := range refWindows {
			if w.in(at, start) != w.in(at, start.Add(10*time.Minute)) {
				return false
			}
		}
		return at.Before(start.Add(-time.Minute)) && start.Sub(at) < 300*24*time.Hour
	}
	s := &modelStream{t: t, rng: rng, broker: broker, clk: newClock(start)}
	g := &generator{rng: rng, now: start}
	shop := &shop{rng: rng, tenant: "acme", now: start}
	var bulk []msg
	for len(bulk) < 1500 {
		ev := g.event([]string{"acme", "globex"}[rng.IntN(2)])
		if settled(ev.OccurredAt) {
			s.sent = append(s.sent, ev)
			bulk = append(bulk, eventMsg(ev))
		}
	}
	for _, ev := range shop.history(40, 60*24*time.Hour) {
		if settled(ev.OccurredAt) {
			s.sent = append(s.sent, ev)
			bulk = append(bulk, eventMsg(ev))
		}
	}
	rng.Shuffle(len(bulk), func(i, j int) { bulk[i], bulk[j] = bulk[j], bulk[i] })
	var changes []msg
	for _, m := range s.changes(400, start) {
		if m.ev.OccurredAt.Before(start.AddDate(-1, 0, 0)) || settled(m.ev.OccurredAt) {
			changes = append(changes, m)
		}
	}
	ahead := g.event("globex")
	ahead.OccurredAt = start.Add(time.Hour)
	changes = append(changes, eventMsg(ahead), msg{topic: "cx.surveys", key: []byte("acme/x"), value: []byte(`{"id":"broken",`)})

	// The bulk, with a kill in the middle and a restart. A revision that
	// changes an event's type goes to another topic, which no order binds
	// to the first: the changes come once the bulk is applied.
	p := startProcess(t, bin, "a1", env)
	half := len(bulk) / 2
	waitClaim(t, p)
	s.send(bulk[:half])
	time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
	p.kill()
	p = restartOn(t, bin, "a2", env, p)
	s.send(bulk[half:])
	waitClaim(t, p)
	waitApplied(t, p.base)
	// The changes, with a kill, a restart, a second member and the first
	// killed again: its partitions move.
	s.send(changes[:len(changes)/2])
	time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
	p.kill()
	p = restartOn(t, bin, "a3", env, p)
	waitClaim(t, p)
	q := startProcess(t, bin, "b1", env)
	s.send(changes[len(changes)/2:])
	time.Sleep(time.Duration(500+rng.IntN(2000)) * time.Millisecond)
	p.kill()
	waitApplied(t, q.base)

	// Two customers erased, then sending again: before the erasure
	// (dropped) and after it (counted).
	victims := []string{fmt.Sprintf("c%d", rng.IntN(300)), fmt.Sprintf("k%03d", rng.IntN(40))}
	var again []msg
	for _, v := range victims {
		var rec erasure.Receipt
		require.Equal(t, http.StatusOK, requestJSON(t, http.MethodDelete, q.base+"/v1/tenants/acme/customers/"+v, "", &rec))
		s.all = append(s.all, msg{erase: &erasureMark{tenant: "acme", customer: v, at: rec.ErasedAt}})
		s.sources = append(s.sources, "")
		before, after := g.event("acme"), g.event("acme")
		before.CustomerID, before.OccurredAt = v, rec.ErasedAt.Add(-time.Minute)
		after.CustomerID, after.OccurredAt = v, rec.ErasedAt.Add(2*time.Second)
		again = append(again, eventMsg(before), eventMsg(after))
	}
	s.send(again)
	waitApplied(t, q.base)

	end := time.Now()
	y, m, _ := end.UTC().Date()
	checkModel(t, q.base, broker, s, func(int) time.Time { return end }, end, []refPeriod{refCal{time.UTC, false, time.Monday}.month(y, int(m))})
}

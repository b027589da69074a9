// Package traffic generates realistic cxpulse events: a dozen stores in
// three regions, three channels, survey answers skewed towards the top of
// each scale with comments in the stores' languages (English mixed with
// others, Persian, Romanian, Chinese), tickets, purchases,
// refunds, cancellations and referrals, and on request a detractor spike at
// one store. The demo and the benchmarks use it; sending the events is left
// to them.
package traffic

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cxpulse/cxpulse/pkg/events"
)

type store struct {
	id, region string
	// voice is what the store's customers write, in its language.
	voice *voice
	// promoterBias shifts the NPS score distribution: better stores score
	// higher.
	promoterBias float64
}

var (
	regions  = []string{"eu", "us", "apac"}
	channels = []string{"web", "app", "store"}
	agents   = []string{"ana", "bo", "chen", "dara", "emil", "fatima"}
	products = []string{"sku:100", "sku:200", "sku:300", "sku:400"}
)

// Generator makes events; it is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	tenants []string
	stores  []store
	seq     int
	// SpikeStore, while Spiking, answers mostly detractor surveys about
	// late refunds.
	SpikeStore string
	Spiking    bool
}

// New returns a generator of events for the given tenants (picked at
// random per event), repeatable for a seed.
func New(seed uint64, tenants ...string) *Generator {
	t := &Generator{rng: rand.New(rand.NewPCG(seed, 7)), tenants: tenants}
	for i := range 12 {
		t.stores = append(t.stores, store{
			id:           fmt.Sprintf("s%02d", i+1),
			region:       regions[i%len(regions)],
			promoterBias: float64(i%5) * 0.06,
			voice:        voices[i%len(voices)],
		})
	}
	t.SpikeStore = t.stores[4].id
	return t
}

// Stores is how many stores the generator spreads events over.
func (t *Generator) Stores() int { return len(t.stores) }

// StoreID is the id of the store numbered i (from 0).
func (t *Generator) StoreID(i int) string { return t.stores[i].id }

// Regions lists the regions of the stores.
func Regions() []string { return regions }

// Int63n returns a random number in [0, n) from the generator's source.
func (t *Generator) Int63n(n int64) int64 { return t.rng.Int64N(n) }

func (t *Generator) id(prefix string) string {
	t.seq++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, t.seq)
}

// Next returns one event at time at.
func (t *Generator) Next(at time.Time) events.Event {
	s := t.stores[t.rng.IntN(len(t.stores))]
	customer := fmt.Sprintf("c%05d", t.rng.IntN(5000))
	dims := map[string]string{"store": s.id, "region": s.region, "channel": channels[t.rng.IntN(len(channels))]}
	ev := events.Event{Tenant: t.tenants[t.rng.IntN(len(t.tenants))], OccurredAt: at, CustomerID: customer, Dims: dims}
	switch r := t.rng.Float64(); {
	case r < 0.55:
		ev.ID, ev.Type = t.id("srv"), events.TypeSurveyResponse
		ev.Survey = t.survey(s)
	case r < 0.75:
		ev.ID = t.id("tkt")
		ev.Dims["agent"] = agents[t.rng.IntN(len(agents))]
		ev.Ticket = &events.Ticket{TicketID: fmt.Sprintf("T-%d", t.rng.IntN(100000)), Category: []string{"refund", "delivery", "account", "product"}[t.rng.IntN(4)]}
		switch t.rng.IntN(10) {
		case 0:
			ev.Type = events.TypeTicketReopened
		case 1, 2, 3, 4:
			ev.Type = events.TypeTicketResolved
			fr, h := float64(30+t.rng.IntN(3600)), float64(300+t.rng.IntN(7200))
			ev.Ticket.FirstResponseSeconds, ev.Ticket.HandleSeconds = &fr, &h
		default:
			ev.Type = events.TypeTicketOpened
		}
	default:
		ev.ID = t.id("pur")
		ev.Dims["product"] = products[t.rng.IntN(len(products))]
		amount := float64(500+t.rng.IntN(20000)) / 100
		switch t.rng.IntN(20) {
		case 0:
			ev.Type = events.TypePurchaseRefunded
			ev.Purchase = &events.Purchase{OrderID: fmt.Sprintf("o-%d", t.rng.IntN(1e6)), Amount: amount, Currency: "EUR"}
		case 1:
			ev.Type, ev.Dims = events.TypeSubscriptionCancelled, map[string]string{"store": s.id, "region": s.region}
		case 2, 3:
			ev.Type = events.TypeReferralSent
			ev.Dims = map[string]string{"store": s.id, "region": s.region}
			ev.Referral = &events.Referral{Code: "REF-" + customer, ReferrerID: customer}
		default:
			ev.Type = events.TypePurchaseCompleted
			ev.Purchase = &events.Purchase{OrderID: fmt.Sprintf("o-%d", t.rng.IntN(1e6)), Amount: amount, Currency: "EUR"}
			if t.rng.IntN(6) == 0 {
				ev.Purchase.ReferralCode = fmt.Sprintf("REF-c%05d", t.rng.IntN(5000))
			}
		}
	}
	return ev
}

// NPSAnswer returns an NPS answer of the store numbered i (from 0, below
// Stores()) at at, scored as that store's answers are.
func (t *Generator) NPSAnswer(i int, at time.Time) events.Event {
	s := t.stores[i]
	return events.Event{ID: t.id("srv"), Type: events.TypeSurveyResponse, Tenant: t.tenants[t.rng.IntN(len(t.tenants))], OccurredAt: at,
		CustomerID: fmt.Sprintf("c%05d", t.rng.IntN(5000)),
		Dims:       map[string]string{"store": s.id, "region": s.region, "channel": channels[t.rng.IntN(len(channels))]},
		Survey:     t.nps(s, math.Cbrt(t.rng.Float64())+s.promoterBias)}
}

// nps is an NPS answer at the point u of the store's skewed scale, a
// third of the promoters and detractors commenting in the store's voice.
func (t *Generator) nps(s store, u float64) *events.Survey {
	score := min(10, int(u*11))
	sv := &events.Survey{Metric: events.MetricNPS, Score: score}
	if t.rng.IntN(3) == 0 {
		if score >= 9 {
			sv.Comment = s.voice.praise[t.rng.IntN(len(s.voice.praise))]
		} else if score <= 6 {
			sv.Comment = s.voice.complaints[t.rng.IntN(len(s.voice.complaints))]
		}
	}
	return sv
}

func (t *Generator) survey(s store) *events.Survey {
	if t.Spiking && s.id == t.SpikeStore && t.rng.Float64() < 0.8 {
		return &events.Survey{Metric: events.MetricNPS, Score: t.rng.IntN(4), Comment: s.voice.refundSpike[t.rng.IntN(len(s.voice.refundSpike))]}
	}
	// Skewed towards the top of each scale, as real answers are.
	u := math.Cbrt(t.rng.Float64()) + s.promoterBias
	switch m := t.rng.Float64(); {
	case m < 0.6:
		return t.nps(s, u)
	case m < 0.85:
		return &events.Survey{Metric: events.MetricCSAT, Score: 1 + min(4, int(u*5))}
	default:
		return &events.Survey{Metric: events.MetricCES, Score: 1 + min(6, int(u*7))}
	}
}

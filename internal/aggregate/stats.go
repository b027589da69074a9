package aggregate

import (
	"math"

	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// contribution returns the raw counters one event adds to each of its
// buckets by itself (DESIGN §3). What follows from a customer's history
// (first purchases, activity spells, distinct purchasers) is added by the
// customer plan.
func contribution(ev *events.Event) store.Counters {
	var c store.Counters
	switch {
	case ev.Survey != nil:
		s := ev.Survey
		score := float64(s.Score)
		switch s.Metric {
		case events.MetricNPS:
			c[store.NPSResponses] = 1
			if s.Score >= 9 {
				c[store.NPSPromoters] = 1
			} else if s.Score <= 6 {
				c[store.NPSDetractors] = 1
			}
		case events.MetricCSAT:
			c[store.CSATResponses] = 1
			if s.Score >= 4 {
				c[store.CSATSatisfied] = 1
			}
			c[store.CSATSum], c[store.CSATSumSq] = score, score*score
		case events.MetricCES:
			c[store.CESResponses] = 1
			if s.Score >= 5 {
				c[store.CESEasy] = 1
			}
			c[store.CESSum], c[store.CESSumSq] = score, score*score
		}
	case ev.Ticket != nil:
		switch ev.Type {
		case events.TypeTicketOpened:
			c[store.TicketsOpened] = 1
		case events.TypeTicketReopened:
			c[store.TicketsReopened] = 1
		case events.TypeTicketResolved:
			c[store.TicketsResolved] = 1
			if fr := ev.Ticket.FirstResponseSeconds; fr != nil {
				c[store.FirstResponseN], c[store.FirstResponseMs], c[store.FirstResponseSq] = 1, math.Round(*fr*1000), *fr**fr
			}
			if h := ev.Ticket.HandleSeconds; h != nil {
				c[store.HandleN], c[store.HandleMs], c[store.HandleSq] = 1, math.Round(*h*1000), *h**h
			}
		}
	case ev.Purchase != nil:
		amount := math.Round(ev.Purchase.Amount * store.AmountScale)
		switch ev.Type {
		case events.TypePurchaseCompleted:
			c[store.Purchases], c[store.GrossAmount] = 1, amount
		case events.TypePurchaseRefunded:
			c[store.Refunds], c[store.RefundedAmount] = 1, amount
		}
	case ev.Type == events.TypeReferralSent:
		c[store.ReferralsSent] = 1
	}
	return c
}

// shapesHistory reports whether events of type t belong to their
// customer's history: they move first purchases and activity spells, and
// count while they are within the customer-state horizon.
func shapesHistory(t events.Type) bool {
	return t == events.TypePurchaseCompleted || t == events.TypeSubscriptionCancelled
}

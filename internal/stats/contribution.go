package stats

import (
	"math"

	"github.com/cxpulse/cxpulse/pkg/events"
)

// Contribution returns the raw counters one event adds to each of its
// buckets by itself (docs/metrics.md). What follows from a customer's history
// (first purchases, activity spells, distinct purchasers) is derived by
// package customers.
func Contribution(ev *events.Event) Counters {
	var c Counters
	switch {
	case ev.Survey != nil:
		s := ev.Survey
		score := float64(s.Score)
		switch s.Metric {
		case events.MetricNPS:
			c[NPSResponses] = 1
			if s.Score >= 9 {
				c[NPSPromoters] = 1
			} else if s.Score <= 6 {
				c[NPSDetractors] = 1
			}
		case events.MetricCSAT:
			c[CSATResponses] = 1
			if s.Score >= 4 {
				c[CSATSatisfied] = 1
			}
			c[CSATSum], c[CSATSumSq] = score, score*score
		case events.MetricCES:
			c[CESResponses] = 1
			if s.Score >= 5 {
				c[CESEasy] = 1
			}
			c[CESSum], c[CESSumSq] = score, score*score
		}
	case ev.Ticket != nil:
		switch ev.Type {
		case events.TypeTicketOpened:
			c[TicketsOpened] = 1
		case events.TypeTicketReopened:
			c[TicketsReopened] = 1
		case events.TypeTicketResolved:
			c[TicketsResolved] = 1
			if fr := ev.Ticket.FirstResponseSeconds; fr != nil {
				c[FirstResponseN], c[FirstResponseMs], c[FirstResponseSq] = 1, math.Round(*fr*1000), *fr**fr
			}
			if h := ev.Ticket.HandleSeconds; h != nil {
				c[HandleN], c[HandleMs], c[HandleSq] = 1, math.Round(*h*1000), *h**h
			}
		}
	case ev.Purchase != nil:
		amount := math.Round(ev.Purchase.Amount * AmountScale)
		switch ev.Type {
		case events.TypePurchaseCompleted:
			c[Purchases], c[GrossAmount] = 1, amount
		case events.TypePurchaseRefunded:
			c[Refunds], c[RefundedAmount] = 1, amount
		}
	case ev.Type == events.TypeReferralSent:
		c[ReferralsSent] = 1
	}
	return c
}

// ShapesHistory reports whether events of type t belong to their
// customer's history: they move first purchases and activity spells, and
// count while they are within the customer-state horizon.
func ShapesHistory(t events.Type) bool {
	return t == events.TypePurchaseCompleted || t == events.TypeSubscriptionCancelled
}

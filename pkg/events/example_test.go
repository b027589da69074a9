package events_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cxpulse/cxpulse/pkg/events"
)

func ExampleDecoder_Decode() {
	d := events.NewDecoder(events.Strict)
	_, _, err := d.Decode([]byte(`{"id":"r-1","type":"survey.response","tenant":"acme",
		"occurred_at":"2026-11-20T14:03:07Z","survey":{"metric":"nps","score":11,"coment":"late"}}`))
	var verr *events.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p.Field, "-", p.Reason)
		}
	}
	// Output:
	// survey.coment - unknown field
	// survey.score - 11 is outside 0-10 for nps
}

func ExampleEvent_Key() {
	ev := events.Event{
		ID: "p-1", Type: events.TypePurchaseCompleted, Tenant: "acme", CustomerID: "c-42",
		OccurredAt: time.Date(2026, 11, 20, 14, 3, 7, 0, time.UTC),
		Purchase:   &events.Purchase{OrderID: "o-1", Amount: 59.90, Currency: "EUR"},
	}
	fmt.Println(ev.Topic(events.DefaultTopicPrefix), ev.Key(), ev.Validate())
	// Output: cx.purchases acme/c-42 <nil>
}

func ExampleProducer_Send() {
	p := events.NewProducer(events.NewWriter("localhost:9092"), events.DefaultTopicPrefix)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.Send(ctx, events.Event{
		ID: "r-1", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: time.Now(),
		Dims:   map[string]string{"store": "42"},
		Survey: &events.Survey{Metric: events.MetricNPS, Score: 9, Comment: "Great staff"},
	})
	var serr *events.SendError
	if errors.As(err, &serr) {
		for i, e := range serr.Errs {
			if e != nil {
				fmt.Printf("event %d: %v\n", i, e)
			}
		}
	}
}

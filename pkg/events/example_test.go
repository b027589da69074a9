package events_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

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
	// An in-process Kafka-protocol broker stands in for Kafka here.
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "cx.surveys"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	p := events.NewProducer(events.NewWriter(brokers), events.DefaultTopicPrefix)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at := time.Now().Add(-time.Minute)
	err = p.Send(ctx,
		events.Event{ID: "r-1", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at,
			Dims:   map[string]string{"store": "42"},
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 9, Comment: "Great staff"}},
		events.Event{ID: "r-2", Type: events.TypeSurveyResponse, Tenant: "acme", OccurredAt: at,
			Survey: &events.Survey{Metric: events.MetricNPS, Score: 11}},
	)
	var serr *events.SendError
	if errors.As(err, &serr) {
		for i, e := range serr.Errs {
			if e != nil {
				fmt.Printf("event %d not written: %v\n", i, e)
			}
		}
	}

	// What landed, read back with kafka-go.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "cx.surveys", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s key %s\n", m.Topic, m.Key)
	// Output:
	// event 1 not written: survey.score: 11 is outside 0-10 for nps
	// cx.surveys key acme/r-1
}

package ingest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/ingest"
	"github.com/cxpulse/cxpulse/internal/testenv"
	"github.com/cxpulse/cxpulse/pkg/events"
)

func surveyAt(id string, at time.Time, score int) string {
	return fmt.Sprintf(`{"id":%q,"type":"survey.response","tenant":"acme","occurred_at":%q,"survey":{"metric":"nps","score":%d}}`,
		id, at.UTC().Format(time.RFC3339), score)
}

// TestTooOldOrAheadIsRefused: an event no window and no kept calendar
// period would count (before the start of the previous year, in UTC for
// acme) or too far ahead is answered 400 naming occurred_at, never 202 and
// then a dead letter.
func TestTooOldOrAheadIsRefused(t *testing.T) {
	e := start(t, nil)
	now := time.Now().UTC()
	prevYear := time.Date(now.Year()-1, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at     time.Time
		reason string
	}{
		{prevYear.Add(-time.Second), "the start of the previous year"},
		{now.Add(time.Hour), "ahead of"},
	} {
		a := e.post(t, acmeWriter, "application/json", []byte(surveyAt("old-1", tc.at, 9)))
		require.Equal(t, http.StatusBadRequest, a.status, string(a.body))
		errs := a.eventErrors(t)
		require.Len(t, errs, 1)
		require.Equal(t, "occurred_at", errs[0].Field)
		require.Contains(t, errs[0].Reason, tc.reason)
	}
	// The first instant of the previous year is still kept.
	a := e.post(t, acmeWriter, "application/json", []byte(surveyAt("old-2", prevYear, 9)))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
}

// TestPartialBatch: with ?partial=true the valid events of a batch land
// and the others are answered 207 by index; without it the batch is
// refused whole.
func TestPartialBatch(t *testing.T) {
	e := start(t, nil)
	now := time.Now().UTC().Truncate(time.Second)
	batch := "[" + strings.Join([]string{
		surveyAt("p-0", now, 9),
		surveyAt("p-1", now.AddDate(-3, 0, 0), 9), // too old
		surveyAt("p-2", now, 11),                  // score out of range
		surveyAt("p-3", now.Add(-time.Hour), 3),
		`{"id":"p-4","type":"purchase.completed","tenant":"acme","occurred_at":"` + now.Format(time.RFC3339) +
			`","customer_id":"c-1","purchase":{"order_id":"o-1","amount":5,"currency":"USD"}}`, // acme reports in EUR
	}, ",") + "]"

	a := e.post(t, acmeWriter, "application/json", []byte(batch))
	require.Equal(t, http.StatusBadRequest, a.status, string(a.body))

	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/events?partial=true", strings.NewReader(batch))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+acmeWriter)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusMultiStatus, resp.StatusCode)
	var body ingest.PartlyAccepted
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, 2, body.Accepted)
	require.Equal(t, 3, body.Rejected)
	fields := map[int]string{}
	for _, er := range body.Errors {
		fields[er.Index] = er.Field
	}
	require.Equal(t, map[int]string{1: "occurred_at", 2: "survey.score", 4: "purchase.currency"}, fields)

	recs := testenv.Consume(t, e.kafka, "cx.surveys", 2)
	var ids []string
	for _, r := range recs {
		ev, _, err := events.NewDecoder(events.Strict).Decode(r.Value)
		require.NoError(t, err)
		ids = append(ids, ev.ID)
	}
	require.ElementsMatch(t, []string{"p-0", "p-3"}, ids)
	require.Equal(t, int64(2), testenv.Count(t, e.kafka, "cx.surveys"))
	require.Equal(t, int64(0), testenv.Count(t, e.kafka, "cx.purchases"))
}

// TestUnicodeDims: store names of any script are accepted, and stored in
// NFC (a decomposed ț arrives composed); the scope syntax is refused,
// naming the field.
func TestUnicodeDims(t *testing.T) {
	e := start(t, nil)
	at := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	ev := func(id, store string) string {
		return fmt.Sprintf(`{"id":%q,"type":"survey.response","tenant":"acme","occurred_at":%q,"dims":{"store":%q},"survey":{"metric":"nps","score":9}}`, id, at, store)
	}
	a := e.post(t, acmeWriter, "application/json", []byte("["+ev("u-1", "تهران مرکز")+","+ev("u-2", "上海 静安")+","+ev("u-3", "Pia"+"t\u0326"+"a Unirii")+"]"))
	require.Equal(t, http.StatusAccepted, a.status, string(a.body))
	var stores []string
	for _, r := range testenv.Consume(t, e.kafka, "cx.surveys", 3) {
		got, _, err := events.NewDecoder(events.Strict).Decode(r.Value)
		require.NoError(t, err)
		stores = append(stores, got.Dims["store"])
	}
	require.ElementsMatch(t, []string{"تهران مرکز", "上海 静安", "Piața Unirii"}, stores)
	a = e.post(t, acmeWriter, "application/json", []byte(ev("u-4", "north+south")))
	require.Equal(t, http.StatusBadRequest, a.status)
	require.Equal(t, "dims.store", a.eventErrors(t)[0].Field)
}

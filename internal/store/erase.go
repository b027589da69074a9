package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cxpulse/cxpulse/internal/dedupe"
	"github.com/cxpulse/cxpulse/internal/mpack"
)

// The erasure keys: per tenant the erasures done (keyed hash of the
// customer → receipt), and per customer the contribution index (event id →
// what the event counted, as a remembered-id record without the customer),
// kept while a window or calendar period can hold the event.

// ErasedKey is a tenant's hash of erasures: keyed hash of the customer →
// the erasure's receipt (JSON, without the customer).
func ErasedKey(tenant string) string { return tenantKey(tenant, "erased") }

// IndexKey is one customer's contribution index.
func IndexKey(tenant, customer string) string { return tenantKey(tenant, "ci", customer) }

// IndexEntry adds one event to its customer's contribution index, kept
// until Until.
type IndexEntry struct {
	Customer string
	Record   dedupe.Record
	Until    time.Time
}

// Erase makes a slice the erasure of one customer: besides its deltas and
// its customer update, the script removes the customer's index, the
// remembered ids of their events, the referral codes that resolve to them
// and their comment samples, and records the receipt; all of it checked
// against what the erasure was planned from.
type Erase struct {
	Customer string // as stored (the pseudonym when the tenant pseudonymizes)
	Field    string // the keyed hash of the customer in ErasedKey
	// Receipt is the receipt's JSON object without its closing brace: the
	// script adds "keys_removed".
	Receipt []byte
	// Index is the customer's index as the erasure read it (id → record):
	// the script refuses an erasure whose index changed since (IndexMoved).
	Index map[string]string
	IDs   []string // remembered ids to forget
	Codes []string // referral codes to remove if they still name the customer
	// Samples are the comment samples to remove: the scope and the id of
	// each event that may have left one.
	Samples []Sample
}

// Erasures returns a tenant's erasures: keyed hash → receipt.
func (s *Store) Erasures(ctx context.Context, tenant string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, ErasedKey(tenant)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the erasures of tenant %s: %w", tenant, err)
	}
	return m, nil
}

// Erasure returns the receipt of one erasure ("" when there is none).
func (s *Store) Erasure(ctx context.Context, tenant, field string) (string, error) {
	r, err := s.rdb.HGet(ctx, ErasedKey(tenant), field).Result()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading an erasure of tenant %s: %w", tenant, err)
	}
	return r, nil
}

// Index returns a customer's contribution index: event id → record.
func (s *Store) Index(ctx context.Context, tenant, customer string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, IndexKey(tenant, customer)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the contribution index of a customer of tenant %s: %w", tenant, err)
	}
	return m, nil
}

// CodesOf returns the referral codes that resolve to customer (one scan
// of the tenant's codes).
func (s *Store) CodesOf(ctx context.Context, tenant, customer string) ([]string, error) {
	var out []string
	it := s.rdb.HScan(ctx, codesKey(tenant), 0, "", 1000).Iterator()
	for it.Next(ctx) {
		code := it.Val()
		if !it.Next(ctx) {
			break
		}
		if it.Val() == customer {
			out = append(out, code)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("scanning the referral codes of tenant %s: %w", tenant, err)
	}
	return out, nil
}

// erasureArgs writes what the apply script reads of erasures, in four
// arguments: the number of the erased hash in KEYS, the count of erasures
// the slice was planned with, the index entries as one MessagePack array
// of (key number, id, record, ms to keep it from now), and the erasure as
// another (empty when the slice erases nobody): customer, field, receipt,
// index key number, then counted lists of the index as read (id, record
// pairs), of ids, of codes and of (scope number, sample prefix) pairs.
func erasureArgs(sl *Slice, scopeIndex map[string]int, keyOf func(string) int) ([]any, error) {
	erased := keyOf(ErasedKey(sl.Tenant))
	index := mpack.AppendArray(nil, 4*len(sl.Index))
	var rec []byte
	for i := range sl.Index {
		e := &sl.Index[i]
		r := e.Record
		r.CustomerID = "" // the key names the customer
		rec = r.AppendTo(rec[:0])
		index = mpack.AppendString(mpack.AppendString(mpack.AppendInt(index, int64(keyOf(IndexKey(sl.Tenant, e.Customer)))), r.ID), rec)
		index = mpack.AppendInt(index, max(1, e.Until.Sub(sl.Now).Milliseconds()))
	}
	er := sl.Erase
	if er == nil {
		return []any{erased, sl.Erasures, index, mpack.AppendArray(nil, 0)}, nil
	}
	n := 4 + 4 + 2*len(er.Index) + len(er.IDs) + len(er.Codes) + 2*len(er.Samples)
	b := mpack.AppendArray(nil, n)
	b = mpack.AppendString(b, er.Customer)
	b = mpack.AppendString(b, er.Field)
	b = mpack.AppendString(b, er.Receipt)
	b = mpack.AppendInt(b, int64(keyOf(IndexKey(sl.Tenant, er.Customer))))
	b = mpack.AppendInt(b, int64(len(er.Index)))
	for id, r := range er.Index {
		b = mpack.AppendString(mpack.AppendString(b, id), r)
	}
	b = mpack.AppendInt(b, int64(len(er.IDs)))
	for _, id := range er.IDs {
		b = mpack.AppendString(b, id)
	}
	b = mpack.AppendInt(b, int64(len(er.Codes)))
	for _, c := range er.Codes {
		b = mpack.AppendString(b, c)
	}
	b = mpack.AppendInt(b, int64(len(er.Samples)))
	for _, smp := range er.Samples {
		// A sample is stored as JSON starting with its id: the prefix
		// finds it without decoding.
		id, err := json.Marshal(smp.ID)
		if err != nil {
			return nil, fmt.Errorf("encoding a sample id: %w", err)
		}
		b = mpack.AppendString(mpack.AppendInt(b, int64(scopeIndex[smp.Scope])), `{"id":`+string(id)+`,`)
	}
	return []any{erased, sl.Erasures, index, b}, nil
}

// ErasureCount returns how many erasures a tenant has.
func (s *Store) ErasureCount(ctx context.Context, tenant string) (int64, error) {
	n, err := s.rdb.HLen(ctx, ErasedKey(tenant)).Result()
	if err != nil {
		return 0, fmt.Errorf("counting the erasures of tenant %s: %w", tenant, err)
	}
	return n, nil
}

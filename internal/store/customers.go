package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Customers returns the stored records of the given customers of a tenant;
// a customer without one is absent from the map.
func (s *Store) Customers(ctx context.Context, tenant string, ids []string) (map[string]*CustomerRecord, error) {
	out := make(map[string]*CustomerRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, customersKey(tenant), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading customers of %s: %w", tenant, err)
	}
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		rec, err := parseCustomerRecord(ids[i], str)
		if err != nil {
			return nil, err
		}
		out[ids[i]] = rec
	}
	return out, nil
}

// DueCustomers returns up to limit customers of a tenant whose records must
// be looked at by now (an inactivity loss or history to forget is due).
func (s *Store) DueCustomers(ctx context.Context, tenant string, now time.Time, limit int) ([]string, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, customersDueKey(tenant), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading due customers of %s: %w", tenant, err)
	}
	return ids, nil
}

// PruneConversions drops the referral conversions that began before the
// given instant (unix ms): no window holds them any more.
func (s *Store) PruneConversions(ctx context.Context, tenant string, before int64) error {
	if err := s.rdb.ZRemRangeByScore(ctx, conversionsKey(tenant), "-inf", "("+strconv.FormatInt(before, 10)).Err(); err != nil {
		return fmt.Errorf("pruning conversions of %s: %w", tenant, err)
	}
	return nil
}

// UnknownReferrer stands for the referrer of a code whose referral.sent
// was never seen.
const UnknownReferrer = "unknown"

// ConversionsByReferrer counts, per referrer, the referral conversions
// (first purchases carrying their code) of a tenant whose purchase is at
// or after since (unix ms). Codes are resolved to referrers as they are
// read; a code never sent counts for UnknownReferrer.
func (s *Store) ConversionsByReferrer(ctx context.Context, tenant string, since int64) (map[string]int64, error) {
	members, err := s.rdb.ZRangeByScore(ctx, conversionsKey(tenant), &redis.ZRangeBy{
		Min: strconv.FormatInt(since, 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading conversions of %s: %w", tenant, err)
	}
	perCode := map[string]int64{}
	var codes []string
	for _, m := range members {
		_, code, _ := strings.Cut(m, "\t")
		if perCode[code] == 0 {
			codes = append(codes, code)
		}
		perCode[code]++
	}
	byReferrer := map[string]int64{}
	if len(codes) == 0 {
		return byReferrer, nil
	}
	refs, err := s.rdb.HMGet(ctx, codesKey(tenant), codes...).Result()
	if err != nil {
		return nil, fmt.Errorf("reading referral codes of %s: %w", tenant, err)
	}
	for i, code := range codes {
		r, ok := refs[i].(string)
		if !ok {
			r = UnknownReferrer
		}
		byReferrer[r] += perCode[code]
	}
	return byReferrer, nil
}

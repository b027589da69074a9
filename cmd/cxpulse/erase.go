package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cxpulse/cxpulse/internal/erasure"
	"github.com/cxpulse/cxpulse/internal/outbox"
	"github.com/cxpulse/cxpulse/internal/store"
	"github.com/cxpulse/cxpulse/pkg/events"
	"github.com/cxpulse/cxpulse/pkg/window"
)

const eraseUsage = `erase --tenant T [flags] [CUSTOMER...]   (and/or --file FILE, one id per line; "-" is stdin)

Erases customers (GDPR art. 17): every window and calendar period becomes
what it would be had they never sent their events, and no Redis key or
value names them any more. Each erasure is recorded in Redis and on the
compacted topic <prefix>erasures under a keyed hash, so that no replay,
import or rebuild brings their events back. Prints one JSON receipt per
customer; erasing an erased customer prints the first receipt with
"already_erased": true. An interrupted run can be run again: each
customer's erasure is whole or not done.`

func runErase(ctx context.Context, e *env, args []string) int {
	c := newFlags(e, "erase", eraseUsage)
	var sh shared
	var tenant, file string
	var horizon time.Duration
	c.str(&tenant, "tenant", "", "the customers' tenant")
	c.str(&file, "file", "", "a file of customer ids, one per line (\"-\": stdin)")
	c.set.Duration(&horizon, "CXPULSE_DEDUPE_HORIZON", "24h", "the aggregators' dedupe horizon (their remembered ids are forgotten too)")
	sh.register(c)
	ids, code, ok := c.parse(e, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "cxpulse erase: %v\n", err)
		return exitFailed
	}
	if !events.ValidTenant(tenant) {
		return fail(fmt.Errorf("--tenant %q: not a tenant name", tenant))
	}
	if file != "" {
		more, err := readIDs(e, file)
		if err != nil {
			return fail(err)
		}
		ids = append(ids, more...)
	}
	if len(ids) == 0 {
		return fail(errors.New("no customer given (arguments, or --file)"))
	}
	reg, rule, err := sh.rule()
	if err != nil {
		return fail(err)
	}
	if _, known := reg.Get(tenant); !known {
		return fail(fmt.Errorf("--tenant %s: not in the tenants file", tenant))
	}
	ws, err := window.Parse(sh.WindowsSpec)
	if err != nil {
		return fail(fmt.Errorf("CXPULSE_WINDOWS: %w", err))
	}
	if err := sh.kafka(ctx); err != nil {
		return fail(err)
	}
	rdb, err := sh.redis(ctx, "an erasure")
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	w := sh.Kafka.Writer()
	defer w.Close()
	st := store.New(rdb, ws, horizon)
	log := &erasure.Log{Kafka: &sh.Kafka, Topic: sh.TopicPrefix + erasure.TopicSuffix, Writer: w}
	if err := log.Ensure(ctx); err != nil {
		return fail(err)
	}
	now := time.Now
	if e.now != nil {
		now = e.now
	}
	eraser := &erasure.Eraser{Store: st, Set: erasure.NewSet(st, rdb, sh.ErasureKey), Tenants: reg, InHistory: rule.InHistory, Log: log,
		Alerts: outbox.New(rdb).AlertStates, Queued: outbox.New(rdb).SinkQueues, Now: now}
	enc := json.NewEncoder(e.stdout)
	var done, already int
	for _, id := range ids {
		rec, err := eraser.Erase(ctx, tenant, id)
		if err != nil {
			fmt.Fprintf(e.stderr, "cxpulse erase: erased %d of %d customers (%d already); run it again to go on\n", done+already, len(ids), already)
			return fail(err)
		}
		if err := enc.Encode(rec); err != nil {
			return fail(fmt.Errorf("writing a receipt: %w", err))
		}
		if rec.AlreadyErased {
			already++
		} else {
			done++
		}
	}
	fmt.Fprintf(e.stderr, "erased %d customers of %s, %d of them erased before\n", done+already, tenant, already)
	return exitOK
}

// readIDs reads customer ids, one per line (blank lines skipped), from a
// file or, for "-", stdin.
func readIDs(e *env, file string) ([]string, error) {
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r = f
	}
	var ids []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		id := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\uFEFF"))
		switch {
		case id == "":
		case len([]rune(id)) > 128:
			return nil, fmt.Errorf("--file %s, line %d: a customer id is 1–128 characters", file, n)
		default:
			ids = append(ids, id)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--file %s: %w", file, err)
	}
	return ids, nil
}

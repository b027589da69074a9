package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cxpulse/cxpulse/internal/rebuild"
	"github.com/cxpulse/cxpulse/internal/router"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/pkg/events"
)

const rebuildUsage = `rebuild --tenant T [--tenant T2 …] | --all [flags]

Drops the tenants' aggregate state and has the running aggregators of the
group apply it again from the earliest offsets the input topics hold; every
other tenant goes on, untouched. Refuses, naming each partition, when the
topics' retention no longer reaches back to what the tenants' windows and
calendar periods keep, unless --accept-gap. Reports progress until every
partition has caught up (Ctrl-C stops watching, not the rebuild).`

// progressEvery is how often a rebuild reports progress.
const progressEvery = 2 * time.Second

func runRebuild(ctx context.Context, e *env, args []string) int {
	c := newFlags(e, "rebuild", rebuildUsage)
	var sh shared
	var tenants []string
	var all, acceptGap, noWait, routed bool
	var group string
	c.list(&tenants, "tenant", "a tenant to rebuild (repeat for several)")
	c.boolean(&all, "all", "rebuild every tenant cxpulse has seen")
	c.boolean(&acceptGap, "accept-gap", "rebuild from what the logs hold even where retention deleted what the periods keep")
	c.boolean(&noWait, "no-wait", "ask for the rebuild and return, without watching its progress")
	c.set.String(&group, "CXPULSE_GROUP_ID", "cxpulse-aggregator", "the aggregators' Kafka consumer group")
	c.set.Bool(&routed, "CXPULSE_ROUTE_BY_TENANT", false, "the aggregators route by tenant: rewind their tenant-keyed topic, not the input topics")
	sh.register(c)
	rest, code, ok := c.parse(e, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "cxpulse rebuild: %v\n", err)
		return exitFailed
	}
	switch {
	case len(rest) > 0:
		return fail(fmt.Errorf("unexpected arguments %q", rest))
	case all == (len(tenants) > 0):
		return fail(errors.New("give --tenant T (one or more) or --all"))
	}
	for _, t := range tenants {
		if !events.ValidTenant(t) {
			return fail(fmt.Errorf("--tenant %q: not a tenant name", t))
		}
	}
	_, rule, err := sh.rule()
	if err != nil {
		return fail(err)
	}
	if err := sh.kafka(ctx); err != nil {
		return fail(err)
	}
	rdb, err := sh.redis(ctx, "a rebuild")
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	if all {
		if tenants, err = rdb.SMembers(ctx, keys.Tenants).Result(); err != nil {
			return fail(fmt.Errorf("listing the tenants: %w", err))
		}
		slices.Sort(tenants)
	}
	now := time.Now
	if e.now != nil {
		now = e.now
	}
	opts := rebuild.Options{Group: group, TopicPrefix: sh.TopicPrefix, Tenants: tenants, AcceptGap: acceptGap,
		Kafka: &sh.Kafka, Redis: rdb, Rule: rule, Now: now}
	if routed {
		opts.Topics = []string{router.Topic(sh.TopicPrefix)}
	}
	req, err := rebuild.Start(ctx, opts)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(e.stdout, "rebuilding %v: their state is dropped; rewind %d asked of group %s over %d partitions\n", tenants, req.ID, group, len(req.Ends))
	if noWait {
		return exitOK
	}
	for n := 0; ; n++ {
		st, err := rebuild.Progress(ctx, opts, req)
		if err != nil {
			return fail(err)
		}
		line := fmt.Sprintf("partitions rewound %d/%d, caught up %d/%d, %d messages to read again", st.Rewound, st.Partitions, st.CaughtUp, st.Partitions, st.Left)
		if st.Done() {
			fmt.Fprintln(e.stdout, line+": done")
			return exitOK
		}
		if n%5 == 0 || e.terminal {
			fmt.Fprintln(e.stderr, line)
		}
		if n == 15 && st.Rewound == 0 {
			fmt.Fprintln(e.stderr, "no partition has rewound yet: are the aggregators of group "+group+" running?")
		}
		t := time.NewTimer(progressEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			fmt.Fprintln(e.stderr, "stopped watching; the rebuild goes on")
			return exitOK
		case <-t.C:
		}
	}
}

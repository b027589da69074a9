// Package rebuild is `cxpulse rebuild`: it drops tenants' aggregate state
// and has the running aggregators of the group apply it again from the
// earliest offsets the input topics hold, while every other tenant goes
// on, untouched (their watermarks skip what they hold). It refuses when
// retention no longer reaches back to what the tenants' windows and
// calendar periods keep, unless the gap is accepted.
//
// The steps, each safe to repeat: the tenants refuse every partition that
// has not read again from its log start for this rebuild (the field
// "reset" of their watermarks hash, checked by the apply script); their
// keys are deleted (not the import ledger, nor the dimension values
// given scopes of their own, so every value keeps its scope); the group
// is asked to rewind; every partition then reads again from its log start,
// expecting no tenant.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/claims"
	"github.com/cxpulse/cxpulse/internal/kafkaconn"
	"github.com/cxpulse/cxpulse/internal/logwatch"
	"github.com/cxpulse/cxpulse/internal/pipeline"
	"github.com/cxpulse/cxpulse/internal/store/keys"
	"github.com/cxpulse/cxpulse/internal/timerule"
	"github.com/cxpulse/cxpulse/pkg/window"
)

// Options configure a rebuild.
type Options struct {
	Group, TopicPrefix string
	// Topics are the topics the group consumes: the input topics when
	// empty, the tenant-keyed topic when routing by tenant.
	Topics []string
	// Tenants are the tenants to rebuild.
	Tenants []string
	// AcceptGap rebuilds from what the logs hold even where retention
	// deleted what the periods would keep.
	AcceptGap bool
	Kafka     *kafkaconn.Config
	Redis     redis.UniversalClient
	Rule      *timerule.Rule
	Now       func() time.Time
}

// Request is a rebuild under way: the group's rewind request it waits for
// and the end of every input partition when it began.
type Request struct {
	ID   int64
	Ends map[string]int64 // topic/partition → end offset
}

// Start checks the logs, drops the tenants' state and asks the group to
// rewind.
func Start(ctx context.Context, o Options) (Request, error) {
	cl := claims.New(o.Redis)
	admin := o.Kafka.Client(10 * time.Second)
	topics := o.Topics
	if len(topics) == 0 {
		topics = pipeline.InputTopics(o.TopicPrefix)
	}
	parts, err := inputPartitions(ctx, admin, topics)
	if err != nil {
		return Request{}, err
	}
	if !o.AcceptGap {
		if gaps, err := Gaps(ctx, o, admin, parts); err != nil || len(gaps) > 0 {
			return Request{}, errors.Join(err, errorsOf(gaps))
		}
	}
	cur, err := cl.Rewinds(ctx, o.Group)
	if err != nil {
		return Request{}, err
	}
	id := cur + 1
	for _, t := range o.Tenants {
		if err := drop(ctx, o.Redis, t, id); err != nil {
			return Request{}, err
		}
	}
	if o.AcceptGap {
		if err := cl.AcceptGap(ctx, o.Group, id); err != nil {
			return Request{}, err
		}
	}
	if id, err = cl.RequestRewind(ctx, o.Group, id-1); err != nil {
		return Request{}, err
	}
	req := Request{ID: id, Ends: map[string]int64{}}
	for _, p := range parts {
		req.Ends[p.name] = p.end
	}
	return req, nil
}

func errorsOf(gaps []string) error {
	if len(gaps) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to rebuild (--accept-gap rebuilds from what is left):\n  %s", strings.Join(gaps, "\n  "))
}

// drop makes the tenant refuse partitions that have not rewound for
// request id, then deletes its state.
func drop(ctx context.Context, rdb redis.UniversalClient, tenant string, id int64) error {
	wm := keys.Watermarks(tenant)
	if err := rdb.HSet(ctx, wm, "reset", id).Err(); err != nil {
		return fmt.Errorf("marking %s for a rebuild: %w", tenant, err)
	}
	keep := map[string]bool{wm: true, keys.Imported(tenant): true, keys.ImportLedger(tenant): true, keys.Erased(tenant): true}
	dims := keys.DimensionsPrefix(tenant)
	var doomed []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, keys.TenantPattern(tenant), 1000).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); !keep[k] && !strings.HasPrefix(k, dims) {
				doomed = append(doomed, k)
			}
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	default:
		err = fmt.Errorf("cannot list keys over a %T", rdb)
	}
	if err != nil {
		return fmt.Errorf("listing the keys of %s: %w", tenant, err)
	}
	for len(doomed) > 0 {
		chunk := doomed[:min(500, len(doomed))]
		doomed = doomed[len(chunk):]
		if err := rdb.Del(ctx, chunk...).Err(); err != nil {
			return fmt.Errorf("deleting the state of %s: %w", tenant, err)
		}
	}
	// The watermarks last, in one step: from now on the tenant's state is
	// empty and only rewound partitions may fill it.
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, wm)
		p.HSet(ctx, wm, "reset", id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("resetting the watermarks of %s: %w", tenant, err)
	}
	return nil
}

type partition struct {
	topic      string
	id         int
	name       string
	first, end int64
}

func inputPartitions(ctx context.Context, admin *kafka.Client, topics []string) ([]partition, error) {
	meta, err := admin.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of %s: %w", strings.Join(topics, ", "), err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	offs, err := admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of the input topics: %w", err)
	}
	var out []partition
	for topic, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
			out = append(out, partition{topic: topic, id: p.Partition, name: fmt.Sprintf("%s/%d", topic, p.Partition), first: p.FirstOffset, end: p.LastOffset})
		}
	}
	return out, nil
}

// Gaps names the input partitions whose logs no longer reach back to the
// oldest instant the tenants keep.
func Gaps(ctx context.Context, o Options, admin *kafka.Client, parts []partition) ([]string, error) {
	now := o.Now()
	var oldest time.Time
	for i, t := range o.Tenants {
		if at := o.Rule.OldestKeptFor(t, now); i == 0 || at.Before(oldest) {
			oldest = at
		}
	}
	var gaps []string
	for _, p := range parts {
		if p.first == 0 {
			continue
		}
		lw := &logwatch.Partition{Admin: admin, Topic: p.topic, ID: p.id}
		at, err := lw.FirstTime(ctx, p.first)
		if err != nil {
			return nil, err
		}
		if gap := logwatch.RebuildGap(p.topic, p.id, p.first, at, oldest, window.FutureTolerance); gap != "" {
			gaps = append(gaps, fmt.Sprintf("%s/%d: the log starts at offset %d, written %s, after %s, the oldest instant the tenants keep",
				p.topic, p.id, p.first, at.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339)))
		}
	}
	return gaps, nil
}

// Status is how far a rebuild got.
type Status struct {
	Partitions int
	// Rewound are the partitions that read again from their log start
	// for the request; CaughtUp those of them back at their end of when
	// it began.
	Rewound, CaughtUp int
	// Left is the messages still to read again.
	Left int64
}

// Done reports whether every partition caught up.
func (s Status) Done() bool { return s.CaughtUp == s.Partitions }

// Progress reads the claims of the input partitions.
func Progress(ctx context.Context, o Options, req Request) (Status, error) {
	st := Status{Partitions: len(req.Ends)}
	for name, end := range req.Ends {
		vals, err := o.Redis.HMGet(ctx, claims.Key(o.Group, name), "rw", "resume").Result()
		if err != nil {
			return st, fmt.Errorf("reading the claim of %s: %w", name, err)
		}
		rw, err := claimField(name, "rw", vals[0])
		if err != nil {
			return st, err
		}
		resume, err := claimField(name, "resume", vals[1])
		if err != nil {
			return st, err
		}
		switch {
		case rw < req.ID:
			st.Left += end
		case resume >= end:
			st.Rewound++
			st.CaughtUp++
		default:
			st.Rewound++
			st.Left += end - resume
		}
	}
	return st, nil
}

// claimField reads a number of a claim; an absent field is 0.
func claimField(partition, field string, v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("claim of %s: %s is %q", partition, field, s)
	}
	return n, nil
}

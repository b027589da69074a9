package aggregate

import (
	"context"
	"fmt"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/logwatch"
	"github.com/cxpulse/cxpulse/internal/pace"
)

// routerGuard keeps the router's reading of the input topics honest, as
// the pipeline's logwatch keeps its own: each input partition's fetched
// offsets must follow on from the last forwarded, a gap is fine only
// where compaction or transaction markers left it (not retention), and a
// step back only where the router group's commit says a rebalance read
// again from there (not a recreated topic).
type routerGuard struct {
	admin *kafka.Client
	group string
	mu    sync.Mutex // guards parts: check and watch run apart
	parts map[inputPartition]*logwatch.Partition
}

// inputPartition names one partition of an input topic.
type inputPartition struct {
	topic string
	id    int
}

func (p inputPartition) String() string { return fmt.Sprintf("%s/%d", p.topic, p.id) }

func newRouterGuard(admin *kafka.Client, group string) *routerGuard {
	return &routerGuard{admin: admin, group: group, parts: map[inputPartition]*logwatch.Partition{}}
}

// check judges a fetched batch; it returns the partition and the reason to
// halt, "" when the batch may be forwarded, or an error reading the
// routers' commits (the router starts again, nothing halts).
func (g *routerGuard) check(ctx context.Context, msgs []kafka.Message) (string, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		key := inputPartition{m.Topic, m.Partition}
		p, ok := g.parts[key]
		if !ok || m.Offset < p.Next.Load() {
			// Only then is the group's commit needed (an admin request).
			committed, hasCommit, err := g.committed(ctx, m.Topic, m.Partition)
			if err != nil {
				return "", "", fmt.Errorf("reading the routers' committed offset of %s: %w", key, err)
			}
			switch {
			case !ok:
				p = &logwatch.Partition{Admin: g.admin, Group: g.group, Topic: m.Topic, ID: m.Partition}
				g.parts[key] = p
				if hasCommit {
					p.Next.Store(committed)
				} else {
					p.Next.Store(m.Offset) // nothing forwarded yet: from where the log starts
				}
			case hasCommit && m.Offset >= committed:
				// Read again from the group's commit (a rebalance): what
				// was forwarded past it comes again, as at least once
				// allows.
				p.Next.Store(m.Offset)
			}
		}
		if reason := p.CheckFetched(ctx, msgs[i:i+1]); reason != "" {
			return key.String(), reason, nil
		}
	}
	return "", "", nil
}

// committed reads the routers' committed offset of a partition.
func (g *routerGuard) committed(ctx context.Context, topic string, partition int) (int64, bool, error) {
	at, err := g.commits(ctx, map[string][]int{topic: {partition}})
	off, ok := at[fmt.Sprintf("%s/%d", topic, partition)]
	return off, ok, err
}

// commits reads the routers' committed offsets of partitions (by topic),
// by topic/partition; one with none is left out.
func (g *routerGuard) commits(ctx context.Context, partitions map[string][]int) (map[string]int64, error) {
	res, err := g.admin.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g.group, Topics: partitions})
	if err != nil {
		return nil, err
	}
	if res.Error != nil {
		return nil, res.Error
	}
	at := map[string]int64{}
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return nil, p.Error
			}
			if p.CommittedOffset >= 0 {
				at[fmt.Sprintf("%s/%d", topic, p.Partition)] = p.CommittedOffset
			}
		}
	}
	return at, nil
}

// watch looks, every logwatch.Interval until ctx ends, at every input
// partition's log against the next offset to forward (the later of what
// this instance forwarded and the routers' commit), and halts a partition
// whose log no longer holds it: its end below it (the topic recreated or
// truncated: the reader would wait there silently), or its start above it
// at two looks in a row (retention deleted it before it was forwarded).
func (g *routerGuard) watch(ctx context.Context, topics []string, halt func(partition, reason string)) {
	suspect := map[inputPartition]int64{}
	pace.Every(ctx, logwatch.Interval, func() bool {
		// One request each for the partitions, the routers' commits and
		// the logs' offsets, whatever the number of partitions.
		meta, err := g.admin.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return true
		}
		parts := map[string][]int{}
		offsets := map[string][]kafka.OffsetRequest{}
		for _, t := range meta.Topics {
			for _, p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], p.ID)
				offsets[t.Name] = append(offsets[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			}
		}
		committed, err := g.commits(ctx, parts)
		if err != nil {
			return true
		}
		logs, err := g.admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: offsets})
		if err != nil {
			return true
		}
		for topic, ps := range logs.Topics {
			for _, lp := range ps {
				name := inputPartition{topic, lp.Partition}
				if lp.Error != nil {
					continue
				}
				if reason := g.look(name, committed, lp.FirstOffset, lp.LastOffset, suspect); reason != "" {
					halt(name.String(), reason)
					return false
				}
			}
		}
		return true
	})
}

// look judges one input partition's log [first, end) against the next
// offset to forward: this instance's, or the routers' commit (a recreated
// topic's commits go with it), whichever is later; nothing when nothing
// was forwarded yet. It returns the reason to halt, "" for none.
func (g *routerGuard) look(name inputPartition, committed map[string]int64, first, end int64, suspect map[inputPartition]int64) string {
	next, known := committed[name.String()]
	g.mu.Lock()
	if p, ok := g.parts[name]; ok {
		next, known = max(next, p.Next.Load()), true
	}
	g.mu.Unlock()
	switch {
	case !known:
	case end < next:
		return fmt.Sprintf("the log ends at %d, below the next offset %d to forward: the topic was deleted and recreated, or truncated, "+
			"and the new messages below %d would be skipped; docs/operations.md says how to go on", end, next, next)
	case first > next && suspect[name] == next:
		return fmt.Sprintf("offsets %d to %d were deleted by retention before they were forwarded "+
			"(the log starts at %d); docs/operations.md says how to go on", next, first-1, first)
	case first > next:
		suspect[name] = next
	default:
		delete(suspect, name)
	}
	return ""
}

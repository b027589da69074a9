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
	parts map[string]*logwatch.Partition
}

func newRouterGuard(admin *kafka.Client, group string) *routerGuard {
	return &routerGuard{admin: admin, group: group, parts: map[string]*logwatch.Partition{}}
}

// check judges a fetched batch; it returns the partition and the reason to
// halt, "" when the batch may be forwarded.
func (g *routerGuard) check(ctx context.Context, msgs []kafka.Message) (string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		name := fmt.Sprintf("%s/%d", m.Topic, m.Partition)
		p, ok := g.parts[name]
		if !ok || m.Offset < p.Next.Load() {
			// Only then is the group's commit needed (an admin request).
			committed, hasCommit, err := g.committed(ctx, m.Topic, m.Partition)
			if err != nil {
				return name, fmt.Sprintf("reading the routers' committed offset: %v", err)
			}
			switch {
			case !ok:
				p = &logwatch.Partition{Admin: g.admin, Group: g.group, Topic: m.Topic, ID: m.Partition}
				g.parts[name] = p
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
			return name, reason
		}
	}
	return "", ""
}

// committed reads the routers' committed offset of a partition.
func (g *routerGuard) committed(ctx context.Context, topic string, partition int) (int64, bool, error) {
	res, err := g.admin.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g.group, Topics: map[string][]int{topic: {partition}}})
	if err != nil {
		return 0, false, err
	}
	if res.Error != nil {
		return 0, false, res.Error
	}
	for _, p := range res.Topics[topic] {
		if p.Partition == partition {
			if p.Error != nil {
				return 0, false, p.Error
			}
			return p.CommittedOffset, p.CommittedOffset >= 0, nil
		}
	}
	return 0, false, nil
}

// watch looks, every logwatch.Interval until ctx ends, at every input
// partition's log against the next offset to forward (the later of what
// this instance forwarded and the routers' commit), and halts a partition
// whose log no longer holds it: its end below it (the topic recreated or
// truncated: the reader would wait there silently), or its start above it
// at two looks in a row (retention deleted it before it was forwarded).
func (g *routerGuard) watch(ctx context.Context, topics []string, halt func(partition, reason string)) {
	suspect := map[string]int64{}
	pace.Every(ctx, logwatch.Interval, func() bool {
		meta, err := g.admin.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			return true
		}
		for _, t := range meta.Topics {
			for _, part := range t.Partitions {
				name := fmt.Sprintf("%s/%d", t.Name, part.ID)
				committed, hasCommit, err := g.committed(ctx, t.Name, part.ID)
				if err != nil {
					continue
				}
				// The next offset: this instance's, or the group's commit
				// (a recreated topic's commits go with it), whichever is
				// later; none when nothing was forwarded yet.
				next, known := committed, hasCommit
				g.mu.Lock()
				if p, ok := g.parts[name]; ok {
					next, known = max(next, p.Next.Load()), true
				}
				g.mu.Unlock()
				if !known {
					continue
				}
				lw := &logwatch.Partition{Admin: g.admin, Topic: t.Name, ID: part.ID}
				first, end, err := lw.Offsets(ctx)
				switch {
				case err != nil:
				case end < next:
					halt(name, fmt.Sprintf("the log ends at %d, below the next offset %d to forward: the topic was deleted and recreated, or truncated, "+
						"and the new messages below %d would be skipped; docs/operations.md says how to go on", end, next, next))
					return false
				case first > next && suspect[name] == next:
					halt(name, fmt.Sprintf("offsets %d to %d were deleted by retention before they were forwarded "+
						"(the log starts at %d); docs/operations.md says how to go on", next, first-1, first))
					return false
				case first > next:
					suspect[name] = next
				default:
					delete(suspect, name)
				}
			}
		}
		return true
	})
}

package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxpulse/cxpulse/internal/serve"
	"github.com/cxpulse/cxpulse/pkg/events"
)

// inputTopics returns the input topics under prefix.
func inputTopics(prefix string) []string {
	return []string{prefix + events.TopicSurveys, prefix + events.TopicTickets, prefix + events.TopicPurchases}
}

// PartitionStatus is one input partition in /v1/status.
type PartitionStatus struct {
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	AppliedOffset int64  `json:"applied_offset"`
	HighWatermark int64  `json:"high_watermark"`
	Halted        string `json:"halted,omitempty"`
	// Problem says what is wrong with the partition as the group sees it,
	// such as a log that ends below the applied offset.
	Problem string `json:"problem,omitempty"`
	// Forwarded marks an input partition under routing by tenant: its
	// applied offset is the next the routers forward.
	Forwarded bool `json:"forwarded,omitempty"`
}

// TenantProblem is a tenant whose outputs are not published, or whose
// windows are not swept, and why.
type TenantProblem struct {
	Tenant  string    `json:"tenant"`
	Stage   string    `json:"stage"`
	Problem string    `json:"problem"`
	Since   time.Time `json:"since"`
}

// Status is the answer of /v1/status.
type Status struct {
	Partitions []PartitionStatus `json:"partitions"`
	Lag        int64             `json:"lag"`
	// Tenants lists the tenants skipped by the publisher or the sweeper.
	Tenants []TenantProblem `json:"tenant_problems,omitempty"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.Status(r.Context())
	if err != nil {
		serve.Error(w, http.StatusServiceUnavailable, err)
		return
	}
	serve.JSON(w, http.StatusOK, st)
}

// Status reports every partition the group consumes (the input topics,
// or with routing by tenant its tenant-keyed topic) for the whole group:
// the next offset to apply (from Redis; the log start for an untouched
// partition) and the high watermark, whichever instance answers. With
// routing, the input partitions are listed too, with the next offset the
// routers forward (their group's commits): the lag counts both stages.
func (s *Server) Status(ctx context.Context) (Status, error) {
	topics := s.cfg.Topics
	if len(topics) == 0 {
		topics = inputTopics(s.cfg.TopicPrefix)
	}
	offs, err := s.logOffsets(ctx, topics)
	if err != nil {
		return Status{}, err
	}
	var names []string
	for topic, parts := range offs {
		for _, p := range parts {
			names = append(names, fmt.Sprintf("%s/%d", topic, p.Partition))
		}
	}
	resume, err := s.parts.Claims.ResumeOffsets(ctx, s.cfg.GroupID, names)
	if err != nil {
		return Status{}, err
	}
	halted := s.parts.Halted()
	var st Status
	add := func(topic string, p kafka.PartitionOffsets, applied int64, ok, forwarded bool) {
		name := fmt.Sprintf("%s/%d", topic, p.Partition)
		if !ok {
			applied = p.FirstOffset
		}
		ps := PartitionStatus{Topic: topic, Partition: p.Partition, AppliedOffset: applied, HighWatermark: p.LastOffset,
			Halted: halted[name], Forwarded: forwarded}
		if p.LastOffset < applied {
			// Not a lag of 0: the log was replaced or truncated.
			ps.Problem = fmt.Sprintf("the log ends at %d, below the applied offset %d: the topic was deleted and recreated, or truncated",
				p.LastOffset, applied)
		}
		st.Partitions = append(st.Partitions, ps)
		st.Lag += max(0, p.LastOffset-applied)
	}
	for topic, parts := range offs {
		for _, p := range parts {
			applied, ok := resume[fmt.Sprintf("%s/%d", topic, p.Partition)]
			add(topic, p, applied, ok, false)
		}
	}
	if s.cfg.RouterGroup != "" {
		if err := s.forwarded(ctx, add); err != nil {
			return Status{}, err
		}
	}
	sort.Slice(st.Partitions, func(i, j int) bool {
		pi, pj := st.Partitions[i], st.Partitions[j]
		return pi.Topic < pj.Topic || pi.Topic == pj.Topic && pi.Partition < pj.Partition
	})
	if len(st.Partitions) == 0 {
		return Status{}, errors.New("no input partitions found")
	}
	problems, err := s.parts.Outbox.TenantProblems(ctx)
	if err != nil {
		return Status{}, err
	}
	for k, p := range problems {
		tenant, _, _ := strings.Cut(k, "\x00")
		st.Tenants = append(st.Tenants, TenantProblem{Tenant: tenant, Stage: p.Stage, Problem: p.Problem, Since: time.UnixMilli(p.Since).UTC()})
	}
	slices.SortFunc(st.Tenants, func(a, b TenantProblem) int {
		return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.Stage, b.Stage))
	})
	s.lag.Set(float64(st.Lag))
	return st, nil
}

// logOffsets lists the first and last offsets of every partition of
// topics.
func (s *Server) logOffsets(ctx context.Context, topics []string) (map[string][]kafka.PartitionOffsets, error) {
	meta, err := s.parts.Admin.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("reading topic metadata: %w", err)
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
	offs, err := s.parts.Admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("listing offsets: %w", err)
	}
	for topic, parts := range offs.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, p.Partition, p.Error)
			}
		}
	}
	return offs.Topics, nil
}

// forwarded adds the input partitions with the routers' committed
// offsets.
func (s *Server) forwarded(ctx context.Context, add func(topic string, p kafka.PartitionOffsets, applied int64, ok, forwarded bool)) error {
	offs, err := s.logOffsets(ctx, inputTopics(s.cfg.TopicPrefix))
	if err != nil {
		return err
	}
	req := map[string][]int{}
	for topic, parts := range offs {
		for _, p := range parts {
			req[topic] = append(req[topic], p.Partition)
		}
	}
	committed, err := s.parts.Admin.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.cfg.RouterGroup, Topics: req})
	if err != nil {
		return fmt.Errorf("reading the routers' offsets: %w", err)
	}
	if committed.Error != nil {
		return fmt.Errorf("reading the routers' offsets: %w", committed.Error)
	}
	at := map[string]int64{}
	for topic, parts := range committed.Topics {
		for _, p := range parts {
			if p.Error == nil && p.CommittedOffset >= 0 {
				at[fmt.Sprintf("%s/%d", topic, p.Partition)] = p.CommittedOffset
			}
		}
	}
	for topic, parts := range offs {
		for _, p := range parts {
			off, ok := at[fmt.Sprintf("%s/%d", topic, p.Partition)]
			add(topic, p, off, ok, true)
		}
	}
	return nil
}

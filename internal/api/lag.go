package api

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/cxpulse/cxpulse/internal/pace"
)

// lagInterval is how often the consumer lag gauges are brought up to date.
const lagInterval = 5 * time.Second

// lagGauges are the consumer lag of the group per input partition, in
// messages and in time, as Kafka exporters name them.
type lagGauges struct {
	messages, seconds *prometheus.GaugeVec
}

func newLagGauges(reg prometheus.Registerer) *lagGauges {
	g := &lagGauges{
		messages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxpulse_consumer_lag_messages", Help: "Messages of an input partition produced but not yet applied by the group.",
		}, []string{"topic", "partition"}),
		seconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cxpulse_consumer_lag_seconds", Help: "Age of the oldest message of an input partition not yet applied by the group (0 when none waits).",
		}, []string{"topic", "partition"}),
	}
	reg.MustRegister(g.messages, g.seconds)
	return g
}

// watchLag keeps the lag gauges up to date until ctx ends.
func (s *Server) watchLag(ctx context.Context) {
	pace.Every(ctx, lagInterval, func() bool {
		if err := s.exportLag(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("measuring the consumer lag", zap.Error(err))
		}
		return true
	})
}

// exportLag measures the lag of every input partition: the messages
// between the applied offset and the log end, and the age of the first of
// them.
func (s *Server) exportLag(ctx context.Context) error {
	st, err := s.Status(ctx)
	if err != nil {
		return err
	}
	for _, p := range st.Partitions {
		labels := prometheus.Labels{"topic": p.Topic, "partition": strconv.Itoa(p.Partition)}
		lag := max(0, p.HighWatermark-p.AppliedOffset)
		s.lagGauges.messages.With(labels).Set(float64(lag))
		age := 0.0
		if lag > 0 {
			at, err := s.messageTime(ctx, p.Topic, p.Partition, p.AppliedOffset)
			if err != nil {
				return err
			}
			age = max(0, time.Since(at).Seconds())
		}
		s.lagGauges.seconds.With(labels).Set(age)
	}
	return nil
}

// messageTime returns the timestamp of the message at offset, or of the
// first one after it.
func (s *Server) messageTime(ctx context.Context, topic string, partition int, offset int64) (time.Time, error) {
	resp, err := s.parts.Admin.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return time.Time{}, err
	}
	if resp.Error != nil {
		return time.Time{}, resp.Error
	}
	for {
		rec, err := resp.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return time.Time{}, errors.New("no message at the applied offset yet")
		}
		if err != nil {
			return time.Time{}, err
		}
		if rec.Offset >= offset {
			return rec.Time, nil
		}
	}
}

package pipeline

import (
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/plan"
	"github.com/cxpulse/cxpulse/internal/store"
)

// TestCutCoversEachBatchOnce: a tenant's items of two partitions cut into
// pieces of at most 3 give, per partition, contiguous ranges that cover
// the batch's range exactly once, each piece holding the items its ranges
// cover.
func TestCutCoversEachBatchOnce(t *testing.T) {
	// Partition a: offsets 10..16, the tenant's items at 10, 12, 13, 16;
	// partition b: offsets 0..2, the tenant's items at 1.
	msgsA := []kafka.Message{{Offset: 10}, {Offset: 11}, {Offset: 12}, {Offset: 13}, {Offset: 14}, {Offset: 15}, {Offset: 16}}
	msgsB := []kafka.Message{{Offset: 0}, {Offset: 1}, {Offset: 2}}
	batches := map[string]*batch{"a": {partition: "a", epoch: 4, msgs: msgsA, expect: map[string]int64{"acme": 8}},
		"b": {partition: "b", epoch: 7, msgs: msgsB}}
	var items []*item
	for _, i := range []int{0, 2, 3, 6} {
		items = append(items, &item{Item: plan.Item{Msg: &msgsA[i]}, partition: "a"})
	}
	items = append(items, &item{Item: plan.Item{Msg: &msgsB[1]}, partition: "b"})
	got := cut("acme", items, batches, 3)
	require.Len(t, got, 2)
	require.Equal(t, []store.Range{{Partition: "a", Epoch: 4, Start: 10, End: 16, Expect: 8}}, got[0].ranges)
	require.Len(t, got[0].items, 3)
	require.Equal(t, []store.Range{{Partition: "a", Epoch: 4, Start: 16, End: 17, Expect: 8}, {Partition: "b", Epoch: 7, Start: 0, End: 3}}, got[1].ranges)
	require.Len(t, got[1].items, 2)
}

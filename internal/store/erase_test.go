package store_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cxpulse/cxpulse/internal/store"
)

// TestCommentWordsEntry: an entry written out by hand, read back, and
// started by its event's prefix (a revision removes by it), whatever the
// words.
func TestCommentWordsEntry(t *testing.T) {
	cw := &store.CommentWords{Customer: "c:1", ID: "r-9", Revision: 2, Terms: []string{"late", "رسید"}}
	b, err := store.AppendCommentWords(nil, cw)
	require.NoError(t, err)
	require.Equal(t, `3:c:13:r-9{"revision":2,"terms":["late","رسید"]}`, string(b))
	require.True(t, strings.HasPrefix(string(b), string(store.CommentWordsPrefix(nil, "c:1", "r-9"))))
	require.False(t, strings.HasPrefix(string(b), string(store.CommentWordsPrefix(nil, "c:1", "r-"))), "another id is another prefix")
	back, err := store.ParseCommentWords(string(b))
	require.NoError(t, err)
	require.Equal(t, cw, back)
	for _, bad := range []string{"", "9:c", "3:c:1x", `3:c:13:r-9{"terms":`} {
		_, err := store.ParseCommentWords(bad)
		require.Error(t, err, "%q", bad)
	}
}

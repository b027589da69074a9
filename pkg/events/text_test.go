package events

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoneSurrogates(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"none", `{"a":"plain"}`, nil},
		{"a pair", `{"a":"\ud83d\ude00"}`, nil},
		{"a high half alone", `{"a":"x\ud83dy"}`, []string{`\ud83d`}},
		{"a low half alone", `{"a":"\ude00"}`, []string{`\ude00`}},
		{"a high half before another high", `{"a":"\ud83d\ud83d\ude00"}`, []string{`\ud83d`}},
		{"upper-case hex", `{"a":"\uDC00"}`, []string{`\uDC00`}},
		{"an escaped backslash before u", `{"a":"\\ud800"}`, nil},
		{"an escaped backslash, then an escape", `{"a":"\\\ud800"}`, []string{`\ud800`}},
		{"a high half at the very end", `"\ud800`, []string{`\ud800`}},
		{"not hex", `{"a":"\uzzzz"}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, loneSurrogates([]byte(tc.in)))
		})
	}
}

func TestParseErrorText(t *testing.T) {
	chain := "cannot parse JSON: " + strings.Repeat("cannot parse array: cannot parse array value: ", 300) +
		`too big depth for the nested JSON; it exceeds 300; unparsed tail: "[[[["`
	require.Equal(t, `too big depth for the nested JSON; it exceeds 300; unparsed tail: "[[[["`, ParseErrorText(errors.New(chain)))
	long := ParseErrorText(errors.New("cannot parse JSON: " + strings.Repeat("é", 400)))
	require.LessOrEqual(t, len(long), maxParseError+len("…"))
	require.True(t, strings.HasSuffix(long, "…"))
	require.Equal(t, "cannot parse JSON", ParseErrorText(errors.New("cannot parse JSON")))
}

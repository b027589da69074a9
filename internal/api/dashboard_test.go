package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMessageTables: every language's message table has every key of the
// English one and no other, none empty, and every key the page and its
// script use is in them (the keys built from a prefix are listed here with
// the values the page gives them).
func TestMessageTables(t *testing.T) {
	read := func(name string) string {
		b, err := dashboardFiles.ReadFile("dashboard/" + name)
		require.NoError(t, err)
		return string(b)
	}
	tables := map[string]map[string]string{}
	for _, lang := range []string{"en", "fa", "ro", "zh"} {
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(read("i18n/"+lang+".json")), &m), lang)
		tables[lang] = m
	}
	keys := func(m map[string]string) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for lang, m := range tables {
		require.Equal(t, keys(tables["en"]), keys(m), "the keys of %s", lang)
		for k, v := range m {
			require.NotEmpty(t, strings.TrimSpace(v), "%s: %s is empty", lang, k)
		}
	}
	html, js := read("index.html"), read("dashboard.js")
	var used []string
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`data-i18n(?:-title)?="([a-z0-9_]+)"`), regexp.MustCompile(`\bt\("([a-z0-9_]+)"`)} {
		for _, src := range []string{html, js} {
			for _, m := range re.FindAllStringSubmatch(src, -1) {
				if !strings.HasSuffix(m[1], "_") { // a prefix: below
					used = append(used, m[1])
				}
			}
		}
	}
	require.Greater(t, len(used), 60, "the page uses its messages")
	for prefix, values := range map[string][]string{
		"metric_": {"nps", "detractor_share", "csat", "ces", "purchases"},
		"period_": {"today", "wtd", "mtd", "qtd", "ytd", "yesterday", "last_week", "last_month", "last_quarter", "last_year"},
		"row_":    {"nps", "detractor_share", "csat", "ces", "nps_responses", "purchases", "revenue", "atv"},
		"sev_":    {"critical", "warning"},
		"panel_":  {"tenants", "scores", "trend", "leaderboard", "periods", "themes", "alerts", "live"},
	} {
		require.Contains(t, js, `t("`+prefix+`" +`, "the script builds %s keys", prefix)
		for _, v := range values {
			used = append(used, prefix+v)
		}
	}
	for _, k := range used {
		for lang, m := range tables {
			require.Contains(t, m, k, "%s lacks %s", lang, k)
		}
	}
}

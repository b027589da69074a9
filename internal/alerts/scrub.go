package alerts

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// mentionsSep starts the part of an alert's summary that names its top
// terms.
const mentionsSep = "; detractors mention "

// Mentions is the end of an alert's summary that names the first three
// top terms ("" for none).
func Mentions(terms []Term) string {
	names := make([]string, 0, 3)
	for _, t := range terms[:min(3, len(terms))] {
		names = append(names, t.Term)
	}
	if len(names) == 0 {
		return ""
	}
	return mentionsSep + strings.Join(names, ", ")
}

// Scrub removes from an alert's annotations what an erased customer left
// in them: their comments, known by their terms (a comment whose Terms
// are one of comments), and their words (from top_terms and the
// summary's mentions). It reports whether anything changed.
func Scrub(ann map[string]string, comments [][]string, words []string) (bool, error) {
	changed := false
	for k, v := range ann {
		if !strings.HasPrefix(k, "comment_") {
			continue
		}
		terms := Terms(v)
		if slices.ContainsFunc(comments, func(c []string) bool { return slices.Equal(c, terms) }) {
			delete(ann, k)
			changed = true
		}
	}
	raw, ok := ann["top_terms"]
	if !ok || len(words) == 0 {
		return changed, nil
	}
	var terms []Term
	if err := json.Unmarshal([]byte(raw), &terms); err != nil {
		return false, fmt.Errorf("top_terms annotation %q: %w", raw, err)
	}
	kept := slices.DeleteFunc(slices.Clone(terms), func(t Term) bool { return slices.Contains(words, t.Term) })
	if len(kept) == len(terms) {
		return changed, nil
	}
	if len(kept) == 0 {
		delete(ann, "top_terms")
	} else {
		b, err := json.Marshal(kept)
		if err != nil {
			return false, fmt.Errorf("encoding top terms: %w", err)
		}
		ann["top_terms"] = string(b)
	}
	if s, ok := ann["summary"]; ok {
		if i := strings.Index(s, mentionsSep); i >= 0 {
			ann["summary"] = s[:i] + Mentions(kept)
		}
	}
	return true, nil
}

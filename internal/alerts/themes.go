package alerts

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxTermsPerComment bounds what one comment contributes.
const maxTermsPerComment = 40

// Terms splits a comment into the terms themes are counted over: Unicode
// words (letters, marks and digits) in lower case for alphabetic scripts;
// Chinese, not written with spaces, cut into words by a dictionary
// (hanWords, its stop words left out); and overlapping character bigrams
// for Japanese and Korean runs. Words of one letter and bare
// numbers are dropped, and so are stop words (withoutStopWords); each
// term counts once per comment. The comment is
// folded first (fold), so that one word has one spelling, and a
// zero-width non-joiner inside a word (Persian نمی‌خواهم) keeps it whole.
func Terms(comment string) []string {
	var all []string
	add := func(t string) { all = append(all, t) }
	var word, cjk []rune
	flushWord := func() {
		for len(word) > 0 && (word[len(word)-1] == zwnj || word[len(word)-1] == '\'') {
			word = word[:len(word)-1]
		}
		// An English possessive is its word: "driver's" counts as "driver".
		if n := len(word); n > 2 && word[n-2] == '\'' && (word[n-1] == 's' || word[n-1] == 'S') {
			word = word[:n-2]
		}
		if len(word) > 1 && slices.ContainsFunc(word, unicode.IsLetter) {
			add(strings.ToLower(string(word)))
		}
		word = word[:0]
	}
	flushCJK := func() {
		if len(cjk) == 0 {
			return
		}
		// Chinese is cut into words; Japanese and Korean runs (any kana or
		// hangul in them) into overlapping bigrams.
		if !slices.ContainsFunc(cjk, isKanaOrHangul) {
			if words, ok := hanWords(string(cjk)); ok {
				all = append(all, words...)
				cjk = cjk[:0]
				return
			}
		}
		switch {
		case len(cjk) == 1:
			add(string(cjk))
		default:
			for i := 0; i+1 < len(cjk); i++ {
				add(string(cjk[i : i+2]))
			}
		}
		cjk = cjk[:0]
	}
	for _, r := range fold(comment) {
		switch {
		case dropped(r):
		case isCJK(r):
			flushWord()
			cjk = append(cjk, r)
		case unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r):
			flushCJK()
			word = append(word, r)
		case (r == zwnj || r == '\'') && len(word) > 0:
			// A ZWNJ joins a Persian word's parts; an apostrophe an
			// English contraction's (don't, isn't: stop words whole).
			word = append(word, r)
		default:
			flushWord()
			flushCJK()
		}
	}
	flushWord()
	flushCJK()
	return firstOnce(withoutStopWords(all), maxTermsPerComment)
}

// firstOnce keeps the first occurrence of each term, at most limit.
func firstOnce(terms []string, limit int) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range terms {
		if !seen[t] && len(out) < limit {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// zwnj is the zero-width non-joiner, part of Persian words.
const zwnj = '\u200c'

// folds gives each letter written several ways one spelling: the Arabic
// yeh, alef maksura, kaf and heh forms a Persian text mixes with the
// Persian ones (ی U+06CC, ک U+06A9, ه U+0647), and Romanian s and t with
// cedilla, written for the comma-below letters (ș U+0219, ț U+021B).
var folds = strings.NewReplacer(
	"\u064a", "\u06cc", "\u0649", "\u06cc", // ي ى → ی
	"\u0643", "\u06a9", // ك → ک
	"\u06c0", "\u0647", "\u06d5", "\u0647", "\u06c1", "\u0647", "\u0629", "\u0647", // ۀ ە ہ ة → ه
	"\u2019", "'", // ’ → '
	"\u015f", "\u0219", "\u015e", "\u0218", "\u0163", "\u021b", "\u0162", "\u021a", // ş Ş ţ Ţ → ș Ș ț Ț
)

// fold normalises a comment for counting: compatibility forms to their
// letters (NFKC: Arabic presentation forms, full-width Latin), then folds.
func fold(s string) string { return folds.Replace(norm.NFKC.String(s)) }

// dropped reports whether a rune is left out of words altogether: Arabic
// vowel marks and the tatweel, which change how a word is written, not
// which word it is.
func dropped(r rune) bool {
	return (r >= 0x064b && r <= 0x065f) || r == 0x0670 || r == 0x0640
}

func isKanaOrHangul(r rune) bool {
	return unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// Term is a term that drives a spike.
type Term struct {
	Term  string  `json:"term"`
	Z     float64 `json:"z"`
	Count int64   `json:"count"`
}

// ThemePrior is α0 of the informative Dirichlet prior (docs/alerts.md).
const ThemePrior = 500

// TopTerms ranks the terms of the spike's comments against the baseline's
// by the weighted log-odds ratio with an informative Dirichlet prior
// (Monroe, Colaresi and Quinn 2008): α_w = α0·f_w, f_w the term's share of
// the tenant-wide counts, and
//
//	δ_w = ln((y_w + α_w) / (n + α0 − y_w − α_w)) − ln((b_w + α_w) / (m + α0 − b_w − α_w))
//	z_w = δ_w / √(1/(y_w + α_w) + 1/(b_w + α_w))
//
// with y, n the spike's counts and total, b, m the baseline's. Terms with
// z > 1.96 and at least 3 spike occurrences are returned, highest z first,
// at most limit.
func TopTerms(spike, baseline, tenant map[string]int64, limit int) []Term {
	var n, m, total float64
	for _, c := range spike {
		n += float64(c)
	}
	for _, c := range baseline {
		m += float64(c)
	}
	for _, c := range tenant {
		total += float64(c)
	}
	var out []Term
	for w, y := range spike {
		if y < 3 {
			continue
		}
		// A term the tenant-wide counts have not seen yet gets the weight
		// of one occurrence.
		f := max(float64(tenant[w]), 1) / max(total, 1)
		a := ThemePrior * f
		b := float64(baseline[w])
		yf := float64(y)
		delta := math.Log((yf+a)/(n+ThemePrior-yf-a)) - math.Log((b+a)/(m+ThemePrior-b-a))
		z := delta / math.Sqrt(1/(yf+a)+1/(b+a))
		if z > 1.96 {
			out = append(out, Term{Term: w, Z: math.Round(z*100) / 100, Count: y})
		}
	}
	slices.SortFunc(out, func(x, y Term) int {
		if c := cmp.Compare(y.Z, x.Z); c != 0 {
			return c
		}
		return cmp.Compare(x.Term, y.Term)
	})
	return out[:min(limit, len(out))]
}

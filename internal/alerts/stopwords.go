package alerts

import (
	"embed"
	"strings"
	"sync"
	"unicode"
)

// The stop-word lists are Lucene's, as bleve (github.com/blevesearch/bleve
// v2.6.3, analysis/lang/<language>) ships them, copied verbatim with their
// license notes: English, German, French and Spanish are the Snowball
// lists (the, is, my, after, not…), Persian and Romanian are Jacques
// Savoy's (docs/alerts.md). bleve's packages are not imported: their
// registry would add 16 MB to every binary for a few word lists.
//
//go:embed stopwords/*.txt
var stopFiles embed.FS

// latinLists are the languages in Latin script with a list, in the order
// a tie between their counts goes.
var latinLists = []string{"en", "ro", "de", "fr", "es"}

var stopLists struct {
	once  sync.Once
	latin []map[string]bool // as latinLists
	fa    map[string]bool
}

// stopWords returns the lists, each entry folded as comments are, so the
// Persian list, written with the Arabic yeh and kaf, matches either
// spelling, and the Romanian one matches ș and ş alike.
func stopWords() (latin []map[string]bool, persian map[string]bool) {
	s := &stopLists
	s.once.Do(func() {
		for _, l := range latinLists {
			s.latin = append(s.latin, foldedList(l))
		}
		s.fa = foldedList("fa")
	})
	return s.latin, s.fa
}

// foldedList reads a stop-word list in Lucene's format (words separated by
// white space, comments after # or |) into folded lower-case words.
func foldedList(lang string) map[string]bool {
	data, err := stopFiles.ReadFile("stopwords/" + lang + ".txt")
	if err != nil {
		panic("stop words of " + lang + " missing from the build: " + err.Error())
	}
	out := map[string]bool{}
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexAny(line, "#|"); i >= 0 {
			line = line[:i]
		}
		for _, w := range strings.Fields(line) {
			out[strings.ToLower(strings.Map(func(r rune) rune {
				if dropped(r) {
					return -1
				}
				return r
			}, fold(w)))] = true
		}
	}
	return out
}

// withoutStopWords drops the function words of a comment's words. Words
// in Arabic script are looked up in the Persian list; words in Latin
// script in the list of the Latin-script language whose stop words the
// comment holds most of (English on a tie or none), so "care" is a word in
// "customer care" and a function word in "produsul care a venit". Words of
// other scripts pass through.
func withoutStopWords(words []string) []string {
	latinSets, faWords := stopWords()
	latin, best := latinSets[0], 0
	for _, set := range latinSets {
		hits := 0
		for _, w := range words {
			if set[w] {
				hits++
			}
		}
		if hits > best {
			latin, best = set, hits
		}
	}
	out := words[:0]
	for _, w := range words {
		switch r := firstLetter(w); {
		case unicode.Is(unicode.Arabic, r) && faWords[w]:
		case unicode.Is(unicode.Latin, r) && latin[w]:
		default:
			out = append(out, w)
		}
	}
	return out
}

func firstLetter(w string) rune {
	for _, r := range w {
		if unicode.IsLetter(r) {
			return r
		}
	}
	return 0
}

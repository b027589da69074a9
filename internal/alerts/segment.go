package alerts

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/go-ego/gse"
)

// hanSegmenter cuts runs of Chinese characters into words with gse's
// simplified-Chinese dictionary and drops gse's Chinese stop words (的, 了,
// 是…). The dictionary is loaded once per process, on the first Chinese
// comment: about a second and 130 MB (docs/alerts.md).
var hanSegmenter hanSeg

type hanSeg struct {
	once sync.Once
	seg  gse.Segmenter
	err  error
}

// hanWords returns the words of a run of Han characters, stop words left
// out, and false when the dictionary could not be loaded.
func hanWords(run string) ([]string, bool) {
	h := &hanSegmenter
	h.once.Do(func() {
		h.seg.SkipLog = true
		if h.err = h.seg.LoadDictEmbed("zh_s"); h.err == nil {
			h.err = h.seg.LoadStopEmbed()
		}
	})
	if h.err != nil {
		return nil, false
	}
	var out []string
	for _, w := range h.seg.Cut(run, true) {
		if w = strings.TrimSpace(w); w != "" && !h.seg.IsStop(w) && strings.IndexFunc(w, unicode.IsLetter) >= 0 && h.content(w) {
			out = append(out, w)
		}
	}
	return out, true
}

// content reports whether a word can carry a theme. A word gse's
// dictionary tags as a function word is left out: a numeral (一个), measure
// word, pronoun, preposition, conjunction, particle, locative (里) or
// modal particle. A single character must moreover be tagged a noun, verb
// or adjective (慢 slow, 贵 expensive, 人 person).
func (h *hanSeg) content(w string) bool {
	_, pos, ok := h.seg.Find(w)
	if ok && pos != "" && strings.ContainsRune("mqrpcufyez", rune(pos[0])) {
		return false
	}
	if utf8.RuneCountInString(w) > 1 {
		return true
	}
	return ok && pos != "" && strings.ContainsRune("nva", rune(pos[0]))
}

package alerts

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTerms(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"The refund was LATE, very late!!", []string{"refund", "late"}},
		{"Rückerstattung kam zu spät", []string{"rückerstattung", "kam", "spät"}},
		{"remboursement très lent", []string{"remboursement", "très", "lent"}},
		{"Возврат денег задерживается", []string{"возврат", "денег", "задерживается"}},
		{"تأخر استرداد المبلغ", []string{"تأخر", "استرداد", "المبلغ"}},
		{"返金が遅い", []string{"返金", "金が", "が遅", "遅い"}},
		{"退款太慢", []string{"退款", "太慢"}},
		{"refund 退款 慢", []string{"refund", "退款", "慢"}},
		{"order 12345 a b 3d", []string{"order", "3d"}},
		{"", nil},
	} {
		require.Equal(t, c.want, Terms(c.in), c.in)
	}
}

// TestTopTermsByHand: the z values below were worked out with a calculator
// from the formula in TopTerms' comment (n 55, m 515, tenant total 5660;
// α_refund = 500·60/5660 = 5.3004, α_late 8.8339, α_the 44.1696).
func TestTopTermsByHand(t *testing.T) {
	spike := map[string]int64{"refund": 30, "late": 12, "bad": 10, "the": 3}
	baseline := map[string]int64{"bad": 200, "slow": 300, "refund": 5, "late": 10}
	tenant := map[string]int64{"bad": 2000, "slow": 3000, "refund": 60, "late": 100, "the": 500}
	got := TopTerms(spike, baseline, tenant, 10)
	require.Equal(t, []Term{{"refund", 5.34, 30}, {"the", 3.41, 3}, {"late", 2.28, 12}}, got)
	require.Len(t, TopTerms(spike, baseline, tenant, 1), 1)
	// Fewer than 3 occurrences never make a term, whatever its z.
	require.Empty(t, TopTerms(map[string]int64{"refund": 2}, baseline, tenant, 10))
}

// TestTermsFoldSpellings: one word has one term however it is typed:
// Persian with the Arabic yeh and kaf (كيفيت) or the Persian ones (کیفیت),
// with vowel marks or a tatweel; Romanian with s and t with cedilla or
// comma below; compatibility forms (an Arabic presentation form, full-width
// Latin). A zero-width non-joiner inside a word keeps it one term.
func TestTermsFoldSpellings(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []string
		want []string
	}{
		{"Persian yeh and kaf", []string{"كيفيت بد", "کیفیت بد"}, []string{"کیفیت", "بد"}},
		{"Persian heh, vowel marks and tatweel", []string{"خانۀ کِتاب", "خانه کتاب", "خانـه کتـاب"}, []string{"خانه", "کتاب"}},
		{"a Persian verb joined by ZWNJ", []string{"نمی\u200cخواهم برگردم", "نمی\u200cخواهم\u200c برگردم"}, []string{"نمی\u200cخواهم", "برگردم"}},
		{"Romanian cedilla and comma below", []string{"aşteptare ţeapă", "așteptare țeapă", "AŞTEPTARE ŢEAPĂ"}, []string{"așteptare", "țeapă"}},
		{"compatibility forms", []string{"ﻙﺎﺭ ｒｅｆｕｎｄ", "کار refund"}, []string{"کار", "refund"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, in := range c.in {
				require.Equal(t, c.want, Terms(in), "%q", in)
			}
		})
	}
}

// TestTermsChineseWords: Chinese is cut into words, not overlapping
// character pairs, and its function words are left out: no "的是" or "了热"
// can be a theme.
func TestTermsChineseWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"退款太慢了，客服态度很差", []string{"退款", "太慢", "客服", "态度", "很差"}},
		{"的是了热", []string{"热"}},
		{"配送延迟，退款也延迟", []string{"配送", "延迟", "退款"}},
		{"送货速度很快 fast", []string{"送货", "速度", "很快", "fast"}},
		{"应用里结账总是失败", []string{"应用", "结账", "失败"}}, // 里 (a locative) and 总是 are no themes
		{"太慢，太贵", []string{"太慢", "太贵"}},
		{"产品用了一个星期就坏了", []string{"产品", "星期", "坏"}},  // 一个, a numeral, is no theme
		{"返金が遅い", []string{"返金", "金が", "が遅", "遅い"}}, // Japanese: still bigrams
	} {
		require.Equal(t, c.want, Terms(c.in), c.in)
	}
}

// TestTermsStopWords: the function words of each language's list are left
// out, in either spelling of a letter: English (contractions whole, a
// possessive is its word), Persian (Arabic or Persian yeh and kaf),
// Romanian (cedilla or comma below), German, French. A Latin comment is
// read in the language whose stop words it holds most of (English on a
// tie), so "care" stays a word in English.
func TestTermsStopWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"It is not my fault, I don't know why the driver's refund is late after all", []string{"fault", "know", "driver", "refund", "late"}},
		{"I didn’t get it, isn't it", []string{"get"}},
		{"customer care was rude", []string{"customer", "care", "rude"}},
		{"این کالا را که خریدم از همه بدتر بود", []string{"کالا", "خریدم", "بدتر"}},
		{"اين كالا را كه خريدم از همه بدتر بود", []string{"کالا", "خریدم", "بدتر"}},
		{"produsul care a venit este stricat şi nu funcţionează", []string{"produsul", "venit", "stricat", "funcționează"}},
		{"produsul care a venit este stricat și nu funcționează", []string{"produsul", "venit", "stricat", "funcționează"}},
		{"Rückerstattung kommt nicht, refund seit Wochen überfällig", []string{"rückerstattung", "kommt", "refund", "seit", "wochen", "überfällig"}},
		{"Remboursement en retard, refund toujours pas reçu", []string{"remboursement", "retard", "refund", "toujours", "reçu"}},
		{"Reembolso tarde, refund never arrived", []string{"reembolso", "tarde", "refund", "never", "arrived"}},
	} {
		require.Equal(t, c.want, Terms(c.in), c.in)
	}
}

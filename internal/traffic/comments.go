package traffic

// voice is what the customers of a store write: praise from promoters,
// complaints from detractors, and, at the spike store while it spikes,
// complaints about a late refund.
type voice struct {
	praise, complaints, refundSpike []string
}

// voices are the stores' languages, store i speaking voices[i mod 4]:
// English mixed with German, French, Japanese and Spanish; Persian, typed
// with the Persian and the Arabic yeh and kaf and with verbs joined by a
// zero-width non-joiner; Romanian, with ș ț and with the cedilla ş ţ; and
// Chinese. The spike store (s05) speaks the first.
var voices = []*voice{
	{
		praise: []string{
			"Fast delivery and friendly staff",
			"Super Beratung, komme gerne wieder",
			"Livraison rapide, très satisfait",
			"スタッフがとても親切でした",
			"Muy buena atención en tienda",
			"Great app, checkout was easy",
		},
		complaints: []string{
			"Delivery was late and nobody answered",
			"Checkout kept failing in the app",
			"Lieferung kam zu spät",
			"The product broke after a week",
			"Long queue at the till",
		},
		refundSpike: []string{
			"Still waiting for my refund, three weeks late",
			"Refund is late again, support does not answer",
			"Rückerstattung kommt nicht, refund seit Wochen überfällig",
			"Remboursement en retard, refund toujours pas reçu",
			"返金が遅い refund late",
			"Reembolso tarde, refund never arrived",
		},
	},
	{
		praise: []string{
			"ارسال سریع بود و کارکنان مؤدب بودند",
			"از خریدم راضی هستم، حتماً دوباره می‌آیم",
			"كيفيت كالا عالي بود",
			"کیفیت کالا عالی بود",
			"پشتیبانی خیلی خوب جواب داد",
		},
		complaints: []string{
			"ارسال خیلی دیر شد و کسی جواب نداد",
			"پرداخت در برنامه خطا می‌دهد",
			"صف صندوق خیلی طولانی بود",
			"كالا بعد از يك هفته خراب شد",
			"کالا بعد از یک هفته خراب شد",
			"دیگر نمی‌خواهم از این فروشگاه خرید کنم",
		},
		refundSpike: []string{
			"هنوز منتظر بازپرداخت هستم، سه هفته گذشته",
			"بازپرداخت پولم دیر شده و پشتیبانی جواب نمی‌دهد",
			"بازپرداخت انجام نشد، نمي‌خواهم دوباره خريد كنم",
		},
	},
	{
		praise: []string{
			"Livrare rapidă şi personal amabil",
			"Livrare rapidă și personal amabil",
			"Aplicația funcționează foarte bine",
			"Sunt mulțumit de comandă",
		},
		complaints: []string{
			"Livrarea a întârziat şi nimeni nu a răspuns",
			"Livrarea a întârziat și nimeni nu a răspuns",
			"Plata în aplicaţie nu funcţionează",
			"Coada la casă este foarte lungă",
			"Produsul s-a stricat după o săptămână",
		},
		refundSpike: []string{
			"Încă aştept rambursarea, de trei săptămâni",
			"Rambursarea întârzie din nou, suportul nu răspunde",
			"Rambursarea nu a venit, sunt foarte nemulțumit",
		},
	},
	{
		praise: []string{
			"送货很快，店员很热情",
			"应用很好用，结账很方便",
			"质量很好，下次还会再来",
		},
		complaints: []string{
			"送货太慢了，也没有人回复",
			"应用里结账总是失败",
			"排队时间太长了",
			"产品用了一个星期就坏了",
		},
		refundSpike: []string{
			"退款还没到账，已经等了三个星期",
			"退款又延迟了，客服不回复",
			"退款太慢了，非常失望",
		},
	},
}

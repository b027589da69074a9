// Languages of the dashboard: English, Persian (right to left, Persian
// digits, dates in the Solar Hijri calendar), Romanian and Chinese
// (Simplified). Every string comes from one message table per language
// (i18n/<lang>.json); numbers and dates go through Intl. The language is
// ?lang=, else the browser's first one we have, else English.
"use strict";

const I18N = (() => {
  const languages = ["en", "fa", "ro", "zh"];
  const locales = { en: "en", fa: "fa-IR", ro: "ro-RO", zh: "zh-CN" };
  const asked = new URLSearchParams(location.search).get("lang");
  const browser = (navigator.languages || [navigator.language || "en"]).map((l) => l.toLowerCase().slice(0, 2));
  const lang = languages.includes(asked) ? asked : browser.find((l) => languages.includes(l)) || "en";
  let messages = {};

  // t returns the message key in the chosen language, with {name}
  // replaced by vars.name; a missing key shows as itself.
  function t(key, vars = {}) {
    const text = messages[key] === undefined ? key : messages[key];
    return text.replace(/\{(\w+)\}/g, (m, name) => (vars[name] === undefined ? m : String(vars[name])));
  }

  // number writes v with digits decimals in the language's digits.
  function number(v, digits = 1) {
    if (v === undefined || v === null || Number.isNaN(v)) return "–";
    return new Intl.NumberFormat(locales[lang], { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
  }

  // dateTime writes an instant in the language's calendar (Solar Hijri in
  // Persian), in timeZone when given.
  function dateTime(d, timeZone, style = { dateStyle: "medium", timeStyle: "short" }) {
    const opts = Object.assign({}, style);
    if (timeZone) opts.timeZone = timeZone;
    const loc = lang === "fa" ? "fa-IR-u-ca-persian" : locales[lang];
    return new Intl.DateTimeFormat(loc, opts).format(d);
  }

  // windowName writes a window's name ("24h", "7d", "90m") as a length
  // in the language, in its digits ("24 hours", "۲۴ ساعت", "24 de ore",
  // "24小时"); a name it cannot read is shown as it is.
  function windowName(name) {
    const m = /^(\d+)([mhdw])$/.exec(name || "");
    if (!m) return name || "";
    const unit = { m: "minute", h: "hour", d: "day", w: "week" }[m[2]];
    return new Intl.NumberFormat(locales[lang], { style: "unit", unit, unitDisplay: "long" }).format(Number(m[1]));
  }

  // apply translates the page's marked elements and sets its direction.
  function apply(root = document) {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === "fa" ? "rtl" : "ltr";
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  }

  function load() {
    return fetch(`assets/i18n/${lang}.json`).then((r) => {
      if (!r.ok) throw new Error(`assets/i18n/${lang}.json answered ${r.status}`);
      return r.json();
    }).then((m) => { messages = m; apply(); });
  }

  return { lang, languages, t, number, dateTime, windowName, apply, load };
})();

// Persian names of the periods of a tenant on the Persian calendar, whatever
// the language: months, seasons and Persian digits.
const PersianPeriods = (() => {
  const months = ["فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور", "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند"];
  const digits = (s) => String(s).replace(/\d/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[d]);
  // name turns a canonical period name (month:1405-09) into Persian.
  function name(p) {
    const [kind, spec] = p.split(":");
    const parts = spec.split("-");
    const year = digits(parts[0]);
    switch (kind) {
      case "day": return `${digits(Number(parts[2]))} ${months[Number(parts[1]) - 1]} ${year}`;
      case "week": return `هفتهٔ ${digits(Number(parts[2]))} ${months[Number(parts[1]) - 1]} ${year}`;
      case "month": return `${months[Number(parts[1]) - 1]} ${year}`;
      case "quarter": return `فصل ${digits(parts[1].slice(1))} ${year}`;
      default: return `سال ${year}`;
    }
  }
  // aliases are the period picker's names in Persian.
  const aliases = {
    today: "امروز", wtd: "هفته تا امروز", mtd: "ماه تا امروز", qtd: "فصل تا امروز", ytd: "سال تا امروز",
    yesterday: "دیروز", last_week: "هفتهٔ گذشته", last_month: "ماه گذشته", last_quarter: "فصل گذشته", last_year: "سال گذشته",
  };
  return { name, aliases, digits };
})();

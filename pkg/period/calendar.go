package period

import (
	"fmt"
	"time"
)

// Calendar is how a tenant numbers its years, months and days.
type Calendar uint8

const (
	// Gregorian is the civil calendar of ISO 8601.
	Gregorian Calendar = iota
	// Persian is the Solar Hijri calendar (Iran's civil calendar): months
	// of 31 days six times, 30 days five times, then 29 or 30; the year
	// begins on 1 Farvardin, at the March equinox as the jalaali
	// arithmetic (Borkowski's 33-year cycles with their break years) gives
	// it.
	Persian
)

// ParseCalendar reads "gregorian" or "persian".
func ParseCalendar(s string) (Calendar, error) {
	switch s {
	case "gregorian":
		return Gregorian, nil
	case "persian":
		return Persian, nil
	}
	return 0, fmt.Errorf("%q is not gregorian or persian", s)
}

func (c Calendar) String() string {
	if c == Persian {
		return "persian"
	}
	return "gregorian"
}

// Date is a day as a calendar writes it.
type Date struct{ Year, Month, Day int }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// A day number counts local dates from 1970-01-01 (day 0) of the
// Gregorian calendar, whatever the tenant's calendar: it is how period
// buckets are numbered.

// civilDay is the day number of a Gregorian date (out-of-range months and
// days are normalised, as time.Date does).
func civilDay(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// civilDate is the Gregorian date of day number n.
func civilDate(n int64) (int, time.Month, int) {
	return time.Unix(n*86400, 0).UTC().Date()
}

// Weekday is the day of the week of day number n.
func Weekday(n int64) time.Weekday {
	return time.Weekday(mod(n+4, 7)) // 1970-01-01 was a Thursday
}

// DayNumber is the day number of date d of calendar c.
func (c Calendar) DayNumber(d Date) int64 {
	if c == Persian {
		gy, march := persianNewYear(d.Year)
		m := int64(d.Month - 1)
		off := m * 31
		if d.Month > 7 {
			off = 6*31 + (m-6)*30
		}
		return civilDay(gy, time.March, march) + off + int64(d.Day-1)
	}
	return civilDay(d.Year, time.Month(d.Month), d.Day)
}

// Date is the date of day number n in calendar c.
func (c Calendar) Date(n int64) Date {
	gy, gm, gd := civilDate(n)
	if c != Persian {
		return Date{gy, int(gm), gd}
	}
	jy := gy - 621
	_, march := persianNewYear(jy)
	k := n - civilDay(gy, time.March, march) // days since 1 Farvardin of jy
	if k < 0 {
		jy--
		_, march = persianNewYear(jy)
		k = n - civilDay(gy-1, time.March, march)
	}
	if k < 6*31 {
		return Date{jy, int(k/31) + 1, int(k%31) + 1}
	}
	k -= 6 * 31
	return Date{jy, int(k/30) + 7, int(k%30) + 1}
}

// MonthDays is the number of days of a month of calendar c.
func (c Calendar) MonthDays(year, month int) int {
	switch {
	case c != Persian:
		return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	case month <= 6:
		return 31
	case month <= 11:
		return 30
	}
	return int(c.DayNumber(Date{year + 1, 1, 1}) - c.DayNumber(Date{year, 12, 1}))
}

// persianBreaks are the break years of the jalaali algorithm, where the
// 33-year cycle of leap years is interrupted.
var persianBreaks = []int{-61, 9, 38, 199, 426, 686, 756, 818, 1111, 1181, 1210, 1635, 2060, 2097, 2192, 2262, 2324, 2394, 2456, 3178}

// persianNewYear returns the Gregorian year in which Persian year jy
// begins and the day of March of its 1 Farvardin. Years outside the
// algorithm's table (before −61 or from 3178) are clamped to its edge;
// cxpulse never meets them.
func persianNewYear(jy int) (gy, march int) {
	jy = max(persianBreaks[0], min(jy, persianBreaks[len(persianBreaks)-1]-1))
	gy = jy + 621
	leapJ := -14
	jp := persianBreaks[0]
	for _, jm := range persianBreaks[1:] {
		if jy < jm {
			break
		}
		jump := jm - jp
		leapJ += jump/33*8 + imod(jump, 33)/4
		jp = jm
	}
	n := jy - jp
	// Leap years from AD 621 to the start of jy, in the Persian calendar
	// and in the Gregorian one.
	leapJ += n/33*8 + (imod(n, 33)+3)/4
	if jump := nextBreak(jy) - jp; imod(jump, 33) == 4 && jump-n == 4 {
		leapJ++
	}
	leapG := gy/4 - (gy/100+1)*3/4 - 150
	return gy, 20 + leapJ - leapG
}

// nextBreak is the first break year after jy.
func nextBreak(jy int) int {
	for _, b := range persianBreaks {
		if jy < b {
			return b
		}
	}
	return persianBreaks[len(persianBreaks)-1]
}

func imod(a, b int) int { return int(mod(int64(a), int64(b))) }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

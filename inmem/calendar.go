package inmem

import "github.com/keygate/keygate"

// windowEnd returns the end, in unix seconds, of the UTC calendar window of
// period p that holds the instant sec (unix seconds). Unix time has no leap
// seconds, so minutes, hours and days are plain division; a month is found
// from the civil date, without time.Date, so that a decision stays a few
// nanoseconds of integer arithmetic. It agrees with keygate.Period.Window
// (tested for every day of several centuries).
func windowEnd(p keygate.Period, sec int64) int64 {
	switch p {
	case keygate.Minute:
		return (floorDiv(sec, 60) + 1) * 60
	case keygate.Hour:
		return (floorDiv(sec, 3600) + 1) * 3600
	case keygate.Day:
		return (floorDiv(sec, 86400) + 1) * 86400
	case keygate.Month:
		days := floorDiv(sec, 86400)
		y, m, d := civilFromDays(days)
		first := days - (d - 1)
		return (first + daysIn(y, m)) * 86400
	}
	return sec
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// civilFromDays is Howard Hinnant's civil_from_days: the proleptic
// Gregorian year, month (1-12) and day (1-31) of the day z days after
// 1970-01-01.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1st
	mp := (5*doy + 2) / 153                                // [0, 11], March = 0
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

func daysIn(y, m int64) int64 {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

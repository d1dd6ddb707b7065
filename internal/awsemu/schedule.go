package awsemu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronSchedule is a parsed cron(minutes hours day-of-month month
// day-of-week year) rotation schedule, evaluated in UTC. It supports *, ?,
// numbers, names (JAN, MON), lists, ranges and /steps; not L, W or #.
type cronSchedule struct {
	minute, hour, dom, month, dow [60]bool
	years                         map[int]bool // nil: every year
	anyDOM, anyDOW                bool
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(expr string) (*cronSchedule, error) {
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return nil, errors.New("want rate(...) or cron(...)")
	}
	f := strings.Fields(strings.TrimSuffix(inner, ")"))
	if len(f) != 6 {
		return nil, errors.New("cron needs 6 fields")
	}
	c := &cronSchedule{anyDOM: f[2] == "?" || f[2] == "*", anyDOW: f[4] == "?" || f[4] == "*"}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errors.New("exactly one of day-of-month and day-of-week must be ?")
	}
	specs := []struct {
		field    string
		set      *[60]bool
		lo, hi   int
		names    map[string]int
		fieldFor string
	}{
		{f[0], &c.minute, 0, 59, nil, "minutes"},
		{f[1], &c.hour, 0, 23, nil, "hours"},
		{f[2], &c.dom, 1, 31, nil, "day-of-month"},
		{f[3], &c.month, 1, 12, monthNames, "month"},
		{f[4], &c.dow, 1, 7, dayNames, "day-of-week"},
	}
	for _, s := range specs {
		if err := fillCron(s.set[:], s.field, s.lo, s.hi, s.names); err != nil {
			return nil, fmt.Errorf("%s: %w", s.fieldFor, err)
		}
	}
	if f[5] != "*" && f[5] != "?" {
		var years [3000]bool
		if err := fillCron(years[:], f[5], 1970, 2199, nil); err != nil {
			return nil, fmt.Errorf("year: %w", err)
		}
		c.years = make(map[int]bool)
		for y, ok := range years {
			if ok {
				c.years[y] = true
			}
		}
	}
	return c, nil
}

func fillCron(set []bool, field string, lo, hi int, names map[string]int) error {
	num := func(s string) (int, error) {
		if n, ok := names[strings.ToUpper(s)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("bad value %q", s)
		}
		return n, nil
	}
	for part := range strings.SplitSeq(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepStr); err != nil || step < 1 {
				return fmt.Errorf("bad step %q", stepStr)
			}
		}
		from, to := lo, hi
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = num(a); err != nil {
				return err
			}
			if to, err = num(b); err != nil {
				return err
			}
		default:
			n, err := num(rng)
			if err != nil {
				return err
			}
			from = n
			if !hasStep {
				to = n
			}
		}
		if from > to {
			return fmt.Errorf("bad range %q", rng)
		}
		for i := from; i <= to; i += step {
			set[i] = true
		}
	}
	return nil
}

// next returns the first minute strictly after t that the schedule
// matches, or the zero time when none does within ten years.
func (c *cronSchedule) next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for range 366 * 10 {
		if c.matchesDay(day) {
			for h := range 24 {
				for mi := range 60 {
					at := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute)
					if c.hour[h] && c.minute[mi] && !at.Before(t) {
						return at
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	return time.Time{}
}

func (c *cronSchedule) matchesDay(d time.Time) bool {
	if c.years != nil && !c.years[d.Year()] || !c.month[int(d.Month())] {
		return false
	}
	domOK := c.anyDOM || c.dom[d.Day()]
	dowOK := c.anyDOW || c.dow[int(d.Weekday())+1]
	return domOK && dowOK
}

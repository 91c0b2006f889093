package trace

import (
	"time"
	"unicode/utf8"
)

// TimeLayout is the layout of every "t": RFC 3339 in UTC with nine
// fractional digits, so that times sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// AppendTime appends t in TimeLayout (converted to UTC).
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, TimeLayout)
	}
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, min, 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond(), 9)
	return append(dst, 'Z')
}

func appendDigits(dst []byte, v, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:width]...)
}

// ParseTime parses an RFC 3339 time; the fixed TimeLayout form takes a
// fast path.
func ParseTime(b []byte) (time.Time, error) {
	if len(b) >= 20 && len(b) <= 30 && b[4] == '-' && b[7] == '-' && b[10] == 'T' &&
		b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		year, ok1 := digits(b[0:4])
		month, ok2 := digits(b[5:7])
		day, ok3 := digits(b[8:10])
		hour, ok4 := digits(b[11:13])
		min, ok5 := digits(b[14:16])
		sec, ok6 := digits(b[17:19])
		nsec, ok7 := 0, true
		if len(b) > 20 {
			if b[19] != '.' || len(b) == 21 {
				ok7 = false
			} else {
				frac := b[20 : len(b)-1]
				nsec, ok7 = digits(frac)
				for i := len(frac); i < 9; i++ {
					nsec *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && month >= 1 && month <= 12 &&
			day >= 1 && day <= 31 && hour < 24 && min < 60 && sec < 60 {
			t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC)
			if t.Day() == day {
				return t, nil
			}
		}
	}
	return time.Parse(time.RFC3339Nano, string(b))
}

func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func validText(p []byte) bool { return utf8.Valid(p) }

package nilcheck_test

import (
	"testing"

	"github.com/rekeyhq/rekey/internal/nilcheck"
)

type stringer interface{ String() string }

type ptr struct{}

func (*ptr) String() string { return "" }

type fn func() string

func (f fn) String() string { return f() }

type val struct{}

func (val) String() string { return "" }

func TestIsNil(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    stringer
		want bool
	}{
		{"nil interface", nil, true},
		{"nil pointer", (*ptr)(nil), true},
		{"nil func", fn(nil), true},
		{"pointer", &ptr{}, false},
		{"func", fn(func() string { return "" }), false},
		{"struct value", val{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nilcheck.IsNil(tc.v); got != tc.want {
				t.Errorf("IsNil = %v, want %v", got, tc.want)
			}
		})
	}
}

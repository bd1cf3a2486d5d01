package message

import "testing"

// The reasons RabbitMQ 3.10 gave for each value (checked with pika).
func TestExpirationError(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"60000", ""}, {"0", ""}, {"+5", ""}, {"-0", ""}, {"315360000000", ""},
		{"", "no_integer"}, {"abc", "no_integer"}, {" 5", "no_integer"}, {"+", "no_integer"},
		{"1.5", `{leftover_string,".5"}`}, {"5 ", `{leftover_string," "}`}, {"-5x", `{leftover_string,"x"}`},
		{`1"`, `{leftover_string,"\""}`},
		{"-5", "{value_negative,-5}"}, {"-99999999999999999999", "{value_negative,-99999999999999999999}"},
		{"315360000001", "{value_too_large,315360000001}"},
		{"99999999999999999999", "{value_too_large,99999999999999999999}"},
	} {
		if got := ExpirationError(c.in); got != c.want {
			t.Errorf("ExpirationError(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

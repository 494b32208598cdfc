package config

// Forward configures the Fluent Forward input.
type Forward struct{}

func defaultForward() Forward { return Forward{} }

func (f *Forward) options() []option { return nil }

func (f *Forward) validate(bad func(format string, a ...any)) {}

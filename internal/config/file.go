package config

// File configures the file input (container log files).
type File struct{}

func defaultFile() File { return File{} }

func (f *File) options() []option { return nil }

func (f *File) validate(bad func(format string, a ...any)) {}

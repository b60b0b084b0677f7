package config

import "strings"

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	// Path is the key's dotted path ("sinks.odoo.url",
	// "inbox.operators[0].login"); for syntax errors it is "line N".
	Path string
	// Msg says what is wrong, in lowercase, without the path.
	Msg string
}

// Error returns "path: message".
func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem found in a configuration. Parse and Load return it
// (as a *Errors) whenever the configuration is not usable.
type Errors struct {
	Fields []FieldError
}

// Error lists the problems one per line as "key.path: message".
func (e *Errors) Error() string {
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		lines[i] = f.Error()
	}
	return strings.Join(lines, "\n")
}

// add records a problem.
func (e *Errors) add(path, msg string) {
	e.Fields = append(e.Fields, FieldError{Path: path, Msg: msg})
}

// err returns e when it holds problems, else nil.
func (e *Errors) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

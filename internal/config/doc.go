// Package config reads bridge.toml: the one place where the site owner's
// settings are decoded, checked and handed to the other packages as plain
// values.
//
// Parsing goes defaults → strict TOML decoding → secrets from the
// environment → validation. Every problem (syntax, unknown keys, wrong
// types, invalid values) is reported at once as a *Errors, one FieldError per
// problem with the key's dotted path ("visitor.max_message_bytes",
// "inbox.operators[1].login"). Secrets are of type Secret, which prints as
// "[redacted]" through fmt, encoding and log/slog; Reveal returns the value.
//
// bridge.example.toml at the repository root documents every key; a test
// checks that it parses, validates and covers every field of Config.
package config

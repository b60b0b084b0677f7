// Package canned matches, expands and renders canned responses: stored texts
// an operator inserts with :shortcut (see DESIGN §4.3).
//
// The core functions (ValidateShortcut, CheckVariables, Render, Match,
// Visible, Expand, ExpandWith) are pure: they take bridge.CannedResponse
// values and return values, with no I/O. Use records uses inside a caller's
// store transaction, and the import/export functions (ParseCSV, WriteCSV,
// ParseTOML, WriteTOML) read and write the formats the CLI offers.
//
// Shortcuts are stored lowercase and typed in any case: Expand reads ":Sorry"
// as :sorry. Texts may use the variables {{visitor.name}},
// {{visitor.email}}, {{operator.name}} and {{conversation.id}}, each with an
// optional |fallback; Validate (and so every way a response is added or
// imported) refuses any other variable and malformed braces, so that a
// visitor never receives "{{…}}" as typed.
//
// Visibility: a response with Owner "" is shared by every operator; one with
// an Owner (an Operator.Key()) is personal and visible to its owner only. For
// its owner a personal response shadows a shared one with the same shortcut.
package canned

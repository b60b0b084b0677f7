// Package canned matches, expands and renders canned responses: stored texts
// an operator inserts with :shortcut (see DESIGN §4.3).
//
// The core functions (ValidateShortcut, Render, Match, Visible, Expand) are
// pure: they take bridge.CannedResponse values and return values, with no I/O.
// Use records uses inside a caller's store transaction, and the import/export
// functions (ParseCSV, WriteCSV, ParseTOML, WriteTOML) read and write the
// formats the CLI offers.
//
// Visibility: a response with Owner "" is shared by every operator; one with
// an Owner (an Operator.Key()) is personal and visible to its owner only. For
// its owner a personal response shadows a shared one with the same shortcut.
package canned

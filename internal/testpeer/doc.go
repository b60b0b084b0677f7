// Package testpeer holds test helpers shared by the packages that test against
// real peers: a headless Chromium driven with chromedp, extra tabs, and a
// polling helper with a deadline; a Matrix homeserver (Dendrite) and an S3
// service (versitygw), each started on loopback for one test.
//
// Its API is deliberately small and stable; it is imported only from tests.
package testpeer

// Package testpeer holds test helpers shared by the packages that test against
// real peers: a headless Chromium driven with chromedp, extra tabs, and a
// polling helper with a deadline.
//
// Its API is deliberately small and stable; it is imported only from tests.
package testpeer

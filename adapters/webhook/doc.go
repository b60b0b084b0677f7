// Package webhook is a bridge.Deliverer sink that POSTs events (tickets,
// leads, and optionally public messages and conversation changes) as JSON to
// a URL of the site owner's choosing.
//
// Every request carries X-Chatbridge-Event (the type),
// X-Chatbridge-Event-Id (stable across retries: receivers de-duplicate on
// it) and X-Chatbridge-Signature: "sha256=" + the hex HMAC-SHA256 of the
// exact body with the shared secret; receivers check it with Verify.
//
// Deliveries come from the bridge outbox, so they are retried with backoff
// until the receiver answers 2xx: tickets and leads are never lost to a
// receiver that is down or misconfigured for a while. Only 410 Gone drops an
// event. Operator-only content (notes, whispers) is never sent.
package webhook

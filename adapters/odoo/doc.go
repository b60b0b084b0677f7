// Package odoo is a bridge.Deliverer sink that creates the bridge's tickets
// as helpdesk.ticket records (Odoo's Helpdesk app) and its leads as
// crm.lead records (the CRM app), through Odoo's external JSON-RPC API
// (POST <url>/jsonrpc, services "common" and "object").
//
// The sink logs in with common.authenticate(database, login, api_key) and
// caches the user id; it creates records with object.execute_kw. The
// transcript goes into the record's HTML description, escaped. The returned
// Receipt links to the record's form view, which the engine shows to the
// operator. Every failure is retried from the outbox (tickets are never
// lost); a retry first looks for a record created by an earlier attempt
// whose answer was lost, so a slow Odoo does not get duplicates.
//
// The JSON-RPC endpoint is deprecated since Odoo 19 in favour of the JSON-2
// API and scheduled for removal in Odoo 22; it works on Odoo 16 to 21.
package odoo

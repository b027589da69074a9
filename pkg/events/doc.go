// Package events defines the cxpulse event contract: the Go types of every
// event, their validation rules, a strict and a tolerant JSON decoder, the
// topic and key each event is routed to, the JSON Schema of the same rules,
// and a small Producer for Go apps.
//
// The package does not talk to Redis and keeps no state; deduplication,
// windows and tenant settings (such as the reporting currency) are left to
// the services that consume events.
package events

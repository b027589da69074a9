package events

import _ "embed"

//go:embed schemas/event.v1.json
var schemaV1 []byte

// SchemaV1 returns the JSON Schema (draft 2020-12) of the event contract.
// It states the same rules as Validate except those JSON Schema cannot
// express, which its description lists.
func SchemaV1() []byte { return append([]byte(nil), schemaV1...) }

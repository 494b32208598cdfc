// Package kibana embeds the Kibana saved objects that `shipper setup`
// imports: shipper.ndjson, in the format of Kibana 8.x's saved objects
// export (one object per line; coreMigrationVersion 8.8.0, so it imports into
// Kibana 8.9 and later, which migrates it forward).
//
// The file holds:
//
//   - data views (type index-pattern) "shipper-logs" (logs-*) and
//     "shipper-deadletter" (logs-shipper.deadletter-*), time field @timestamp;
//   - saved searches "Errors", "By service" and "Dead letters";
//   - Lens visualizations "Log volume by level", "Top services" and
//     "Error rate";
//   - the dashboard "Shipper: logs overview" built from them.
//
// Every reference points to an object of the file; the tests check it, and
// FieldsUsed lists what the objects need from the Elasticsearch mappings.
// Edit the file by exporting from Kibana (Stack Management > Saved objects >
// Export) or by hand, one JSON object per line, and keep the ids stable:
// `setup` imports with overwrite=true, so the ids are how a new version
// replaces the old one. Keep typeMigrationVersion at the version whose shape
// the object has (Kibana refuses versions newer than its own and migrates
// older ones).
package kibana

import _ "embed"

//go:embed shipper.ndjson
var savedObjects []byte

// FileName is the name the import request gives the NDJSON part.
const FileName = "shipper.ndjson"

// SavedObjects returns the NDJSON to POST to Kibana's
// /api/saved_objects/_import. The slice is shared: callers must not modify it.
func SavedObjects() []byte {
	return savedObjects
}
